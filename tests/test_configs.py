"""Older config.json forms give transformers' numbers (issue 20): T5 "gated-gelu" without
dense_act_fn, mt5, umt5, and BERT/RoBERTa with is_decoder.

The fixtures (scripts/make_model_fixtures.py, the "older config.json forms" block):
t5-v1_1 is T5 in the form of google/t5-v1_1-* and T0 (feed_forward_proj "gated-gelu", no
dense_act_fn, is_gated_act nor relative_attention_max_distance); mt5 the same under model_type
mt5; umt5 is mt5 with a bias table in every block (umt5-small's form); bert-decoder and
roberta-decoder have is_decoder: true (BertLMHeadModel,
RobertaForCausalLM), which transformers runs causally. Each parity check has a twin that puts
the old behaviour back (exact GELU; block 0's table; no causal mask) and sees parity fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, PARITY, edit_config, layer_diffs, ok, ok_json, reference, refused
from conftest import invoke as run

from attncli.errors import AttnError
from attncli.models import load_model
from attncli.models.layers import ACTIVATIONS, gelu, gelu_tanh
from attncli.models.t5 import MT5, T5, UMT5, feed_forward_kind

OLD_T5 = ("t5-v1_1", "mt5")
SEQ2SEQ = (*OLD_T5, "umt5")
DECODERS = ("bert-decoder", "roberta-decoder")
KINDS = {"encoder": "attentions", "self": "decoder_attentions", "cross": "cross_attentions"}


def worst(directory: Path, name: str, kind: str, float64: bool = False) -> float:
    """The largest |ours − transformers'| over every layer and head of one of a seq2seq
    fixture's attentions (the checkpoint in directory, the reference of fixture name)."""
    ref = reference(name)
    model = load_model(str(directory))
    source = model.tokens(str(ref["text"]))
    ids = [t.id for t in source]
    assert ids == ref["input_ids"].tolist()
    if kind != "encoder":
        model = model.for_target(source, kind)
        ids = [t.id for t in model.target_tokens(str(ref["target"]))]
        assert ids == ref["decoder_input_ids"].tolist()
    expected = ref[KINDS[kind] + ("64" if float64 else "")]  # (layers, heads, n, m)
    assert expected.shape[:2] == (model.n_layers, model.n_heads)
    found, _ = model.run(ids, range(model.n_layers), range(model.n_heads), float64=float64)
    return max(float(np.abs(hs.steps.weights - expected[hs.layer, hs.head]).max())
               for hs in found)


def copy(name: str, tmp_path: Path, **changes: object) -> Path:
    d = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    if changes:
        edit_config(d, **changes)
    return d


# ---- T5 in the older form: "gated-gelu" is gelu_new ----


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", SEQ2SEQ)
def test_old_t5_form_matches_transformers(name: str, kind: str) -> None:
    assert worst(FIXTURES / name, name, kind) <= PARITY


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", SEQ2SEQ)
def test_old_t5_form_matches_transformers_in_float64(name: str, kind: str) -> None:
    assert worst(FIXTURES / name, name, kind, float64=True) <= 1e-6


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", OLD_T5)
def test_with_exact_gelu_the_old_form_no_longer_matches(name: str, kind: str,
                                                        tmp_path: Path) -> None:
    # what attncli did with "gated-gelu" alone: GELU with erf instead of its tanh approximation
    d = copy(name, tmp_path, dense_act_fn="gelu")
    assert worst(d, name, kind) > 1e-4


@pytest.mark.parametrize("name", OLD_T5)
def test_the_fixtures_are_in_the_older_form(name: str) -> None:
    config = json.loads((FIXTURES / name / "config.json").read_text())
    assert config["model_type"] == name.split("-")[0]
    assert config["feed_forward_proj"] == "gated-gelu"
    for key in ("dense_act_fn", "is_gated_act", "relative_attention_max_distance"):
        assert key not in config
    model = load_model(str(FIXTURES / name))
    assert type(model) is (MT5 if name == "mt5" else T5)
    assert model.gated and model.act is gelu_tanh
    assert (model.buckets, model.max_distance) == (8, 128)  # the distance: T5Config's default


