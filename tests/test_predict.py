"""attn predict: the whole forward pass, the final norm and the LM head, against transformers.

The fixtures gpt2-lm, llama-lm (untied lm_head), qwen2-lm (tied), phi3-lm, olmo2-lm,
gemma2-lm (tied, (1 + w) final norm, soft-capped logits), gpt_neox-lm (untied embed_out),
opt-lm (project_out to a narrower tied head), bert-mlm, roberta-mlm, xlm-roberta-mlm,
distilbert-mlm and electra-mlm (a head narrower than the layers) hold
transformers' logits in reference.npz: the last position's for a decoder, every
position's for a masked LM (whose sentence has a mask token).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import FIXTURES, invoke, ok, ok_json, refused
from hypothesis import given
from hypothesis import strategies as st

from attncli.errors import AttnError
from attncli.models import load_model
from attncli.predict import predict, softmax, top_k

LOGITS = 1e-4  # ours against transformers' logits
DECODERS = ("gpt2-lm", "llama-lm", "qwen2-lm", "phi3-lm", "olmo2-lm", "gemma2-lm",
            "gpt_neox-lm", "opt-lm")
MLMS = ("bert-mlm", "roberta-mlm", "xlm-roberta-mlm", "distilbert-mlm", "electra-mlm")


def reference(name: str):
    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        return str(npz["text"]), npz["input_ids"], npz["logits"]


@pytest.mark.parametrize("name", DECODERS + MLMS)
def test_logits_match_transformers(name):
    model = load_model(str(FIXTURES / name))
    text, ids, want = reference(name)
    assert [t.id for t in model.tokens(text)] == ids.tolist()
    h, weights = model.forward(ids)
    got = model.logits(h)  # (n, vocab)
    assert len(weights) == model.n_layers
    if name in DECODERS:
        got = got[-1]  # the reference holds the last position's
    assert got.shape == want.shape
    assert np.abs(got - want).max() < LOGITS


@pytest.mark.parametrize("name", DECODERS + MLMS)
def test_top_k_is_the_softmax_of_the_logits_in_order(name):
    model = load_model(str(FIXTURES / name))
    text, _, want = reference(name)
    pr = predict(text, model, top=7)
    for p, row in zip(pr.predictions, pr.logits, strict=True):
        probs = softmax(row)
        assert probs.sum() == pytest.approx(1.0)
        order = np.argsort(-row, kind="stable")[:7]
        assert [c.id for c in p.top] == order.tolist()
        assert [c.probability for c in p.top] == pytest.approx(probs[order].tolist())
        assert all(a.logit >= b.logit for a, b in zip(p.top, p.top[1:], strict=False))
        expected = want if name in DECODERS else want[p.position]
        assert [c.logit for c in p.top] == pytest.approx(expected[order].tolist(), abs=LOGITS)
    if name in MLMS:
        assert len(pr.predictions) == 1
        assert pr.tokens[pr.positions[0]].text.strip() in ("[MASK]", "<mask>")
    else:
        assert pr.positions == [len(pr.tokens) - 1]
    assert [h.layer for h in pr.heads] == list(range(model.n_layers))
    for h in pr.heads:
        assert h.key != h.position and 0 < h.weight <= 1


def test_gemma2_without_its_final_soft_cap_misses_the_logits(tmp_path):
    import json
    import shutil

    d = shutil.copytree(FIXTURES / "gemma2-lm", tmp_path / "gemma2-lm")
    config = json.loads((d / "config.json").read_text())
    assert config["final_logit_softcapping"] == 3.0
    (d / "config.json").write_text(json.dumps({**config, "final_logit_softcapping": None}))
    text, ids, want = reference("gemma2-lm")
    model = load_model(str(d))
    got = model.logits(model.forward(ids)[0])[-1]
    assert np.abs(got - want).max() > 0.1  # uncapped logits run past ±3
    assert np.abs(want).max() < 3


def test_cli_lists_k_next_tokens():
    out = ok(invoke("predict", "The capital of France is", "--model",
                    str(FIXTURES / "gpt2-lm"), "--top", "4"))
    assert "Next token after" in out
    ranks = re.findall(r"^ +(\d+)\. ", out.split("Heads")[0], flags=re.MULTILINE)
    assert ranks == ["1", "2", "3", "4"]
    assert "layer  0 head" in out


def test_cli_json_has_the_keys():
    doc = ok_json(invoke("predict", "The capital of France is", "--model",
                         str(FIXTURES / "llama-lm"), "--json"))
    assert doc["schema"] == "attncli.predict/1"
    assert {"text", "tokens", "positions", "predictions", "heads"} <= set(doc)
    assert doc["positions"] == [len(doc["tokens"]) - 1]
    (pred,) = doc["predictions"]
    assert len(pred["top"]) == 5
    assert set(pred["top"][0]) == {"token", "id", "probability", "logit"}
    assert {"layer", "head", "key", "weight"} <= set(doc["heads"][0])


def test_cli_fills_the_mask():
    text = "The animal didn't cross the [MASK] because it was tired"
    out = ok(invoke("predict", text, "--model", str(FIXTURES / "bert-mlm"), "--top", "3"))
    assert "Fills for the mask at position 8, top 3" in out
    doc = ok_json(invoke("predict", text, "--model", str(FIXTURES / "bert-mlm"), "--json"))
    assert doc["positions"] == [8] and doc["tokens"][8]["text"] == "[MASK]"


def test_refuses_t5_saying_why():
    refused(invoke("predict", "The animal", "--model", str(FIXTURES / "t5")),
            "predicting tokens does not run t5 yet", "from a source text")


def test_refuses_a_post_norm_opt_without_its_final_norm(tmp_path):
    import json
    import shutil

    d = shutil.copytree(FIXTURES / "opt-lm", tmp_path / "opt-lm")
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "do_layer_norm_before": False}))
    refused(invoke("predict", "The animal", "--model", str(d)),
            "needs the final LayerNorm", "post-norm OPT")


def test_opt_folds_project_out_into_its_head():
    model = load_model(str(FIXTURES / "opt-lm"))
    assert (model.d_embed, model.d_model) == (16, 32)
    assert model.lm_head().w.shape == (model.vocab_size, model.d_model)


@pytest.mark.parametrize(("name", "tensor"), [
    ("gpt2", "lm_head.weight"), ("llama", "lm_head.weight"), ("qwen2", "lm_head.weight"),
    ("phi3", "lm_head.weight"), ("gemma2", "lm_head.weight"),
    ("bert", "cls.predictions.transform.dense.weight"), ("roberta", "lm_head.dense.weight"),
    ("gpt_neox", "embed_out.weight"), ("opt", "lm_head.weight"),
    ("distilbert", "vocab_transform.weight"), ("electra", "generator_predictions.dense.weight"),
    ("xlm-roberta", "lm_head.dense.weight")])
def test_refuses_a_base_model(name, tensor):
    refused(invoke("predict", "The [MASK] <mask> animal", "--model", str(FIXTURES / name)),
            "no LM head", tensor, "base model")


def test_refuses_a_masked_lm_without_a_mask():
    refused(invoke("predict", "The animal was tired", "--model", str(FIXTURES / "bert-mlm")),
            "put [MASK] where a word should go")
    refused(invoke("predict", "The animal was tired", "--model",
                   str(FIXTURES / "roberta-mlm")), "put <mask>")


def test_refuses_no_model():
    refused(invoke("predict", "The animal"), "needs --model")


@pytest.mark.parametrize("name", ["t5", "mt5", "umt5"])
def test_base_class_refuses(name):
    model = load_model(str(FIXTURES / name))
    with pytest.raises(AttnError, match=f"does not run {name} yet"):
        model.logits(np.zeros((1, model.d_model), dtype=np.float32))


class _Vocab:
    """A stand-in model for top_k: token i is called t{i}."""

    class tokenizer:  # noqa: N801
        @staticmethod
        def id_to_token(i: int) -> str:
            return f"t{i}"


@given(st.lists(st.integers(-3, 3), min_size=1, max_size=40), st.integers(1, 50))
def test_top_k_orders_like_a_full_stable_sort_ties_by_lower_id(values: list[int], k: int) -> None:
    logits = np.array(values, dtype=np.float32)  # few distinct values: many ties
    found = [c.id for c in top_k(_Vocab, logits, k)]
    assert found == np.argsort(-logits, kind="stable")[:k].tolist()
    probs = softmax(logits)
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert [c.probability for c in top_k(_Vocab, logits, k)] == [float(probs[i]) for i in found]
