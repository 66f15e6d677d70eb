"""attn predict: the whole forward pass, the final norm and the LM head, against transformers.

The fixtures gpt2-lm, llama-lm (untied lm_head), qwen2-lm (tied), phi3-lm, olmo2-lm,
gemma2-lm (tied, (1 + w) final norm, soft-capped logits), gpt_neox-lm (untied embed_out),
opt-lm (project_out to a narrower tied head), bert-mlm, roberta-mlm, xlm-roberta-mlm,
distilbert-mlm and electra-mlm (a head narrower than the layers) hold
transformers' logits in reference.npz: the last position's for a decoder, every
position's for a masked LM (whose sentence has a mask token). The T5 fixtures (t5-lm,
t5-v1_1-lm and the attention ones) hold every decoder position's for a source and a target.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import FIXTURES, invoke, ok, ok_json, refused
from hypothesis import given
from hypothesis import strategies as st

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


# ---- the T5 decoder: t5-lm (original t5: tied, scaled), t5-v1_1-lm (its own lm_head), and
# the attention fixtures t5, t5-v1_1, mt5, umt5 (tied, config.json's scale_decoder_outputs
# false or mt5's head), whose reference.npz holds every decoder position's logits too ----

T5_LM = ("t5-lm", "t5-v1_1-lm")
T5_ALL = (*T5_LM, "t5", "t5-v1_1", "mt5", "umt5")


def seq2seq_reference(name: str):
    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        return (str(npz["text"]), str(npz["target"]), npz["input_ids"], npz["decoder_input_ids"],
                npz["logits"])


@pytest.mark.parametrize("name", T5_ALL)
def test_t5_decoder_logits_match_transformers_at_every_target_position(name):
    model = load_model(str(FIXTURES / name))
    text, target, ids, decoder_ids, want = seq2seq_reference(name)
    source = model.tokens(text)
    assert [t.id for t in source] == ids.tolist()
    decoder = model.for_target(source, "self")
    tokens = decoder.target_tokens(target)
    assert [t.id for t in tokens] == decoder_ids.tolist()
    h, weights = decoder.forward([t.id for t in tokens])
    got = decoder.logits(h)  # (n_target, vocab)
    assert len(weights) == decoder.n_decoder_layers
    assert got.shape == want.shape
    assert np.abs(got - want).max() < LOGITS


@pytest.mark.parametrize("name", T5_LM)
def test_predict_with_a_target_is_the_decoders_last_row_and_empty_its_first(name):
    model = load_model(str(FIXTURES / name))
    text, target, _, decoder_ids, want = seq2seq_reference(name)
    pr = predict(text, model, top=5, target=target)
    assert [t.id for t in pr.tokens] == decoder_ids.tolist()
    assert pr.positions == [len(decoder_ids) - 1] and pr.kind == "next"
    assert [t.id for t in pr.source_tokens] == [t.id for t in model.tokens(text)]
    assert np.abs(pr.logits[0] - want[-1]).max() < LOGITS
    order = np.argsort(-want[-1], kind="stable")[:5]
    assert [c.id for c in pr.predictions[0].top] == order.tolist()
    first = predict(text, model, target="")
    assert [t.id for t in first.tokens] == [model.start]  # only the decoder start token
    assert first.positions == [0] and first.heads == []  # no other token to look at
    assert np.abs(first.logits[0] - want[0]).max() < LOGITS


def test_original_t5_scales_its_tied_head_and_v1_1_reads_its_own():
    tied, untied = load_model(str(FIXTURES / "t5-lm")), load_model(str(FIXTURES / "t5-v1_1-lm"))
    assert tied.head_scaled and not untied.head_scaled
    assert np.array_equal(tied.lm_head().w, tied.tensor("wte", np.float32))
    assert not np.allclose(untied.lm_head().w, untied.tensor("wte", np.float32))


@pytest.mark.parametrize(("model_type", "fields", "scaled"), [
    ("t5", {}, True),  # original t5's config.json: tied when left out, so scaled
    ("t5", {"tie_word_embeddings": False}, False),  # t5-v1_1's
    ("t5", {"tie_word_embeddings": True, "scale_decoder_outputs": False}, False),  # as saved by 5.x
    ("umt5", {}, True),
    ("umt5", {"tie_word_embeddings": False}, False),
    ("mt5", {"tie_word_embeddings": True, "scale_decoder_outputs": True}, False),  # never
])
def test_the_head_scale_follows_config_json_as_transformers_reads_it(
        tmp_path, model_type, fields, scaled):
    import json
    import shutil

    d = shutil.copytree(FIXTURES / "t5-lm", tmp_path / "t5-lm")
    config = json.loads((d / "config.json").read_text())
    config.pop("tie_word_embeddings")
    (d / "config.json").write_text(json.dumps({**config, **fields, "model_type": model_type}))
    model = load_model(str(d))
    assert model.head_scaled is scaled
    if model_type == "umt5":
        return  # its blocks each need a bias table, which t5-lm's have not
    text, target, _, _, want = seq2seq_reference("t5-lm")
    got = predict(text, model, target=target).logits[0]
    assert bool(np.abs(got - want[-1]).max() < LOGITS) is scaled  # the reference is scaled


def test_cli_predicts_the_decoders_next_token_after_the_target():
    name = str(FIXTURES / "t5-lm")
    text, target, ids, decoder_ids, want = seq2seq_reference("t5-lm")
    out = ok(invoke("predict", text, "--model", name, "--target", target, "--top", "3"))
    assert f"Target “{target}”" in out
    assert "the decoder reads 8 tokens: its start token, then the target's 7" in " ".join(
        out.split())
    assert "Decoder's next token after" in out and "the decoder's self-attention" in out
    doc = ok_json(invoke("predict", text, "--model", name, "--target", target, "--json"))
    assert [t["id"] for t in doc["tokens"]] == ids.tolist()  # TEXT's: the encoder's input
    assert doc["target"]["text"] == target
    assert [t["id"] for t in doc["target"]["tokens"]] == decoder_ids.tolist()
    assert doc["positions"] == [len(decoder_ids) - 1]
    top = doc["predictions"][0]["top"][0]
    assert top["id"] == int(np.argmax(want[-1]))
    assert top["logit"] == pytest.approx(float(want[-1].max()), abs=LOGITS)
    assert all(h["key_token"] == doc["target"]["tokens"][h["key"]]["text"] for h in doc["heads"])
    first = ok_json(invoke("predict", text, "--model", name, "--target", "", "--json"))
    assert first["target"] == {"text": "", "tokens": [
        {"text": "<pad>", "id": 0, "start": 0, "end": 0}]}
    assert first["predictions"][0]["top"][0]["id"] == int(np.argmax(want[0]))
    plain = ok_json(invoke("predict", "The capital of France is", "--model",
                           str(FIXTURES / "gpt2-lm"), "--json"))
    assert "target" not in plain


def test_refuses_t5_without_a_target_naming_the_option():
    refused(invoke("predict", "The animal", "--model", str(FIXTURES / "t5-lm")),
            "is an encoder-decoder (t5)", "predicts the token after --target", "give --target")


def test_refuses_a_target_for_a_model_with_one_stack():
    refused(invoke("predict", "The capital of France is", "--model", str(FIXTURES / "gpt2-lm"),
                   "--target", "Paris"), "is a gpt2 model", "no decoder to read a target text")


@pytest.mark.parametrize("args", [
    ("predict", "--ablate", "0.1"),
    ("heads", "--effect"),
    ("lens",),
    ("attribute",),
])
def test_the_one_stack_analyses_refuse_t5(args):
    command, *rest = args
    refused(invoke(command, "The animal", "--model", str(FIXTURES / "t5-lm"), *rest),
            "does not run encoder-decoder models (t5) yet", "an encoder, and a decoder")


def test_refuses_a_target_with_ablate():
    refused(invoke("predict", "The animal", "--model", str(FIXTURES / "t5-lm"), "--target", "Das",
                   "--ablate", "0.1"), "--target cannot be combined with --ablate")


def test_refuses_a_t5_base_model(tmp_path):
    import json
    import shutil

    d = shutil.copytree(FIXTURES / "t5", tmp_path / "t5")
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "architectures": ["T5Model"]}))
    refused(invoke("predict", "The animal", "--model", str(d), "--target", ""),
            "no LM head", "lm_head.weight", "base model (T5Model)")


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
