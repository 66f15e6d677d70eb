"""Why √d_k, as an experiment: explain --no-scale, and the spread of q·k against d_k.

By hand, "I love AI" with sample_weights/i-love-ai.json: I's scores are [2, 1, 3] (I, love,
AI). Divided by √4 = 2 they are [1, 0.5, 1.5] and AI gets e^1.5 / (e^1 + e^0.5 + e^1.5) =
0.5065; undivided, AI gets e^3 / (e^2 + e^1 + e^3) = 20.0855 / 30.1929 = 0.6652."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import FIXTURES, I_LOVE_AI, invoke, ok, ok_json, refused

from attncli import demo
from attncli.demo import course
from attncli.render.widgets import number
from attncli.spread import Spread, score_spread

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "attncli" / "explain.schema.json")
                    .read_text(encoding="utf-8"))
LOVE = ("I love AI", "-w", str(I_LOVE_AI))


def validate(doc: dict) -> None:
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_no_scale_gives_the_softmax_the_raw_scores_worked_by_hand() -> None:
    doc = ok_json(invoke("explain", *LOVE, "--no-scale", "--from", "I", "--to", "AI", "--json"))
    validate(doc)
    assert doc["config"]["scale_skipped"] is True
    head = doc["heads"][0]
    assert head["scores"][0] == [2, 1, 3]
    assert head["scaled"] == head["scores"]  # nothing divided
    total = math.exp(2) + math.exp(1) + math.exp(3)
    assert head["weights"][0] == pytest.approx([math.exp(2) / total, math.exp(1) / total,
                                                math.exp(3) / total], abs=1e-12)
    assert head["weights"][0][2] == pytest.approx(0.6652, abs=5e-5)
    pair = doc["pair"]
    assert (pair["divisor"], pair["divided"], pair["scaled"]) == (1, 3, 3)
    assert pair["weight"] == pytest.approx(math.exp(3) / total, abs=1e-12)


def test_without_no_scale_nothing_is_recorded_and_the_division_is_done() -> None:
    doc = ok_json(invoke("explain", *LOVE, "--from", "I", "--to", "AI", "--json"))
    assert "scale_skipped" not in doc["config"]
    assert doc["pair"]["divisor"] == 2 and doc["pair"]["scaled"] == 1.5
    assert doc["pair"]["weight"] == pytest.approx(0.5065, abs=5e-5)


def test_the_note_gives_the_largest_weights_with_and_without_the_division() -> None:
    raw = ok_json(invoke("explain", *LOVE, "--no-scale", "--json"))
    divided = ok_json(invoke("explain", *LOVE, "--json"))
    top_raw = np.mean([max(row) for row in raw["heads"][0]["weights"]])
    top_divided = np.mean([max(row) for row in divided["heads"][0]["weights"]])
    assert top_raw > top_divided  # undivided, the softmax leans harder on one key
    note = (f"Step 4 skipped the division by √d_k = √4 = 2.000. Each row's largest weight, "
            f"averaged over the rows: {top_raw:.3f} without it, {top_divided:.3f} with it.")
    assert raw["notes"] == [note]
    assert note in flat(ok(invoke("explain", *LOVE, "--no-scale", "--show", "scaled")))


def test_the_views_say_the_division_was_skipped() -> None:
    out = flat(ok(invoke("explain", *LOVE, "--no-scale", "--from", "I", "--to", "AI",
                         width=80)))
    assert "Step 4a · scaled = score (÷√d_k skipped)" in out
    assert "3.00, not divided by √4 = 2.000: the division is skipped, so the softmax sees " \
           "3.0000" in out
    assert "weight of “AI” = 20.0855 / 30.1929 = 0.6652" in out
    whole = flat(ok(invoke("explain", *LOVE, "--no-scale", "--show", "scaled")))
    assert "Step 4a · Scaled = scores (÷√d_k = ÷2.000 skipped)" in whole


def test_no_scale_is_refused_for_a_real_model() -> None:
    refused(invoke("explain", "The animal was tired", "--model", str(FIXTURES / "gpt2"),
                   "--no-scale"), "--no-scale goes with seeded or file weights")


# ---------------------------------------------------------------- the spread of q·k


def test_the_spread_of_q_dot_k_against_an_independent_computation() -> None:
    runs = score_spread((4, 64), seed=3, rows=100, keys=5)
    rng = np.random.default_rng(3)
    for run, d_k in zip(runs, (4, 64), strict=True):
        q = rng.standard_normal((100, d_k))
        k = rng.standard_normal((100, 5, d_k))
        dots = np.array([[float(np.dot(q[r], k[r, j])) for j in range(5)] for r in range(100)])
        assert run.raw_std == pytest.approx(math.sqrt(np.mean((dots - dots.mean()) ** 2)),
                                            rel=1e-12)
        assert run.scaled_std == pytest.approx(run.raw_std / math.sqrt(d_k), rel=1e-12)
        for x, top in ((dots, run.raw_top), (dots / math.sqrt(d_k), run.scaled_top)):
            e = np.exp(x - x.max(axis=1, keepdims=True))
            assert top == pytest.approx(np.mean(e.max(axis=1) / e.sum(axis=1)), rel=1e-12)


def test_the_spread_grows_like_the_root_of_d_k_and_the_division_undoes_it() -> None:
    runs = score_spread()
    assert [r.d_k for r in runs] == [4, 64, 512]
    for r in runs:
        assert r.raw_std == pytest.approx(math.sqrt(r.d_k), rel=0.1)
        assert r.scaled_std == pytest.approx(1, rel=0.1)
        assert r.scaled_top < r.raw_top
    assert runs[0].raw_top < runs[1].raw_top < runs[2].raw_top  # wider: one key takes more
    assert runs[2].raw_top > 0.9 and runs[2].scaled_top < 0.5


def test_the_demo_screen_quotes_the_experiments_own_numbers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    screen = next(s for s in demo.lesson() if s.title.startswith("Why divide by √d_k"))
    words = flat(screen.text())
    for r in score_spread():
        assert f"{number(r.raw_std, 1)} at d_k = {r.d_k}" in words
    made_up = [Spread(4, 2.5, 1.25, 0.5, 0.4), Spread(9, 3.5, 1.17, 0.7, 0.41)]
    monkeypatch.setattr(course, "score_spread", lambda: made_up)
    words = flat(screen.text())
    assert "2.5 at d_k = 4, 3.5 at d_k = 9: about √d_k (2.0, 3.0)" in words
    assert "at d_k = 9, a row's largest weight is 70% on average without the division and " \
           "41% with it" in words


def test_the_experiment_comes_after_the_softmax_step() -> None:
    titles = [s.title for s in demo.lesson()]
    at = titles.index("Why divide by √d_k: an experiment")
    assert titles[at - 1] == "Step 4: scale, then softmax"
