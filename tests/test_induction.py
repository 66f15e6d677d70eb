"""The repeated-random-token probe (attncli/induction.py, `attn heads --induction`).

The score functions against a hand-made attention matrix; the probe against the designed
two-layer GPT-2 of tests/fixtures/models/induction (scripts/make_induction_model.py), whose
previous-token head (layer 0 head 0) and induction head (layer 1 head 1) are built in; the
CLI on it and on generic fixtures.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke as run
from conftest import ok, ok_json, refused
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli import induction
from attncli.errors import AttnError
from attncli.models import load_model

FIXTURES = Path(__file__).parent / "fixtures" / "models"
DESIGNED = str(FIXTURES / "induction")


def hand_matrix() -> np.ndarray:
    """[BOS] a b c a b c (N = 3, R starts at 1): a causal 7×7 matrix, rows sum to 1.

    The second copy is queries 4, 5, 6. Their induction keys (i − 2) are 2, 3, 4, with
    weights 0.5, 0.25, 0.75: mean 0.5. Their duplicate keys (i − 3) are 1, 2, 3, with
    weights 0.25, 0.5, 0.125: mean 0.875 / 3. Previous keys (i − 1) of queries 1…6 hold
    1, 0.5, 0.2, 0.1, 0.25, 0.125: mean 2.175 / 6.
    """
    a = np.zeros((7, 7))
    a[0, 0] = 1.0
    a[1, [0]] = [1.0]
    a[2, [0, 1]] = [0.5, 0.5]
    a[3, [0, 2]] = [0.8, 0.2]
    a[4, [1, 2, 3, 4]] = [0.25, 0.5, 0.1, 0.15]
    a[5, [2, 3, 4, 5]] = [0.5, 0.25, 0.25, 0.0]
    a[6, [3, 4, 5, 6]] = [0.125, 0.75, 0.125, 0.0]
    assert np.allclose(a.sum(axis=1), 1.0)
    return a


def test_the_scores_of_a_hand_made_matrix() -> None:
    a = hand_matrix()
    assert induction.induction_scores(a, 1, 3) == pytest.approx(0.5)
    assert induction.duplicate_scores(a, 1, 3) == pytest.approx(0.875 / 3)
    assert induction.previous_scores(a, 1, 3) == pytest.approx(2.175 / 6)


def test_the_scores_read_every_head_of_a_stack_at_once() -> None:
    a = hand_matrix()
    uniform = np.tril(np.ones((7, 7))) / np.arange(1, 8)[:, None]
    stack = np.stack([np.stack([a, uniform]), np.stack([uniform, a])])  # (2 layers, 2 heads)
    got = induction.induction_scores(stack, 1, 3)
    assert got.shape == (2, 2)
    assert got[0, 0] == got[1, 1] == pytest.approx(0.5)
    assert got[0, 1] == pytest.approx((1 / 5 + 1 / 6 + 1 / 7) / 3)


def test_without_a_prefix_the_second_copy_starts_at_n() -> None:
    # R R with nothing before (T5's encoder): N = 3, queries 3, 4, 5; induction keys 1, 2, 3
    a = np.zeros((6, 6))
    a[np.arange(6), np.arange(6)] = 1.0
    a[[3, 4, 5]] = 0.0
    a[[3, 4, 5], [1, 2, 3]] = 1.0
    assert induction.induction_scores(a, 0, 3) == pytest.approx(1.0)
    assert induction.duplicate_scores(a, 0, 3) == pytest.approx(0.0)
    # previous: queries 1…5, none of which looks at the token just before
    assert induction.previous_scores(a, 0, 3) == pytest.approx(0.0)


@settings(max_examples=50, deadline=None)
@given(st.integers(3, 6), st.integers(0, 2), st.integers(0, 2**32 - 1))
def test_every_score_is_a_weight_between_0_and_1(length: int, start: int, seed: int) -> None:
    n = start + 2 * length + 1
    rng = np.random.default_rng(seed)
    w = np.tril(rng.random((n, n))) + np.eye(n)
    w /= w.sum(axis=1, keepdims=True)
    for score in (induction.induction_scores, induction.duplicate_scores,
                  induction.previous_scores):
        value = float(score(w, start, length))
        assert 0.0 <= value <= 1.0


@pytest.fixture(scope="module")
def designed():
    return load_model(DESIGNED)


@pytest.mark.parametrize(("length", "seed"), [(20, 0), (3, 1), (10, 7), (30, 2)])
def test_the_probe_finds_the_designed_heads_and_only_them(designed, length: int,
                                                          seed: int) -> None:
    found = induction.probe(designed, length, seed)
    assert found.induction.shape == found.previous.shape == (2, 2)
    # layer 1 head 1 is the induction head, far above every other head
    assert found.ranked()[0] == (1, 1)
    assert found.induction[1, 1] > 0.999
    others = np.delete(found.induction.ravel(), 3)
    assert others.max() < 0.35  # uniform heads: 1/(i + 1); at N = 3 up to 1/5
    # layer 0 head 0 is the previous-token head, and the only one
    assert found.ranked("previous")[0] == (0, 0)
    assert found.previous[0, 0] > 0.999
    assert np.delete(found.previous.ravel(), 0).max() < 0.5
    assert {lh for lh in np.ndindex(2, 2) if found.induction[lh] > 0.5} == {(1, 1)}
    assert {lh for lh in np.ndindex(2, 2) if found.previous[lh] > 0.5} == {(0, 0)}
    # nothing looks at the earlier copy itself
    assert found.duplicate.max() < 0.35


def test_transformers_finds_the_same_heads_in_the_designed_model(designed) -> None:
    # reference.npz (scripts/make_induction_model.py --reference): transformers' own
    # attention on the probe's sequence, <bos> R R with N = 20
    with np.load(FIXTURES / "induction" / "reference.npz", allow_pickle=False) as npz:
        ids, theirs = npz["probe_ids"].tolist(), npz["probe_attentions"]  # (2, 2, 41, 41)
    _, ours = designed.forward(ids)
    for score in (induction.induction_scores, induction.duplicate_scores,
                  induction.previous_scores):
        expected = score(theirs.astype(np.float64), 1, 20)
        np.testing.assert_allclose(score(np.stack(ours).astype(np.float64), 1, 20), expected,
                                   atol=1e-6)
    assert induction.induction_scores(theirs, 1, 20)[1, 1] > 0.999
    assert induction.previous_scores(theirs, 1, 20)[0, 0] > 0.999


def test_the_designed_induction_head_in_a_sentence(designed) -> None:
    # <bos> harry potter went to the shop and harry: the second "harry" (8) attends to
    # "potter" (2), the token after the first "harry"
    ids = [t.id for t in designed.tokens("harry potter went to the shop and harry")]
    assert len(ids) == 9 and ids[0] == 0
    h, weights = designed.forward(ids)
    assert weights[1][1, 8, 2] > 0.999
    assert weights[0][0, 8, 7] > 0.999  # and layer 0 head 0 looks at "and", just before
    assert int(np.argmax(designed.logits(h)[8])) == ids[2]  # its output predicts "potter"


def test_the_sequence_is_r_twice_between_the_models_specials() -> None:
    cases = {"induction": ([0], []), "gpt2": ([0], []), "bert": ([2], [3]), "t5": ([], [1])}
    for name, (before, after) in cases.items():
        model = load_model(str(FIXTURES / name))
        ids, start, suffix = induction.sequence(model, 5, 3)
        assert ids[:start] == before and (ids[len(ids) - suffix:] if suffix else []) == after
        r = ids[start:start + 5]
        assert ids[start + 5:start + 10] == r and len(ids) == start + 10 + suffix
        assert len(set(r)) == 5  # distinct
        assert set(r) <= set(induction.ordinary_ids(model).tolist())
        assert induction.sequence(model, 5, 3)[0] == ids  # seeded
        assert induction.sequence(model, 5, 4)[0] != ids


def test_special_tokens_are_never_drawn(designed) -> None:
    pool = induction.ordinary_ids(designed).tolist()
    assert pool == list(range(2, 32))  # <bos> and <unk> left out
    bert = induction.ordinary_ids(load_model(str(FIXTURES / "bert")))
    assert not {0, 1, 2, 3, 4} & set(bert.tolist())  # [PAD] [UNK] [CLS] [SEP] [MASK]


@pytest.mark.parametrize(("length", "words"), [
    (2, ["at least 3"]),
    (40, ["64 positions", "at most 31"]),
])
def test_a_length_the_model_cannot_take_is_refused(designed, length: int,
                                                   words: list[str]) -> None:
    with pytest.raises(AttnError) as err:
        induction.sequence(designed, length, 0)
    for word in words:
        assert word in str(err.value)


def test_a_length_beyond_the_ordinary_tokens_is_refused(designed, monkeypatch) -> None:
    monkeypatch.setattr(designed, "max_positions", None)
    with pytest.raises(AttnError, match="only 30 ordinary tokens"):
        induction.sequence(designed, 31, 0)


# ---- the CLI ----

def test_json_carries_both_grids_the_sequence_and_the_ranking() -> None:
    doc = ok_json(run("heads", "--model", DESIGNED, "--induction", "--length", "12",
                      "--seed", "5", "--json"))
    assert doc["schema"] == "attncli.induction/1"
    assert (doc["length"], doc["seed"], doc["start"], doc["second"]) == (12, 5, 1, 13)
    assert len(doc["ids"]) == len(doc["tokens"]) == 25 and doc["tokens"][0] == "<bos>"
    assert doc["ids"][1:13] == doc["ids"][13:25]
    assert doc["causal"] is True
    assert doc["induction"][1][1] > 0.999 and doc["previous"][0][0] > 0.999
    assert [(r["layer"], r["head"]) for r in doc["ranked"]][0] == (1, 1)
    assert len(doc["ranked"]) == 4
    assert doc["ranked"][0]["induction"] == doc["induction"][1][1]


@pytest.mark.parametrize("name", ["gpt2", "llama", "bert"])
def test_json_on_a_generic_fixture(name: str) -> None:
    doc = ok_json(run("heads", "--model", str(FIXTURES / name), "--induction", "--json"))
    model = load_model(str(FIXTURES / name))
    for key in ("induction", "duplicate", "previous"):
        grid = np.array(doc[key])
        assert grid.shape == (model.n_layers, model.n_heads)
        assert ((grid >= 0) & (grid <= 1)).all()
    assert doc["length"] == 20 and doc["seed"] == 0
    assert doc["causal"] is (name != "bert")
    scores = [r["induction"] for r in doc["ranked"]]
    assert scores == sorted(scores, reverse=True)


def test_the_view_ranks_the_heads_and_names_the_top_ones() -> None:
    out = ok(run("heads", "--model", DESIGNED, "--induction", "--top", "2", width=100))
    assert "fed as <bos> R R: 41 tokens" in " ".join(out.split())  # wherever the path wraps
    rows = [line for line in out.splitlines() if re.match(r"layer +\d+ head", line)]
    assert len(rows) == 2
    assert rows[0].split()[:6] == ["layer", "1", "head", "1", "100.0%", "0.0%"]
    flat = " ".join(out.split())
    assert "Highest induction score: layer 1 head 1 (100.0%)" in flat
    assert "highest previous-token score: layer 0 head 0 (100.0%)" in flat
    assert "both ways" not in out  # a causal model


def test_the_view_of_an_encoder_says_its_heads_look_both_ways() -> None:
    out = ok(run("heads", "--model", str(FIXTURES / "bert"), "--induction", width=100))
    assert "fed as [CLS] R R [SEP]: 42 tokens" in " ".join(out.split())
    assert "both ways" in out


@pytest.mark.parametrize(("args", "words"), [
    (["The cat", "--model", DESIGNED, "--induction"], ["--induction takes no TEXT"]),
    (["--induction"], ["--induction goes with --model"]),
    (["--induction", "-w", "sample_weights/bank.json"], ["--induction goes with --model"]),
    (["--model", DESIGNED, "--length", "5"], ["--length goes with --induction"]),
    (["--model", DESIGNED, "--induction", "--from", "a", "--to", "b"], ["--from cannot"]),
    (["--model", DESIGNED, "--induction", "--layer", "0"], ["--layer cannot"]),
    (["--model", DESIGNED, "--induction", "--length", "40"], ["at most 31"]),
    (["--model", DESIGNED, "--induction", "--max-tokens", "10"], ["--max-tokens"]),
    (["--model", DESIGNED], ["Missing argument 'TEXT'"]),
])
def test_what_the_probe_cannot_do_is_refused_in_one_line(args: list[str],
                                                         words: list[str]) -> None:
    refused(run("heads", *args), *words)