@pytest.mark.parametrize(("config", "default", "gated", "act"), [
    ({"feed_forward_proj": "gated-gelu"}, "relu", True, "gelu_new"),  # t5-v1_1, T0, mt5
    ({"feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new"}, "relu", True, "gelu_new"),
    ({"feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu"}, "relu", True, "gelu"),
    ({"feed_forward_proj": "gelu"}, "relu", False, "gelu"),  # only "gated-gelu" is special
    ({"feed_forward_proj": "gated-silu"}, "relu", True, "silu"),
    ({"feed_forward_proj": "relu"}, "gated-gelu", False, "relu"),
    ({}, "relu", False, "relu"),  # T5Config's default
    ({}, "gated-gelu", True, "gelu_new"),  # MT5Config's
    ({"feed_forward_proj": "gated-gelu", "is_gated_act": False}, "relu", False, "gelu_new"),
])
def test_the_mlp_is_resolved_as_t5config_resolves_it(config: dict, default: str, gated: bool,
                                                     act: str) -> None:
    assert feed_forward_kind(config, default) == (gated, ACTIVATIONS[act])


def test_gelu_new_is_the_tanh_approximation_by_hand() -> None:
    # 0.5·(1 + tanh(√(2/π)·(1 + 0.044715))) = 0.5·(1 + tanh(0.833556)) = 0.841192, where
    # exact GELU, Φ(1) = 0.841345, differs in the fourth decimal
    _, act = feed_forward_kind({"feed_forward_proj": "gated-gelu"}, "relu")
    assert float(act(np.array([1.0], dtype=np.float32))[0]) == pytest.approx(0.841192, abs=1e-6)
    assert float(gelu(np.array([1.0], dtype=np.float32))[0]) == pytest.approx(0.841345, abs=1e-6)


@pytest.mark.parametrize(("config", "words"), [
    ({"feed_forward_proj": "gated-gelu-fast"}, ("'feed_forward_proj'", '"gated-gelu-fast"')),
    ({"feed_forward_proj": "fancy-gelu"}, ("'feed_forward_proj' must be one of", '"fancy-gelu"')),
    ({"feed_forward_proj": 3}, ("'feed_forward_proj'", "got 3")),
    ({"feed_forward_proj": "gated-relu2"}, ("'gated-relu'", 'got "gated-relu2"')),
    ({"feed_forward_proj": "gated-gelu", "dense_act_fn": "mish"},
     ("'dense_act_fn' must be one of", 'got "mish"')),
    ({"feed_forward_proj": "gated-gelu", "dense_act_fn": 3}, ("'dense_act_fn'", "got 3")),
    ({"feed_forward_proj": "gated-gelu", "is_gated_act": "yes"},
     ("'is_gated_act' must be true or false, got \"yes\"",)),
])
def test_an_mlp_attncli_does_not_compute_is_refused(config: dict, words: tuple[str, ...]
                                                    ) -> None:
    with pytest.raises(AttnError) as err:
        feed_forward_kind(config, "relu")
    for word in words:
        assert word in str(err.value)


def test_an_activation_attncli_does_not_compute_is_one_line_naming_the_field(
        tmp_path: Path) -> None:
    d = copy("t5-v1_1", tmp_path, dense_act_fn="gelu_10")  # in transformers' ACT2FN, not ours
    refused(run("explain", "a b", "--model", str(d)), "'dense_act_fn'", '"gelu_10"')
    d = copy("bert", tmp_path, hidden_act="relu2")
    refused(run("explain", "a b", "--model", str(d)), "'hidden_act'", '"relu2"')


# ---- mt5 ----


def test_mt5_runs_as_its_own_model_type() -> None:
    ref = reference("mt5")
    doc = ok_json(run("explain", str(ref["text"]), "--model", str(FIXTURES / "mt5"),
                      "--target", str(ref["target"]), "--attention", "cross", "--json"))
    assert doc["config"]["architecture"] == "mt5"
    assert (doc["config"]["stack"], doc["config"]["attention"]) == ("decoder", "cross")


