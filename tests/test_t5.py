"""T5 (issue 13): the encoder, the decoder's self-attention and its cross-attention.

The fixture (scripts/make_model_fixtures.py, spec_t5) has 2 encoder and 3 decoder blocks, 8
relative-position buckets up to distance 12 and a gated-GELU MLP; its reference.npz holds
transformers' encoder, decoder and cross attentions for TEXT and its German target.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, edit_config, ok, ok_json, reference, refused
from conftest import invoke as run
from safetensors.numpy import load_file, save_file

from attncli.models import load_model
from attncli.models.t5 import relative_buckets

T5 = FIXTURES / "t5"
REF = reference("t5")
SOURCE, TARGET = str(REF["text"]), str(REF["target"])
KINDS = {"encoder": "attentions", "self": "decoder_attentions", "cross": "cross_attentions"}


def worst(directory: Path, kind: str, float64: bool = False) -> float:
    """The largest |ours − transformers'| over every layer and head of one attention."""
    model = load_model(str(directory))
    source = model.tokens(SOURCE)
    assert [t.id for t in source] == REF["input_ids"].tolist()
    if kind != "encoder":
        model = model.for_target(source, kind)
        ids = [t.id for t in model.target_tokens(TARGET)]
        assert ids == REF["decoder_input_ids"].tolist()  # start token + target, no </s>
    else:
        ids = [t.id for t in source]
    expected = REF[KINDS[kind] + ("64" if float64 else "")]  # (layers, heads, n, m)
    assert expected.shape[:2] == (model.n_layers, model.n_heads)
    found, _ = model.run(ids, range(model.n_layers), range(model.n_heads), float64=float64)
    return max(float(np.abs(hs.steps.weights - expected[hs.layer, hs.head]).max())
               for hs in found)


# ---- parity, every layer and head ----


@pytest.mark.parametrize("kind", KINDS)
def test_every_head_matches_transformers(kind: str) -> None:
    assert worst(T5, kind) <= 1e-5


@pytest.mark.parametrize("kind", KINDS)
def test_float64_matches_transformers_in_float64(kind: str) -> None:
    assert worst(T5, kind, float64=True) <= 1e-6


def test_cross_attention_is_target_by_source() -> None:
    model = load_model(str(T5))
    source = model.tokens(SOURCE)
    decoder = model.for_target(source, "cross")
    target = decoder.target_tokens(TARGET)
    (hs,) = decoder.attention([t.id for t in target], [2], [3])
    s, n, m = hs.steps, len(target), len(source)
    assert (n, m) == (32, 22) and decoder.n_layers == 3 and model.n_layers == 2
    assert s.q.shape == (n, 8) and s.k.shape == s.v.shape == (m, 8)
    assert s.scores.shape == s.weights.shape == (n, m) and s.source.shape == (m, 32)
    assert s.mask is None and s.score_bias is None and s.variant.scale == 1.0
    np.testing.assert_allclose(s.k, s.source @ s.w_k)  # the keys come from the source's rows
    np.testing.assert_allclose(s.weights.sum(axis=1), 1.0, atol=1e-12)


# ---- the relative position buckets, worked out by hand ----


def test_encoder_buckets_by_hand() -> None:
    # bidirectional, 8 buckets: 4 for keys before the query, 4 (+4) for keys after; in each
    # half distances 0 and 1 are exact (max_exact 2), then 2 + ⌊ln(d/2) / ln(12/2) · 2⌋,
    # at most 3: d = 2, 3, 4 → 2 (ln 2 / ln 6 · 2 = 0.77), d = 5, 6 … → 3 (ln 2.5 / ln 6 · 2
    # = 1.02)
    row = relative_buckets(1, 8, 8, 12, bidirectional=True)[0]  # query 0: keys 0..7 after it
    assert row.tolist() == [0, 5, 6, 6, 6, 7, 7, 7]
    last = relative_buckets(8, 8, 8, 12, bidirectional=True)[7]  # query 7: keys 0..7 before
    assert last.tolist() == [3, 3, 3, 2, 2, 2, 1, 0]


def test_decoder_buckets_by_hand() -> None:
    # one-way, 8 buckets: later keys all bucket 0; earlier ones exact up to distance 3
    # (max_exact 4), then 4 + ⌊ln(d/4) / ln(12/4) · 4⌋: d = 4 → 4, 5 → 4 (0.81), 6 → 5 (1.48),
    # 7 → 6 (2.04), 9 → 6 (2.95), 10 → 7 (3.34), and beyond, at most 7
    row = relative_buckets(1, 14, 8, 12, bidirectional=False)[0]
    assert row.tolist() == [0] * 14  # every key is the query or after it
    back = relative_buckets(14, 14, 8, 12, bidirectional=False)[13][::-1]  # distance 0..13
    assert back.tolist() == [0, 1, 2, 3, 4, 4, 5, 6, 6, 6, 7, 7, 7, 7]


