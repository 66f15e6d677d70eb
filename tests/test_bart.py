"""bart, mbart, marian and pegasus (issue 28): one encoder-decoder with options (models/bart.py).

Each fixture (scripts/make_model_fixtures.py, bart_like) has 2 encoder and 3 decoder layers,
hidden 16, 4 heads, scale_embedding on and a noisy final_logits_bias; its reference.npz holds
transformers' encoder, decoder and cross attentions (float32 and float64) and the logits at
every target position, for SHORT and the target "The animal was tired". Each mechanism a
family has of its own is taken away once below, and parity must then fail.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, PARITY, edit_config, invoke, ok_json, reference, refused
from safetensors.numpy import load_file, save_file

from attncli.models import bart, load_model
from attncli.models.blocks import PostNorm, PreNorm

TYPES = ("bart", "mbart", "marian", "pegasus")
KINDS = {"encoder": "attentions", "self": "decoder_attentions", "cross": "cross_attentions"}
LOGITS = 1e-4  # as tests/test_predict.py


def worst(directory: Path, kind: str, float64: bool = False) -> float:
    """The largest |ours − transformers'| over every layer and head of one attention."""
    ref = reference(directory.name)
    model = load_model(str(directory))
    source = model.tokens(str(ref["text"]))
    assert [t.id for t in source] == ref["input_ids"].tolist()
    ids = [t.id for t in source]
    if kind != "encoder":
        model = model.for_target(source, kind)
        ids = [t.id for t in model.target_tokens(str(ref["target"]))]
        assert ids == ref["decoder_input_ids"].tolist()  # start token + target, no closing one
    expected = ref[KINDS[kind] + ("64" if float64 else "")]  # (layers, heads, n, m)
    assert expected.shape[:2] == (model.n_layers, model.n_heads)
    found, _ = model.run(ids, range(model.n_layers), range(model.n_heads), float64=float64)
    assert len(found) == model.n_layers * model.n_heads
    return max(float(np.abs(hs.steps.weights - expected[hs.layer, hs.head]).max())
               for hs in found)


def logits_gap(directory: Path) -> float:
    """The largest |ours − transformers'| over the logits at every target position."""
    ref = reference(directory.name)
    model = load_model(str(directory))
    decoder = model.for_target(model.tokens(str(ref["text"])), "self")
    h, weights = decoder.forward([t.id for t in decoder.target_tokens(str(ref["target"]))])
    assert len(weights) == 3
    got = decoder.logits(h)  # (n_target, vocab)
    assert got.shape == ref["logits"].shape
    return float(np.abs(got - ref["logits"]).max())


# ---- parity, every layer and head ----


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_head_matches_transformers(name: str, kind: str) -> None:
    assert worst(FIXTURES / name, kind) <= PARITY


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_float64_matches_transformers_in_float64(name: str, kind: str) -> None:
    assert worst(FIXTURES / name, kind, float64=True) <= 1e-6


@pytest.mark.parametrize("name", TYPES)
def test_logits_match_transformers_at_every_target_position(name: str) -> None:
    assert logits_gap(FIXTURES / name) < LOGITS


@pytest.mark.parametrize("name", TYPES)
def test_predict_with_a_target_is_the_decoders_last_row(name: str) -> None:
    ref = reference(name)
    doc = ok_json(invoke("predict", str(ref["text"]), "--model", str(FIXTURES / name),
                         "--target", str(ref["target"]), "--json"))
    assert [t["id"] for t in doc["target"]["tokens"]] == ref["decoder_input_ids"].tolist()
    top = doc["predictions"][0]["top"][0]
    assert top["id"] == int(np.argmax(ref["logits"][-1]))
    assert top["logit"] == pytest.approx(float(ref["logits"][-1].max()), abs=LOGITS)


def test_the_fixtures_are_the_four_kinds() -> None:
    kinds = {name: (load_model(str(FIXTURES / name)).block, load_model(
        str(FIXTURES / name)).order) for name in TYPES}
    assert kinds == {"bart": (PostNorm, "learned"), "mbart": (PreNorm, "learned"),
                     "marian": (PostNorm, "sinusoidal"), "pegasus": (PreNorm, "sinusoidal")}


def test_sinusoids_by_hand() -> None:
    # d = 4: column angles p / 10000^0, p / 10000^0, p / 10000^(1/2), p / 10000^(1/2); sines
    # of columns 0 and 2 first, then cosines of columns 1 and 3
    got = bart.sinusoids(2, 4)
    want = [[0, 0, 1, 1], [np.sin(1), np.sin(0.01), np.cos(1), np.cos(0.01)]]
    np.testing.assert_allclose(got, np.array(want, dtype=np.float32), rtol=0, atol=0)
    assert bart.sinusoids(3, 5).shape == (3, 5)  # odd: three sines, two cosines
    assert bart.sinusoids(1, 5)[0].tolist() == [0, 0, 0, 1, 1]