def test_umt5_reads_each_blocks_own_bias_table() -> None:
    model = load_model(str(FIXTURES / "umt5"))
    assert type(model) is UMT5 and [model.table_block(i) for i in range(2)] == [0, 1]
    assert [T5.table_block(model, i) for i in range(2)] == [0, 0]  # t5 and mt5: block 0's


@pytest.mark.parametrize("kind", KINDS)
def test_umt5_with_block_0s_table_everywhere_no_longer_matches(kind: str, monkeypatch) -> None:
    monkeypatch.setattr(UMT5, "table_block", T5.table_block)  # t5's reading: block 0's table
    assert worst(FIXTURES / "umt5", "umt5", kind) > 0.1


# ---- BERT and RoBERTa with is_decoder: causal, as transformers runs them ----


@pytest.mark.parametrize("name", DECODERS)
def test_is_decoder_matches_transformers(name: str) -> None:
    assert max(layer_diffs(FIXTURES / name, name)) <= PARITY


@pytest.mark.parametrize("name", DECODERS)
def test_without_is_decoder_it_no_longer_matches(name: str, tmp_path: Path) -> None:
    d = copy(name, tmp_path, is_decoder=False)  # what attncli did: every token sees every token
    assert min(layer_diffs(d, name)) > 0.1


@pytest.mark.parametrize("name", DECODERS)
def test_is_decoder_says_causal_in_json_and_the_header(name: str) -> None:
    text = str(reference(name)["text"])
    model = str(FIXTURES / name)
    doc = ok_json(run("explain", text, "--model", model, "--head", "0", "--json"))
    assert doc["config"]["causal"] is True
    assert doc["config"]["architecture"] == name.split("-")[0]
    scaled = doc["heads"][0]["scaled"]
    n = len(scaled)
    assert all((scaled[i][j] is None) == (j > i) for i in range(n) for j in range(n))
    out = ok(run("explain", text, "--model", model, "--head", "0", width=200))
    assert f"· {name.split('-')[0]} (causal), 2 layers × 4 heads" in out


def test_an_encoder_says_nothing_of_a_causal_mask() -> None:
    out = ok(run("explain", "The animal was tired", "--model", str(FIXTURES / "bert"),
                 width=200))
    assert "· bert, 2 layers × 4 heads" in out and "(causal)" not in out


@pytest.mark.parametrize("name", DECODERS)
def test_is_decoder_predicts_the_next_token_as_transformers(name: str) -> None:
    ref = reference(name)
    model = load_model(str(FIXTURES / name))
    h, _ = model.forward(ref["input_ids"])
    assert np.abs(model.logits(h)[-1] - ref["logits"]).max() < 1e-4
    doc = ok_json(run("predict", str(ref["text"]), "--model", str(FIXTURES / name), "--json"))
    assert doc["kind"] == "next"


@pytest.mark.parametrize(("name", "causal"), [("electra", True), ("xlm-roberta", True),
                                              ("distilbert", False)])
def test_is_decoder_is_honoured_where_transformers_honours_it(name: str, causal: bool,
                                                               tmp_path: Path) -> None:
    # ElectraModel and XLMRobertaModel mask causally with is_decoder; DistilBertModel ignores it
    model = load_model(str(copy(name, tmp_path, is_decoder=True)))
    assert model.causal is causal


def test_distilbert_ignores_is_decoder_as_transformers_does(tmp_path: Path) -> None:
    d = copy("distilbert", tmp_path, is_decoder=True)
    assert max(layer_diffs(d, "distilbert")) <= PARITY


@pytest.mark.parametrize(("changes", "words"), [
    ({"is_decoder": True, "add_cross_attention": True}, ("add_cross_attention", "encoder")),
    ({"is_decoder": "yes"}, ("'is_decoder' must be true or false, got \"yes\"",)),
])
def test_what_bert_does_not_compute_is_refused(changes: dict, words: tuple[str, ...],
                                               tmp_path: Path) -> None:
    d = copy("bert", tmp_path, **changes)
    refused(run("explain", "a b", "--model", str(d)), *words)