# ---- feature off: parity fails ----


def zeroed_bias_copy(tmp_path: Path) -> Path:
    d = Path(shutil.copytree(T5, tmp_path / "t5"))
    tensors = load_file(str(d / "model.safetensors"))
    for name in tensors:
        if name.endswith("relative_attention_bias.weight"):
            tensors[name] = np.zeros_like(tensors[name])
    save_file(tensors, str(d / "model.safetensors"), metadata={"format": "pt"})
    return d


@pytest.mark.parametrize("kind", KINDS)
def test_without_the_position_bias_parity_fails(kind: str, tmp_path: Path) -> None:
    assert worst(zeroed_bias_copy(tmp_path), kind) > 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_other_buckets_fail_parity(kind: str, tmp_path: Path) -> None:
    d = Path(shutil.copytree(T5, tmp_path / "t5"))
    edit_config(d, relative_attention_max_distance=128)  # t5-small's: other log buckets
    assert worst(d, kind) > 1e-3


def test_dividing_by_root_d_k_fails_parity(tmp_path: Path, monkeypatch) -> None:
    from dataclasses import replace

    from attncli.models import t5

    original = t5.T5.variant
    monkeypatch.setattr(t5.T5, "variant", lambda self, n, i, attn, x: replace(
        original(self, n, i, attn, x), scale=None))  # the lesson's 1/√d_k, which T5 leaves out
    assert worst(T5, "encoder") > 1e-3


# ---- the command line ----


def test_explain_json_has_both_texts_and_non_square_matrices() -> None:
    doc = ok_json(run("explain", SOURCE, "--model", str(T5), "--target", TARGET, "--layer",
                      "all", "--head", "all", "--json"))
    assert (doc["text"], doc["target"]) == (SOURCE, TARGET)
    assert [t["id"] for t in doc["tokens"]] == REF["input_ids"].tolist()
    assert [t["id"] for t in doc["target_tokens"]] == REF["decoder_input_ids"].tolist()
    assert doc["target_tokens"][0]["text"] == "<pad>"
    assert (doc["config"]["stack"], doc["config"]["attention"]) == ("decoder", "cross")
    assert doc["config"]["n_layers"] == 3 and len(doc["heads"]) == 12
    for h in doc["heads"]:
        weights = np.array(h["weights"])
        assert weights.shape == (32, 22) and np.array(h["source"]).shape == (22, 32)
        expected = REF["cross_attentions"][h["layer"], h["head"]]
        assert np.abs(weights - expected).max() <= 1e-5


def test_explain_json_decoder_self_attention_is_causal() -> None:
    doc = ok_json(run("explain", SOURCE, "--model", str(T5), "--target", TARGET,
                      "--attention", "self", "--json"))
    assert doc["config"]["attention"] == "self" and doc["config"]["causal"]
    h = doc["heads"][0]
    weights = np.array(h["weights"])
    assert weights.shape == (32, 32) and "source" not in h
    assert np.abs(weights - REF["decoder_attentions"][2, 0]).max() <= 1e-5
    assert h["scaled"][0][1] is None  # masked: null in the JSON


def test_explain_without_target_is_the_encoder() -> None:
    doc = ok_json(run("explain", SOURCE, "--model", str(T5), "--json"))
    assert (doc["config"]["stack"], doc["config"]["attention"]) == ("encoder", "self")
    assert "target" not in doc and np.array(doc["heads"][0]["weights"]).shape == (22, 22)
    bias = np.array(doc["heads"][0]["score_bias"])
    assert bias.shape == (22, 22) and len(np.unique(np.diag(bias))) == 1  # distance 0: one bucket
    out = ok(run("explain", SOURCE, "--model", str(T5), "--show", "softmax"))
    assert "Step 4b · Attention weights = softmax(scaled + bias)" in out  # the bias is inside


def test_the_terminal_names_both_sides() -> None:
    out = ok(run("explain", SOURCE, "--model", str(T5), "--target", TARGET, "--from", "#1",
                 "--to", "animal", "--show", "qkv,softmax,bars"))
    out = " ".join(out.split())  # the lines wrap at the console's width
    assert "Source “The animal didn't cross the street because it was tired”" in out
    assert "32 queries × 22 keys" in out
    assert "Source tokens, the keys" not in out  # --show leaves the tokens out
    assert "K (22×8)" in out and "Q (32×8)" in out and "Weights (32×22)" in out
    assert "Softmax of “D”'s row" in out and "weight of “animal” = " in out
    assert "V, the value rows (22×8)" in out


