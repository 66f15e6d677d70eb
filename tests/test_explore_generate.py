"""attn explore --generate N: n adds the token the model picks over its cache, b takes it
back, and the lists and views follow; the note quotes the token, its probability and how far
the earlier rows moved. Driven through Textual's Pilot."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import invoke as run
from conftest import refused
from textual.widgets import OptionList, Static

from attncli.cli import sources
from attncli.cli.interactive import _generation
from attncli.explore.app import Explorer
from attncli.explore.session import Session, earlier_rows_change
from attncli.generate import generate
from attncli.models import load_model

ROOT = Path(__file__).resolve().parent.parent
PRONOUN_LM = str(ROOT / "sample_weights" / "pronoun-lm")
BERT = str(ROOT / "tests" / "fixtures" / "models" / "bert")
TEXT = "The animal didn't cross the street because it was"


def explorer(text: str = TEXT, limit: int = 3, model: str = PRONOUN_LM) -> Explorer:
    opts = sources.SourceOptions(model=model, layer="all", head="all")

    def build(sentence: str, causal: bool, positions: str):
        return sources.build(sentence, replace(opts, causal=causal, positions=positions))

    start, grown = _generation(model, 4096)
    session = Session(text, build, can_toggle=False, start=start, grown=grown, limit=limit)
    return Explorer(session, source="x")


def press(app: Explorer, *keys: str) -> list[dict]:
    """Press keys, each waited for (workers too); what the screen shows after each."""
    async def go():
        seen = []
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
                await pilot.pause()
                s = app.session
                seen.append({
                    "note": " ".join(str(app.query_one("#note", Static).render()).split()),
                    "status": str(app.query_one("#status", Static).render()),
                    "labels": [lab.strip() for lab in s.ex.labels],
                    "queries": app.query_one("#queries", OptionList).option_count,
                    "query": app.query_row, "shown": s.shown, "text": s.text})
        return seen

    return asyncio.run(go())


def test_n_adds_the_greedy_tokens_and_b_takes_them_back() -> None:
    made = generate(load_model(PRONOUN_LM), TEXT, 2)
    words = [t.text for t in made.tokens[-2:]]
    after = press(explorer(), "n", "n", "b", "b", "b", "n")
    n = len(after[0]["labels"]) - 1  # the prompt's tokens
    assert [a["shown"] for a in after] == [1, 2, 1, 0, 0, 1]
    assert [len(a["labels"]) for a in after] == [n + 1, n + 2, n + 1, n, n, n + 1]
    assert after[0]["labels"][-1] == words[0] and after[1]["labels"][-1] == words[1]
    assert after[1]["text"] == made.text
    for a in after:  # the lists follow, and the query is the newest token
        assert a["queries"] == len(a["labels"]) and a["query"] == len(a["labels"]) - 1
    assert f"Token 1: “{words[0]}” (" in after[0]["note"]
    assert "every earlier row of every head is as it was (largest change 0)" in after[0]["note"]
    assert "token 2/3" in after[1]["status"]
    assert f"“{words[1]}” taken back" in after[2]["note"]
    assert "At the prompt" in after[4]["note"]


def test_the_note_quotes_the_probability_and_the_earlier_rows_change() -> None:
    app = explorer()
    after = press(app, "n")
    made = app.session.generated[0]
    assert f"({100 * made.probability:.1f}%)" in after[0]["note"]
    s = app.session
    prompt = s.explain(TEXT)
    assert made.moved == earlier_rows_change(prompt, s.ex)
    assert made.moved < 1e-5  # float32: the earlier rows are as they were


def test_the_generation_stops_at_the_number_asked_for() -> None:
    after = press(explorer(limit=1), "n", "n")
    assert after[1]["shown"] == 1 and "1 token generated, as many as were asked for" in \
        after[1]["note"]


def test_earlier_rows_change_sees_a_moved_row() -> None:
    import numpy as np

    from attncli.attention import causal_mask
    from attncli.attention_fast import HeadSteps

    def ex(w):
        from types import SimpleNamespace

        steps = SimpleNamespace(weights=np.array(w))
        return SimpleNamespace(heads=[HeadSteps(0, 0, steps)])  # type: ignore[arg-type]

    before = ex([[1.0, 0.0], [0.5, 0.5]])
    same = ex([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    moved = ex([[0.9, 0.0, 0.1], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert causal_mask(2).any()
    assert earlier_rows_change(before, same) == 0
    assert earlier_rows_change(before, moved) == pytest.approx(0.1)


def test_generate_without_a_model_or_a_number_is_refused() -> None:
    refused(run("explore", "The animal was tired", "--generate", "3"), "--generate goes with "
            "--model")
    refused(run("explore", TEXT, "--model", PRONOUN_LM, "--generate", "0"), "at least 1")


def test_an_encoder_is_refused_before_the_screen_opens() -> None:
    from attncli.errors import AttnError

    opts = sources.SourceOptions(model=BERT, layer="all", head="all")
    start, grown = _generation(BERT, 4096)
    session = Session(TEXT, lambda text, c, p: sources.build(text, opts), can_toggle=False,
                      start=start, grown=grown, limit=3)
    with pytest.raises(AttnError, match="encoder"):
        session.begin()
