"""attn explore's a key: the highlighted head knocked out, the prediction before and after in
the note (the numbers effects.ablate gives), a again restores it; one line for weights that
predict nothing. Driven through Textual's Pilot."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
from conftest import ANIMAL_TIRED
from textual.widgets import Static

from attncli.cli import sources
from attncli.cli.interactive import _knock
from attncli.effects import ablate
from attncli.explore.app import Explorer
from attncli.explore.modals import KEYS
from attncli.explore.session import Session

FIXTURES = Path(__file__).parent / "fixtures" / "models"
GPT2_LM, BERT = str(FIXTURES / "gpt2-lm"), str(FIXTURES / "bert")
TEXT = "The animal didn't cross the street because it was"


def explorer(text: str, at: tuple[int, int] | None = (1, 2), **options) -> Explorer:
    opts = sources.SourceOptions(**options)
    if opts.model is not None:
        opts = replace(opts, layer="all", head="all")

    def build(sentence: str, causal: bool, positions: str):
        return sources.build(sentence, replace(opts, causal=causal, positions=positions))

    session = Session(text, build, causal=opts.causal, positions=opts.positions,
                      can_toggle=opts.model is None, knock=_knock(opts.model, 4096),
                      no_knock="random weights have no LM head, so there is no prediction to "
                               "change (a needs --model DIR)")
    return Explorer(session, layer=at and at[0], head=at and at[1], source="x")


def press(app: Explorer, *keys: str) -> list[tuple[str, str]]:
    """Press keys, each waited for (workers too); (note, status line) after each."""
    async def go():
        seen = []
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
                seen.append((" ".join(str(app.query_one("#note", Static).render()).split()),
                             str(app.query_one("#status", Static).render())))
        return seen

    return asyncio.run(go())


def test_a_shows_the_prediction_before_and_after_as_ablate_gives_it() -> None:
    ab = ablate(TEXT, sources.load(GPT2_LM), [(1, 2)], top=1)
    clean, knocked = ab.clean.predictions[-1].top[0], ab.predictions[-1].top[0]
    change = np.log(ab.after[-1][0]) - np.log(clean.probability)
    (note, status), = press(explorer(TEXT, model=GPT2_LM), "a")
    from attncli.render.predict import token_shown

    was, now = (token_shown(c.token, True) for c in (clean, knocked))
    assert note.startswith("Layer 1, head 2 knocked out (its output before W_O set to zero). "
                           f"At “was” (position {ab.clean.predictions[-1].position}): ")
    assert (f"“{was}” {100 * clean.probability:.2f}% → “{now}” "
            f"{100 * knocked.probability:.2f}%") in note
    assert (f"log p(“{was}”) {np.log(clean.probability):.3f} → "
            f"{np.log(ab.after[-1][0]):.3f}, a change of {change:+.3f}") in note
    assert abs(change) > 1e-3  # the head changes the prediction: the numbers are not equal
    assert "1.2 knocked out" in status


def test_a_again_on_the_same_head_restores_it_and_on_another_knocks_that_one() -> None:
    ab = ablate(TEXT, sources.load(GPT2_LM), [(1, 3)], top=1)
    first, again, moved, other = press(explorer(TEXT, model=GPT2_LM), "a", "a", "right", "a")
    assert "1.2 knocked out" in first[1]
    assert again[0].startswith("Layer 1, head 2 restored: “")
    assert "knocked out" not in again[1] and "knocked out" not in moved[1]
    assert other[0].startswith("Layer 1, head 3 knocked out")
    assert f"{100 * ab.predictions[-1].top[0].probability:.2f}%" in other[0]


def test_the_model_runs_in_a_worker_not_on_the_screen_s_thread() -> None:
    app = explorer(TEXT, model=GPT2_LM)
    knock, threads = app.session.knock, []
    assert knock is not None

    def watched(text: str, head: tuple[int, int]):
        threads.append(threading.current_thread() is threading.main_thread())
        return knock(text, head)

    app.session.knock = watched
    press(app, "a")
    assert threads == [False]


def test_weights_that_predict_nothing_say_so_in_one_line() -> None:
    (note, status), = press(explorer("The animal was tired", None, weights=ANIMAL_TIRED),
                            "a")
    assert note == ("Nothing to knock out against: random weights have no LM head, so there is "
                    "no prediction to change (a needs --model DIR).")
    assert "knocked out" not in status


def test_a_model_without_an_lm_head_says_so_in_one_line() -> None:
    app = Explorer(replace(explorer(TEXT, model=BERT).session), layer=1, head=0, source="bert")
    (note, _), = press(app, "a")
    assert "no LM head" in note and "\n" not in note


def test_the_keys_list_and_the_status_line_name_a() -> None:
    assert any(key == "a" and "knock out" in does for key, does in KEYS)
    (_, status), = press(explorer(TEXT, model=GPT2_LM), "left")
    assert status.endswith("g m c p e s a")