def test_the_heatmap_draws_one_column_per_source_token() -> None:
    out = ok(run("explain", SOURCE, "--model", str(T5), "--target", "Das Tier", "--heatmap",
                 "--show", "softmax"))
    block = out[out.index("Weights (6×22)"):].splitlines()
    rows = [line for line in block if re.match(r"\d \S+ ", line)]
    assert [r.split()[1] for r in rows] == ["<pad>", "D", "as", "T", "i", "er"]  # the queries
    assert {len(r) for r in rows} == {len("0 <pad> ") + 22}  # a cell per source token
    assert "the columns are the source's tokens, by index" in " ".join(out.split())


def test_target_needs_an_encoder_decoder(tmp_path: Path) -> None:
    refused(run("explain", SOURCE, "--model", str(FIXTURES / "bert"), "--target", "x"),
            "bert model", "no decoder")
    refused(run("explain", SOURCE, "--target", "x"), "--target goes with --model")
    refused(run("explain", SOURCE, "--model", str(T5), "--attention", "self"),
            "--attention goes with --target")
    refused(run("explain", SOURCE, "--model", str(T5), "--target", "x", "--attention", "both"),
            "--attention 'both'", "self or cross")
    refused(run("explain", SOURCE, "--model", str(T5), "--target", "  "), "empty")


def test_the_fixture_config_is_what_the_docstring_says() -> None:
    config = json.loads((T5 / "config.json").read_text())
    assert (config["num_layers"], config["num_decoder_layers"]) == (2, 3)
    assert config["relative_attention_num_buckets"] == 8
    assert config["relative_attention_max_distance"] == 12
    assert config["feed_forward_proj"] == "gated-gelu"


def test_heads_follows_a_target_word_to_a_source_word() -> None:
    doc = ok_json(run("heads", SOURCE, "--model", str(T5), "--target", TARGET, "--from", "#1",
                      "--to", "animal", "--json"))
    assert doc["target"] == TARGET and doc["tokens"][doc["to"]]["text"] == "▁animal"
    assert doc["target_tokens"][doc["from"]]["text"] == "▁D"
    grid = np.array(doc["grid"])
    assert grid.shape == (3, 4)  # the decoder's 3 layers × 4 heads
    expected = REF["cross_attentions"][:, :, doc["from"], doc["to"]]
    assert np.abs(grid - expected).max() <= 1e-5
    patterns = {p["pattern"] for row in doc["patterns"] for p in row}
    assert patterns <= {"first", "last", "sink", "mixed"}  # no self/previous across two texts
    out = " ".join(ok(run("heads", SOURCE, "--model", str(T5), "--target", TARGET)).split())
    assert "Cross-attention: each target token looks at the source's tokens" in out
    assert "Target “Das Tier" in out
    n = len(ok_json(run("explain", SOURCE, "--model", str(T5), "--target", TARGET,
                        "--json"))["target_tokens"])
    assert f"the decoder reads {n} tokens: its start token, then the target's {n - 1}" in out
    # cross-attention leaves out only sinks: a target's positions and the source's differ
    assert "Left out: rows that give more than half their weight" in out
    assert "attend by position" not in out
    self_view = " ".join(ok(run("heads", SOURCE, "--model", str(T5), "--target", TARGET,
                                "--attention", "self")).split())
    assert "Left out: rows that attend by position" in self_view


def test_the_pair_in_json_names_the_scale_and_the_position_bias() -> None:
    doc = ok_json(run("explain", SOURCE, "--model", str(T5), "--from", "animal", "--to", "tired",
                      "--json"))
    p, head = doc["pair"], doc["heads"][0]
    i, j = p["from"], p["to"]
    assert p["scale"] == 1.0 and p["divisor"] == 1.0 and p["divided"] == p["score"]
    assert p["bias"] == head["score_bias"][i][j] != 0
    assert p["scaled"] == pytest.approx(p["divided"] + p["bias"], abs=1e-12)
    assert p["scaled"] == head["scaled"][i][j] and "softcap" not in p


def test_a_soft_capped_pair_in_json() -> None:
    doc = ok_json(run("explain", "The animal was tired", "--model", str(FIXTURES / "gemma2"),
                      "--layer", "0", "--from", "tired", "--to", "animal", "--json"))
    p = doc["pair"]
    cap = p["softcap"]
    assert p["capped"] == pytest.approx(cap * np.tanh(p["divided"] / cap), abs=1e-12)
    assert p["scaled"] == p["capped"] and "bias" not in p


def test_the_cross_baseline_says_whose_weights_it_averages() -> None:
    out = " ".join(ok(run("heads", SOURCE, "--model", str(T5), "--target", TARGET, "--from",
                          "#1", "--to", "animal")).split())
    assert "gets from every target token (its queries)" in out
    assert "itself included" not in out  # a source word is not among the queries