# ---- feature off: parity fails ----


@pytest.mark.parametrize("kind", KINDS)
def test_bart_positions_without_the_offset_fail(kind: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def from_row_0(self, n: int, dtype: type) -> np.ndarray:  # rows 0.., not 2..
        return self.tensor("wpe", dtype, rows=np.arange(n), stack=self.stack)

    monkeypatch.setattr(bart.Bart, "positions", from_row_0)
    assert worst(FIXTURES / "bart", kind) > 1e-3


@pytest.mark.parametrize("name", TYPES)
def test_without_the_embedding_scale_parity_fails(name: str, tmp_path: Path) -> None:
    d = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    edit_config(d, scale_embedding=False)
    assert worst(d, "encoder") > 1e-3


@pytest.mark.parametrize("name", TYPES)
def test_without_final_logits_bias_the_logits_fail(name: str, tmp_path: Path) -> None:
    d = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    tensors = load_file(str(d / "model.safetensors"))
    del tensors["final_logits_bias"]
    save_file(tensors, str(d / "model.safetensors"), metadata={"format": "pt"})
    assert worst(d, "cross") <= PARITY  # the attention does not read it
    assert logits_gap(d) > 1e-2


@pytest.mark.parametrize("name", ["bart", "mbart"])
def test_without_layernorm_embedding_parity_fails(name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bart.Bart, "embedding_norm", False)
    monkeypatch.setattr(bart.MBart, "embedding_norm", False)
    assert worst(FIXTURES / name, "encoder") > 1e-3


@pytest.mark.parametrize("name", ["marian", "pegasus"])
def test_interleaved_sinusoids_fail(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = bart.sinusoids

    def interleaved(n: int, d: int) -> np.ndarray:  # sin, cos, sin, cos, … (the toy mode's)
        out = original(n, d)
        half = (d + 1) // 2
        mixed = np.empty_like(out)
        mixed[:, 0::2], mixed[:, 1::2] = out[:, :half], out[:, half:]
        return mixed

    monkeypatch.setattr(bart, "sinusoids", interleaved)
    assert worst(FIXTURES / name, "encoder") > 1e-3


@pytest.mark.parametrize("name", TYPES)
def test_the_other_norm_order_fails(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = type(load_model(str(FIXTURES / name)))
    monkeypatch.setattr(cls, "block", PreNorm if cls.block is PostNorm else PostNorm)
    assert worst(FIXTURES / name, "encoder") > 1e-3  # layer 1 reads layer 0's output


@pytest.mark.parametrize("name", ["mbart", "pegasus"])
def test_without_the_stacks_final_norms_parity_fails(name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    original = bart.Bart.norm_at

    def no_stack_norm(self, key, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None if key == "stack_norm" else original(self, key, *args, **kwargs)

    monkeypatch.setattr(bart.Bart, "norm_at", no_stack_norm)
    assert worst(FIXTURES / name, "cross") > 1e-3  # the encoder's, which the keys come from
    assert logits_gap(FIXTURES / name) > 1e-2  # the decoder's, before the head


# ---- refused ----


def test_stacks_of_different_heads_or_widths_are_refused(tmp_path: Path) -> None:
    d = Path(shutil.copytree(FIXTURES / "bart", tmp_path / "bart"))
    edit_config(d, decoder_attention_heads=2)
    refused(invoke("explain", "The animal", "--model", str(d)),
            "'decoder_attention_heads' 2 differs", "same heads")
    edit_config(d, decoder_attention_heads=4, decoder_ffn_dim=32)
    refused(invoke("explain", "The animal", "--model", str(d)), "'decoder_ffn_dim' 32 differs")


def test_a_marian_decoder_with_its_own_vocabulary_is_refused(tmp_path: Path) -> None:
    d = Path(shutil.copytree(FIXTURES / "marian", tmp_path / "marian"))
    edit_config(d, share_encoder_decoder_embeddings=False)
    refused(invoke("explain", "The animal", "--model", str(d)),
            "'share_encoder_decoder_embeddings' false", "not supported")
    edit_config(d, share_encoder_decoder_embeddings=True, decoder_vocab_size=99)
    refused(invoke("explain", "The animal", "--model", str(d)), "'decoder_vocab_size' 99")
