"""The norm-based measure (Kobayashi et al. 2020) and attention rollout (Abnar & Zuidema 2020):
hand-worked numbers, properties, the fixtures' transformers reference and the CLI."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from attncli import flow
from attncli.cli import app
from attncli.explain import explain, explain_model
from attncli.models import load_model
from attncli.tokens import word_level
from attncli.weights import seeded

FIXTURES = Path(__file__).parent / "fixtures" / "models"
TOLERANCE = 1e-5  # as test_models.py: float32 transformers against our float64 heads
runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def render(renderable, width: int = 80) -> str:
    console = Console(width=width, file=StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


# ---- weight against norm ----


def test_norm_of_one_pair_worked_by_hand() -> None:
    """Two heads, d_v = 2, d_model = 2; head 1's rows of W_O are rows 2 and 3:
    W_O^1 = [[0, 4], [3, 0]]. Query 0 gives key 0 weight 0.75 and key 1 weight 0.25.
    v_0 = [1, 0] -> f(x_0) = [1, 0]·W_O^1 = [0, 4], ‖f(x_0)‖ = 4;
    v_1 = [0, 2] -> f(x_1) = [0, 2]·W_O^1 = [6, 0], ‖f(x_1)‖ = 6.
    ‖0.75 · [0, 4]‖ = 3 and ‖0.25 · [6, 0]‖ = 1.5, of 4.5 in all: shares 2/3 and 1/3, where
    the weights were 3/4 and 1/4 (key 1's longer vector makes up for part of its weight)."""
    w_o = np.array([[9.0, 9.0], [9.0, 9.0],  # head 0's rows: not to be used
                    [0.0, 4.0], [3.0, 0.0]])  # head 1's
    rows = flow.head_rows(w_o, head=1, d_v=2, heads=2)
    v = np.array([[1.0, 0.0], [0.0, 2.0]])
    weights = np.array([[0.75, 0.25], [0.5, 0.5]])
    np.testing.assert_allclose(flow.sent(v, rows), [[0.0, 4.0], [6.0, 0.0]])
    norms = flow.weighted_norms(weights, v, rows)
    np.testing.assert_allclose(norms[0], [3.0, 1.5])
    np.testing.assert_allclose(norms[1], [2.0, 3.0])  # 0.5 · 4, 0.5 · 6
    np.testing.assert_allclose(flow.shares(norms)[0], [2 / 3, 1 / 3])
    np.testing.assert_allclose(flow.shares(norms)[1], [0.4, 0.6])


def test_a_row_of_zero_norms_stays_zero() -> None:
    np.testing.assert_array_equal(flow.shares(np.array([[0.0, 0.0], [1.0, 3.0]])),
                                  [[0.0, 0.0], [0.25, 0.75]])


def test_w_o_that_does_not_split_by_head_is_refused() -> None:
    with pytest.raises(flow.AttnError, match="cannot split it by head"):
        flow.head_rows(np.zeros((6, 4)), head=0, d_v=2, heads=2)


def test_seeded_heads_use_the_w_o_that_joined_them() -> None:
    """Seeded weights with two heads: head h's f(x_j) is its v row times rows h·d_v.. of the
    W_O that joined the heads, worked out here with plain numpy."""
    text = "The animal was tired"
    ex = explain(text, word_level(text), seeded(0, 8, 4, 4, 2), seed=0)
    found = flow.head_norms(ex)
    for hs, hn in zip(ex.heads, found, strict=True):
        rows = ex.joined.w_o[4 * hs.head:4 * (hs.head + 1)]
        lengths = np.sqrt(((hs.steps.v @ rows) ** 2).sum(axis=1))
        np.testing.assert_allclose(hn.value_norms, lengths, rtol=1e-12)
        np.testing.assert_allclose(hn.norms, hs.steps.weights * lengths, rtol=1e-12)
        np.testing.assert_allclose(hn.shares.sum(axis=1), 1.0)


def test_one_seeded_head_without_w_o_is_refused() -> None:
    text = "The animal was tired"
    ex = explain(text, word_level(text), seeded(0, 8, 4, 4, 1), seed=0)
    with pytest.raises(flow.AttnError, match="no W_O"):
        flow.head_norms(ex)


@pytest.mark.parametrize("name", ["bert", "llama", "mistral"])
def test_norms_match_the_transformers_reference(name: str) -> None:
    """norms.npz is made by scripts/make_model_fixtures.py --norms from transformers' own
    value projection output, o_proj/dense weight and attentions (llama: 4 query heads on 2
    key/value heads; mistral: 4 on 1, with a sliding window). transformers works in float32:
    the shares (like the weights) agree within TOLERANCE, the norms within TOLERANCE of the
    head's largest, the value norms within TOLERANCE relative."""
    directory = FIXTURES / name
    ref = np.load(directory / "norms.npz", allow_pickle=False)
    model = load_model(str(directory))
    text = str(np.load(directory / "reference.npz", allow_pickle=False)["text"])
    ex = explain_model(text, model, list(range(model.n_layers)), list(range(model.n_heads)))
    assert [t.id for t in ex.tokens] == ref["input_ids"].tolist()
    assert ref["norms"].shape[:2] == (model.n_layers, model.n_heads)
    found = flow.head_norms(ex, model.output_projection)
    assert [(hn.layer, hn.head) for hn in found] == [(hs.layer, hs.head) for hs in ex.heads]
    for hn in found:
        theirs = ref["norms"][hn.layer, hn.head].astype(np.float64)
        assert np.abs(hn.norms - theirs).max() <= TOLERANCE * np.abs(theirs).max()
        assert np.abs(hn.shares - flow.shares(theirs)).max() <= TOLERANCE
        np.testing.assert_allclose(hn.value_norms, ref["value_norms"][hn.layer, hn.head],
                                   rtol=TOLERANCE)


def test_gap_names_a_sink_with_much_weight_and_little_norm() -> None:
    """Key 0 gets 0.8 of every row's weight, but its value is 16 times shorter than key 1's:
    norm shares 0.8·1 / (0.8·1 + 0.2·16) = 0.2. Weight 0.8 against norm 0.2: 60 points and
    4 times, a gap worth a sentence."""
    weights = np.array([[0.8, 0.2], [0.8, 0.2]])
    norms = weights * np.array([1.0, 16.0])
    gap = flow.head_gap(3, 2, weights, flow.shares(norms))
    assert (gap.layer, gap.head, gap.token) == (3, 2, 0)
    assert gap.weight == pytest.approx(0.8) and gap.norm == pytest.approx(0.2)
    assert flow.notable(gap)


def test_a_small_gap_is_not_worth_a_sentence() -> None:
    """Weight 0.35 against norm 0.2 (15 points), and 0.45 against 0.25 (not 2 times): none."""
    assert not flow.notable(flow.Gap(0, 0, 0, 0.35, 0.2))
    assert not flow.notable(flow.Gap(0, 0, 0, 0.45, 0.25))
    assert flow.notable(flow.Gap(0, 0, 0, 0.45, 0.2))


def test_gap_counts_only_the_rows_that_may_see_the_key() -> None:
    """Causal, three tokens. Key 1 is seen by rows 1 and 2 only: weight (0.5 + 0.4) / 2 = 0.45
    against norm share (0.1 + 0.4) / 2 = 0.25 (averaged over all three rows it would be 0.3
    against 0.167). Key 0 gets more norm than weight; key 2 as much of each."""
    weights = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.4, 0.4, 0.2]])
    row_shares = np.array([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.4, 0.4, 0.2]])
    mask = np.triu(np.ones((3, 3), dtype=bool), k=1)
    gap = flow.head_gap(0, 0, weights, row_shares, mask)
    assert gap.token == 1
    assert gap.weight == pytest.approx(0.45) and gap.norm == pytest.approx(0.25)


# ---- attention rollout ----


def test_rollout_of_two_layers_worked_by_hand() -> None:
    """Layer 0's two heads, [[1, 0], [1, 0]] and [[1, 0], [0, 1]], average to
    A_0 = [[1, 0], [0.5, 0.5]]; Â_0 = 0.5·A_0 + 0.5·I = [[1, 0], [0.25, 0.75]].
    A_1 = [[0.5, 0.5], [0, 1]]; Â_1 = [[0.75, 0.25], [0, 1]].
    Rollout to layer 1 = Â_1 · Â_0 = [[0.75 + 0.25·0.25, 0.25·0.75], [0.25, 0.75]]
                                   = [[0.8125, 0.1875], [0.25, 0.75]].
    (The other order, Â_0 · Â_1, would give [[0.75, 0.25], [0.1875, 0.8125]].)"""
    a0 = np.mean([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]], axis=0)
    a1 = np.array([[0.5, 0.5], [0.0, 1.0]])
    rolled = flow.rollout([a0, a1])
    np.testing.assert_allclose(rolled[0], [[1.0, 0.0], [0.25, 0.75]])
    np.testing.assert_allclose(rolled[1], [[0.8125, 0.1875], [0.25, 0.75]])


def test_residual_mix_renormalises_and_keeps_masked_keys_at_zero() -> None:
    """A row that does not sum to 1 ([0.2, 0.2]: half of it) is mixed to [0.6, 0.1] then
    divided by 0.7; a masked key stays 0 and the row still sums to 1."""
    mixed = flow.residual_mix(np.array([[0.2, 0.2], [0.5, 0.5]]),
                              np.array([[False, False], [True, False]]))
    np.testing.assert_allclose(mixed[0], [0.6 / 0.7, 0.1 / 0.7])
    np.testing.assert_allclose(mixed[1], [0.0, 1.0])


@st.composite
def stochastic(draw) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """1 to 4 layers of n×n row-stochastic matrices (n 1 to 6), causal or not."""
    n = draw(st.integers(1, 6))
    layers = draw(st.integers(1, 4))
    causal = draw(st.booleans())
    mask = np.triu(np.ones((n, n), dtype=bool), k=1) if causal else None
    entries = st.floats(0.0, 1.0, allow_nan=False)
    means = []
    for _ in range(layers):
        raw = np.array(draw(st.lists(entries, min_size=n * n, max_size=n * n))).reshape(n, n)
        raw = raw + np.eye(n)  # every row has some weight
        if mask is not None:
            raw[mask] = 0.0
        means.append(raw / raw.sum(axis=1, keepdims=True))
    return means, [mask] * layers


@settings(max_examples=60, deadline=None)
@given(stochastic())
def test_every_rollout_row_sums_to_one(case) -> None:
    means, masks = case
    rolled = flow.rollout(means, masks)
    np.testing.assert_allclose(rolled.sum(axis=2), 1.0, atol=1e-12)
    assert (rolled >= 0).all()
    if masks[0] is not None:  # a decoder's query never draws on a later token
        assert (rolled[:, masks[0]] == 0).all()


def own_rollout(attentions: np.ndarray) -> np.ndarray:
    """The rollout written out again, from transformers' (L, H, n, n) attentions."""
    n = attentions.shape[-1]
    rolled = np.eye(n)
    out = []
    for layer in attentions.astype(np.float64):
        mixed = 0.5 * layer.mean(axis=0) + 0.5 * np.eye(n)
        rolled = (mixed / mixed.sum(axis=1, keepdims=True)) @ rolled
        out.append(rolled)
    return np.stack(out)


@pytest.mark.parametrize("name, word", [("llama", "animal"), ("bert", "it")])
def test_cli_rollout_json_matches_the_reference_attentions(name: str, word: str) -> None:
    ref = np.load(FIXTURES / name / "reference.npz", allow_pickle=False)
    doc = run_json("heads", str(ref["text"]), "--model", str(FIXTURES / name),
                   "--rollout", word)
    ro = doc["rollout"]
    query = ro["query"]
    assert doc["tokens"][query]["text"].lstrip("Ġ▁") == word
    assert ro["layers"] == list(range(len(ref["attentions"])))
    matrices, rows = np.array(ro["matrices"]), np.array(ro["rows"])
    np.testing.assert_allclose(matrices, own_rollout(ref["attentions"]), atol=TOLERANCE)
    np.testing.assert_array_equal(rows, matrices[:, query, :])
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-12)
    if name == "llama":  # causal: nothing after the query reaches it
        assert (rows[:, query + 1:] == 0).all()


def test_cli_heads_norm_json_carries_weights_norms_and_shares() -> None:
    ref = np.load(FIXTURES / "bert" / "norms.npz", allow_pickle=False)
    text = str(np.load(FIXTURES / "bert" / "reference.npz")["text"])
    doc = run_json("heads", text, "--model", str(FIXTURES / "bert"), "--measure", "norm")
    assert doc["measure"] == "norm"
    assert [(e["layer"], e["head"]) for e in doc["norms"]] == [(i, h) for i in range(2)
                                                               for h in range(4)]
    for entry in doc["norms"]:
        theirs = ref["norms"][entry["layer"], entry["head"]]
        norms, weights = np.array(entry["norms"]), np.array(entry["weights"])
        assert np.abs(norms - theirs).max() <= TOLERANCE * np.abs(theirs).max()
        np.testing.assert_allclose(norms, weights * np.array(entry["value_norms"]))
        np.testing.assert_allclose(np.array(entry["norm_shares"]).sum(axis=1), 1.0)
    # the patterns then read the shares: a head's "first" score is its mean share on token 0
    first = {(e["layer"], e["head"]): np.mean(np.array(e["norm_shares"])[:, 0])
             for e in doc["norms"]}
    for row in doc["patterns"]:
        for p in row:
            if p["pattern"] == "first":
                assert p["score"] == pytest.approx(first[p["layer"], p["head"]])
    gap = doc["gap"]
    if gap is not None:
        assert gap["weight"] - gap["norm"] >= flow.GAP_POINTS


def test_cli_explain_norm_json_and_bars() -> None:
    args = ["explain", "The animal was tired", "--heads", "2", "--measure", "norm"]
    doc = run_json(*args)
    head = doc["heads"][0]
    assert doc["measure"] == "norm"
    rows = np.array(doc["w_o"])[:len(head["v"][0])]  # head 0's rows of W_O
    lengths = np.linalg.norm(np.array(head["v"]) @ rows, axis=1)
    np.testing.assert_allclose(head["value_norms"], lengths)
    np.testing.assert_allclose(head["norms"], np.array(head["weights"]) * lengths)
    result = runner.invoke(app, [*args, "--show", "bars", "--focus", "animal"])
    assert result.exit_code == 0, result.output
    assert "takes in, by norm:" in result.output
    assert "norm-based share" in result.output
    shares = np.array(head["norm_shares"])[1]  # "animal"'s row, as the bars show it
    assert f"{100 * shares[0]:5.1f}%" in result.output


@pytest.mark.parametrize("args, message", [
    (["--measure", "size"], "--measure 'size': use weight or norm"),
    (["--rollout", "it", "--from", "it", "--to", "animal"], "--rollout cannot be combined"),
    (["--rollout", "it", "--measure", "norm"], "--rollout goes with the attention weights"),
    (["--rollout", "it", "--layer", "1"], "rollout needs every layer from 0 to 1"),
    (["--rollout", "it", "--head", "0"], "rollout averages all 4 heads"),
    (["--rollout", "giraffe"], "giraffe"),
])
def test_cli_refusals_are_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["heads", "The animal didn't cross the street because it "
                                 "was tired", "--model", str(FIXTURES / "bert"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_one_seeded_head_norm_is_refused_on_one_line() -> None:
    result = runner.invoke(app, ["heads", "The animal was tired", "--measure", "norm"])
    assert result.exit_code == 2 and "no W_O" in result.output


# ---- the views ----


def test_rollout_view_at_80_columns() -> None:
    from attncli.render.probes import rollout_view

    text = "The animal didn't cross the street because it was tired"
    ex = explain(text, word_level(text), seeded(0, 8, 4, 4, 2), seed=0)
    ro = flow.rollout_of(ex, [t.text for t in ex.tokens].index("it"))
    out = render(rollout_view(ex, ro))
    assert "Attention rollout for “it”" in out
    assert "“it” draws on, after layer 0:" in out
    top = int(np.argmax(ro.last))
    assert f"draws most on “{ex.tokens[top].text}” ({100 * ro.last[top]:.1f}%)" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_rollout_table_leaves_out_the_smallest_columns_when_narrow() -> None:
    from attncli.render.probes import RolloutTable

    rows = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.05, 0.15, 0.3]])
    table = RolloutTable([0, 1], ["aaaa", "bbbb", "cccc", "dddd"], rows)
    wide = [line.plain for line in table.lines(80)]
    assert wide[0].split() == ["layer", "aaaa", "bbbb", "cccc", "dddd"]
    assert wide[2].split() == ["1", "50", "5", "15", "30"]
    narrow = [line.plain for line in table.lines(24)]
    assert narrow[0].split()[:3] == ["layer", "aaaa", "dddd"]  # bbbb (5) and cccc (15) go
    assert "… 2 more" in narrow[0]
    assert all(len(line) <= 24 for line in narrow)


def test_gap_sentence_carries_both_numbers() -> None:
    from attncli.render.heads import gap_sentence

    out = gap_sentence("[SEP]", flow.Gap(3, 2, 13, 0.45, 0.08)).plain
    assert out == ("“[SEP]” gets 45% of the weight but 8% of the norm in layer 3, head 2 "
                   "(averages over the tokens that may see it): attention weight is not "
                   "importance.")
    assert gap_sentence("x", None).plain.startswith("No head gives a token 20 points more")
