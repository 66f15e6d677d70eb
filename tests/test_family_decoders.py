"""Issue 28's decoders (phi, gpt_neo, gptj, gpt_bigcode, ...): fixtures, LM heads, and each
mechanism of their own shown to count.

tests/test_models.py checks every head of every fixture against transformers. Here each
fixture (a …ForCausalLM) also has its logits checked, and each test of a mechanism first
shows that an unmodified copy matches its reference, then takes the mechanism away (in the
copy's config.json, or in the family's code) and shows that parity, to the same 1e-5, no
longer holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import FIXTURES, PARITY, copy_that_matches, edit_config, invoke, layer_diffs, ok_json

from attncli.models import FAMILIES, load_model
from attncli.models.base import Model
from attncli.models.gpt_bigcode import GPTBigCode
from attncli.models.gpt_neo import GPTNeo
from attncli.models.gptj import GPTJ
from attncli.models.layers import layer_norm, rms_norm
from attncli.models.olmo import Olmo
from attncli.models.rope import rope
from attncli.models.starcoder2 import Starcoder2

DECODERS = ["phi", "gpt_neo", "gptj", "gpt_bigcode", "starcoder2", "olmo"]
DECODERS += ["stablelm", "cohere", "smollm3", "falcon", "gemma3", "granite"]  # i28-more
DECODERS += ["helium"]
LOGITS = 1e-4  # as test_predict.py
SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "attncli" / "explain.schema.json")
                    .read_text(encoding="utf-8"))


def config_of(directory: Path) -> dict:
    return json.loads((directory / "config.json").read_text())


@pytest.mark.parametrize("name", DECODERS)
def test_each_decoder_has_a_small_fixture_and_is_registered(name: str) -> None:
    assert config_of(FIXTURES / name)["model_type"] == name and name in FAMILIES
    size = sum(p.stat().st_size for p in (FIXTURES / name).iterdir())
    assert size < 120_000, size
    assert max(layer_diffs(FIXTURES / name, name)) <= PARITY


@pytest.mark.parametrize("name", DECODERS)
def test_each_decoders_logits_match_transformers(name: str) -> None:
    model = load_model(str(FIXTURES / name))
    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        ids, want = npz["input_ids"], npz["logits"]
    h, _ = model.forward(ids.tolist())
    got = model.logits(h)[-1]  # the reference holds the last position's
    assert got.shape == want.shape and np.abs(got - want).max() < LOGITS


@pytest.mark.parametrize("name", DECODERS)
def test_predict_runs_each_decoders_head(name: str) -> None:
    doc = ok_json(invoke("predict", "The animal was", "--model", str(FIXTURES / name),
                         "--json"))
    assert doc["predictions"][-1]["top"]


# ---- phi ----


def test_phi_with_full_rotary_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("phi", tmp_path)
    rope_parameters = config_of(d)["rope_parameters"]
    assert rope_parameters["partial_rotary_factor"] == 0.5
    edit_config(d, rope_parameters={**rope_parameters, "partial_rotary_factor": 1.0})
    assert all(diff > PARITY for diff in layer_diffs(d, "phi"))


def test_phi_without_its_q_k_layernorm_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("phi", tmp_path)
    edit_config(d, qk_layernorm=False)
    assert all(diff > PARITY for diff in layer_diffs(d, "phi"))


def test_phi_without_its_head_bias_misses_the_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_model(str(FIXTURES / "phi"))
    with np.load(FIXTURES / "phi" / "reference.npz", allow_pickle=False) as npz:
        ids, want = npz["input_ids"], npz["logits"]
    h, _ = model.forward(ids.tolist())
    assert np.abs(model.logits(h)[-1] - want).max() < LOGITS
    monkeypatch.setattr(Model, "lm_head", Model.lm_head)  # lm_head without the bias
    monkeypatch.setattr(type(model), "lm_head", Model.lm_head)
    assert np.abs(model.logits(h)[-1] - want).max() > LOGITS


# ---- gpt_neo: no scaling, local layers ----


def test_gpt_neo_with_its_scores_scaled_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = copy_that_matches("gpt_neo", tmp_path)
    monkeypatch.setattr(GPTNeo, "variant", lambda self, n, i, attn, x: Model.variant(
        self, n, i, attn, x))  # the lesson's ÷√d_k
    assert all(diff > PARITY for diff in layer_diffs(d, "gpt_neo"))


def test_gpt_neo_with_no_local_layer_no_longer_matches_the_local_one(tmp_path: Path) -> None:
    d = copy_that_matches("gpt_neo", tmp_path)
    assert config_of(d)["attention_layers"] == ["global", "local"]
    assert config_of(d)["window_size"] * 2 < len(load_model(str(d)).tokens(
        "The animal didn't cross the street because it was tired"))
    edit_config(d, attention_layers=["global", "global"])
    first, second = layer_diffs(d, "gpt_neo")
    assert first <= PARITY < second


def test_gpt_neo_shows_no_scaling_as_its_own_step() -> None:
    doc = ok_json(invoke("explain", "The animal was tired", "--model",
                         str(FIXTURES / "gpt_neo"), "--layer", "1", "--from", "tired", "--to",
                         "animal", "--json"))
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    (head,) = doc["heads"]
    assert head["scale_skipped"] is True and "scale" not in head
    for scaled, scores in zip(head["scaled"], head["scores"], strict=True):
        assert [a for a in scaled if a is not None] == scores[:len(
            [a for a in scaled if a is not None])]  # nothing divided (null: masked)
    assert doc["pair"]["divisor"] == 1 and doc["pair"]["divided"] == doc["pair"]["score"]
    words = " ".join(invoke("explain", "The animal was tired", "--model",
                            str(FIXTURES / "gpt_neo"), "--layer", "1", "--show", "scaled",
                            width=100).output.split())
    assert "Step 4a · No scaling: scaled = scores" in words
    assert "This model (gpt_neo) does not divide its scores by √d_k = 2.828" in words
    pair = " ".join(invoke("explain", "The animal was tired", "--model",
                           str(FIXTURES / "gpt_neo"), "--layer", "1", "--from", "tired",
                           "--to", "animal", width=100).output.split())
    assert "Step 4a · no scaling: scaled = score (this model never divides by √d_k)" in pair


def test_a_scaling_models_heads_say_nothing_of_skipping() -> None:
    doc = ok_json(invoke("explain", "The animal was tired", "--model",
                         str(FIXTURES / "gpt_bigcode"), "--json"))
    assert "scale_skipped" not in doc["heads"][0]


# ---- gptj: interleaved RoPE on part of each head ----


def test_gptj_with_rotate_half_rope_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = copy_that_matches("gptj", tmp_path)
    monkeypatch.setattr(GPTJ, "rotation", lambda self, n, i: rope(n, self.inv_freq))
    assert all(diff > PARITY for diff in layer_diffs(d, "gptj"))


def test_gptj_rotating_every_dimension_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("gptj", tmp_path)
    assert config_of(d)["rotary_dim"] == 4
    edit_config(d, rotary_dim=8)
    assert all(diff > PARITY for diff in layer_diffs(d, "gptj"))


def test_gptj_turns_neighbouring_dimensions_by_hand() -> None:
    from attncli.models.rope import interleaved_rope

    inv_freq = np.array([1.0, 0.5], dtype=np.float32)
    t = np.arange(2 * 6, dtype=np.float64).reshape(2, 6)  # positions 0 and 1, head_dim 6
    out = interleaved_rope(2, inv_freq)(t)
    np.testing.assert_array_equal(out[0], t[0])  # position 0: angle 0
    c1, s1, c2, s2 = np.cos(1.0), np.sin(1.0), np.cos(0.5), np.sin(0.5)
    # t[1] is [6, 7, 8, 9, 10, 11]: pairs (6, 7) by 1 rad, (8, 9) by 0.5, 10 and 11 pass
    want = [6 * c1 - 7 * s1, 7 * c1 + 6 * s1, 8 * c2 - 9 * s2, 9 * c2 + 8 * s2, 10, 11]
    np.testing.assert_allclose(out[1], want, rtol=1e-6)


# ---- gpt_bigcode: one key/value head, learned positions ----


def test_gpt_bigcode_shares_one_key_head_among_its_queries() -> None:
    model = load_model(str(FIXTURES / "gpt_bigcode"))
    assert (model.n_heads, model.n_kv_heads) == (4, 1)
    first, last = model.attention([1, 2, 3], [0], [0, 3])
    np.testing.assert_array_equal(first.steps.k, last.steps.k)


def test_gpt_bigcode_without_its_positions_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = copy_that_matches("gpt_bigcode", tmp_path)
    monkeypatch.setattr(GPTBigCode, "embed",  # the token embeddings alone
                        lambda self, ids, dtype=np.float32: self.tensor("wte", dtype, rows=ids))
    assert all(diff > PARITY for diff in layer_diffs(d, "gpt_bigcode"))


def test_gpt_bigcode_unscaled_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("gpt_bigcode", tmp_path)
    edit_config(d, scale_attn_weights=False)
    assert all(diff > PARITY for diff in layer_diffs(d, "gpt_bigcode"))


@pytest.mark.parametrize(("changes", "words"), [
    ({"multi_query": False}, "'multi_query' false"),
    ({"add_cross_attention": True}, "'add_cross_attention'"),
])
def test_gpt_bigcode_refuses_what_it_does_not_run(tmp_path: Path, changes: dict,
                                                  words: str) -> None:
    d = copy_that_matches("gpt_bigcode", tmp_path)
    edit_config(d, **changes)
    result = invoke("explain", "hi", "--model", str(d))
    assert result.exit_code == 2 and words in result.output



# ---- starcoder2: LayerNorms with biases, a window in every layer ----


def test_starcoder2_without_its_window_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("starcoder2", tmp_path)
    assert config_of(d)["sliding_window"] == 4
    edit_config(d, sliding_window=None)
    assert all(diff > PARITY for diff in layer_diffs(d, "starcoder2"))


def test_starcoder2_without_its_norm_biases_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = copy_that_matches("starcoder2", tmp_path)
    monkeypatch.setattr(Starcoder2, "normalise", lambda self, x, norm: layer_norm(
        x, norm.w, np.zeros_like(norm.w), self.eps))
    assert all(diff > PARITY for diff in layer_diffs(d, "starcoder2"))


# ---- olmo: LayerNorms with no parameters ----


def test_olmo_with_rms_norms_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = copy_that_matches("olmo", tmp_path)
    monkeypatch.setattr(Olmo, "normalise", lambda self, x, norm: rms_norm(
        x, np.ones(x.shape[-1], dtype=x.dtype), 1e-5))
    assert all(diff > PARITY for diff in layer_diffs(d, "olmo"))


def test_olmo_refuses_clip_qkv(tmp_path: Path) -> None:
    d = copy_that_matches("olmo", tmp_path)
    edit_config(d, clip_qkv=8.0)
    result = invoke("explain", "hi", "--model", str(d))
    assert result.exit_code == 2 and "'clip_qkv' 8.0" in result.output


# ---- i28-more: stablelm ----


def test_stablelm_with_one_q_k_norm_for_every_head_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models.stablelm import PerHeadNorm

    d = copy_that_matches("stablelm", tmp_path)
    original = PerHeadNorm.for_head
    monkeypatch.setattr(PerHeadNorm, "for_head", lambda self, head, kv: original(
        self, 0, 0))  # head 0's norms for every head shown
    first, second = layer_diffs(d, "stablelm")
    assert first > PARITY and second > PARITY


def test_stablelm_without_its_q_k_layernorm_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("stablelm", tmp_path)
    edit_config(d, qk_layernorm=False)
    assert all(diff > PARITY for diff in layer_diffs(d, "stablelm"))


def test_stablelm_with_full_rotary_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("stablelm", tmp_path)
    rope_parameters = config_of(d)["rope_parameters"]
    edit_config(d, rope_parameters={**rope_parameters, "partial_rotary_factor": 1.0})
    assert all(diff > PARITY for diff in layer_diffs(d, "stablelm"))


# ---- i28-more: cohere ----


def test_cohere_with_rotate_half_rope_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models.cohere import Cohere

    d = copy_that_matches("cohere", tmp_path)
    monkeypatch.setattr(Cohere, "rotation", Model.rotation)  # halves, not neighbours
    assert all(diff > PARITY for diff in layer_diffs(d, "cohere"))


def test_cohere_without_its_q_k_norm_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("cohere", tmp_path)
    edit_config(d, use_qk_norm=False)
    assert all(diff > PARITY for diff in layer_diffs(d, "cohere"))


def test_cohere_with_a_separate_mlp_norm_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models.blocks import PreNorm
    from attncli.models.cohere import Cohere

    d = copy_that_matches("cohere", tmp_path)
    monkeypatch.setattr(Cohere, "block", PreNorm)  # the MLP reads h + attention's output
    first, second = layer_diffs(d, "cohere")
    assert first <= PARITY < second  # layer 0's heads read the embeddings either way


def test_cohere_without_its_logit_scale_misses_the_logits(tmp_path: Path) -> None:
    d = copy_that_matches("cohere", tmp_path)
    with np.load(d / "reference.npz", allow_pickle=False) as npz:
        ids, want = npz["input_ids"], npz["logits"]
    assert config_of(d)["logit_scale"] == 0.25
    edit_config(d, logit_scale=1.0)
    model = load_model(str(d))
    h, _ = model.forward(ids.tolist())
    assert np.abs(model.logits(h)[-1] - want).max() > LOGITS


# ---- i28-more: smollm3, a layer without RoPE ----


def test_smollm3_with_rope_in_every_layer_no_longer_matches_its_nope_layer(
        tmp_path: Path) -> None:
    d = copy_that_matches("smollm3", tmp_path)
    assert config_of(d)["no_rope_layers"] == [1, 0]
    edit_config(d, no_rope_layers=[1, 1])
    first, second = layer_diffs(d, "smollm3")
    assert first <= PARITY < second


def test_smollm3_without_rope_anywhere_no_longer_matches_its_rope_layer(
        tmp_path: Path) -> None:
    d = copy_that_matches("smollm3", tmp_path)
    edit_config(d, no_rope_layers=[0, 0])
    first, _ = layer_diffs(d, "smollm3")
    assert first > PARITY


def test_smollm3_without_its_window_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("smollm3", tmp_path)
    edit_config(d, use_sliding_window=False)
    first, second = layer_diffs(d, "smollm3")
    assert first <= PARITY < second


def test_smollm3_says_which_layer_has_no_position() -> None:
    for layer, labelled in ((0, False), (1, True)):
        doc = ok_json(invoke("explain", "The animal was tired", "--model",
                             str(FIXTURES / "smollm3"), "--layer", str(layer), "--json"))
        jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
        (head,) = doc["heads"]
        assert head.get("no_position", False) is labelled
        assert ("q_unrotated" in head) is not labelled
    words = " ".join(invoke("explain", "The animal was tired", "--model",
                            str(FIXTURES / "smollm3"), "--layer", "1", "--show", "qkv",
                            width=100).output.split())
    assert "This layer does not turn Q and K by position" in words
    rope = " ".join(invoke("explain", "The animal was tired", "--model",
                           str(FIXTURES / "smollm3"), "--layer", "0", "--show", "qkv",
                           width=100).output.split())
    assert "does not turn Q and K" not in rope and "RoPE turns" in rope


# ---- i28-more: falcon, three layouts of one fused projection ----


def test_falcon_mq_fixture_matches_every_head_and_the_logits() -> None:
    name = "falcon-mq"  # Falcon-7B's layout: multi_query, one norm for a parallel block
    assert config_of(FIXTURES / name)["multi_query"] is True
    assert sum(p.stat().st_size for p in (FIXTURES / name).iterdir()) < 120_000
    assert max(layer_diffs(FIXTURES / name, name)) <= PARITY
    model = load_model(str(FIXTURES / name))
    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        ids, want = npz["input_ids"], npz["logits"]
    h, _ = model.forward(ids.tolist())
    assert np.abs(model.logits(h)[-1] - want).max() < LOGITS
    assert (model.n_heads, model.n_kv_heads) == (4, 1)
    first, last = model.attention([1, 2, 3], [0], [0, 3])
    np.testing.assert_array_equal(first.steps.k, last.steps.k)


def test_falcon_read_as_q_then_k_then_v_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models.falcon import Falcon

    d = copy_that_matches("falcon", tmp_path)

    def blocks(self: Falcon, fused: np.ndarray) -> tuple[np.ndarray, ...]:
        q, kv = self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        return fused[:q], fused[q:q + kv], fused[q + kv:]  # not grouped [q… k v]

    monkeypatch.setattr(Falcon, "split", blocks)
    assert all(diff > PARITY for diff in layer_diffs(d, "falcon"))


def test_falcon_with_one_norm_for_both_parts_no_longer_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models import falcon

    d = copy_that_matches("falcon", tmp_path)
    original = falcon.norms
    monkeypatch.setattr(falcon, "norms", lambda attn, mlp: original(attn, attn))
    first, second = layer_diffs(d, "falcon")
    assert first <= PARITY < second  # only the MLP, so only what follows layer 0


@pytest.mark.parametrize(("name", "changes", "words"), [
    ("falcon-mq", {"alibi": True}, "'alibi' true"),
    ("falcon", {"parallel_attn": False}, "'new_decoder_architecture' true with 'parallel_attn'"),
])
def test_falcon_refuses_what_it_does_not_run(tmp_path: Path, name: str, changes: dict,
                                            words: str) -> None:
    d = copy_that_matches(name, tmp_path)
    edit_config(d, **changes)
    result = invoke("explain", "hi", "--model", str(d))
    assert result.exit_code == 2 and words in result.output


# ---- i28-more: gemma3, the multimodal config's text model ----


def test_gemma3_without_its_linear_rope_scaling_no_longer_matches_the_full_layer(
        tmp_path: Path) -> None:
    d = copy_that_matches("gemma3", tmp_path)
    text = config_of(d)["text_config"]
    full = text["rope_parameters"]["full_attention"]
    assert full["rope_type"] == "linear"
    text["rope_parameters"]["full_attention"] = {"rope_type": "default",
                                                 "rope_theta": full["rope_theta"]}
    edit_config(d, text_config=text)
    first, second = layer_diffs(d, "gemma3")  # layer 0 slides, with its own RoPE
    assert first <= PARITY < second


def keep_tensors(path: Path, keep: str) -> None:
    """Rewrite a safetensors file with only the tensors whose names start with keep."""
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + size])
    data, out, chunks, at = raw[8 + size:], {}, [], 0
    for name, info in header.items():
        if name.startswith(keep):
            start, end = info["data_offsets"]
            chunks.append(data[start:end])
            out[name] = {**info, "data_offsets": [at, at + end - start]}
            at += end - start
    text = json.dumps(out).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(chunks))


def test_gemma3_refuses_a_vision_tower_alone(tmp_path: Path) -> None:
    d = copy_that_matches("gemma3", tmp_path)
    keep_tensors(d / "model.safetensors", "vision_tower.")
    result = invoke("explain", "hi", "--model", str(d))
    assert result.exit_code == 2 and "a Gemma 3 vision tower alone has no text" in result.output


def test_gemma3_refuses_a_config_without_its_text_config(tmp_path: Path) -> None:
    d = copy_that_matches("gemma3", tmp_path)
    config = config_of(d)
    del config["text_config"]
    (d / "config.json").write_text(json.dumps(config))
    result = invoke("explain", "hi", "--model", str(d))
    assert result.exit_code == 2 and "'text_config' is missing" in result.output


def test_gemma3_names_a_bad_text_field_with_its_section(tmp_path: Path) -> None:
    d = copy_that_matches("gemma3", tmp_path)
    text = {**config_of(d)["text_config"], "num_attention_heads": 0}
    edit_config(d, text_config=text)
    result = invoke("explain", "hi", "--model", str(d))
    assert result.exit_code == 2 and "text_config.num_attention_heads" in result.output


# ---- i28-more: granite's four multipliers ----


@pytest.mark.parametrize(("field", "which"), [
    ("attention_multiplier", "both"),  # step 4 of every layer
    ("embedding_multiplier", "any"),  # layer 0 reads an RMSNorm of them (only its eps tells)
    ("residual_multiplier", "second"),  # what layer 0 adds
])
def test_granite_without_each_multiplier_no_longer_matches(tmp_path: Path, field: str,
                                                           which: str) -> None:
    d = copy_that_matches("granite", tmp_path)
    assert config_of(d)[field] != 1.0
    edit_config(d, **{field: 1.0})
    first, second = layer_diffs(d, "granite")
    assert second > PARITY
    if which != "any":
        assert (first > PARITY) is (which == "both")


def test_granite_without_its_logits_scaling_misses_the_logits(tmp_path: Path) -> None:
    d = copy_that_matches("granite", tmp_path)
    with np.load(d / "reference.npz", allow_pickle=False) as npz:
        ids, want = npz["input_ids"], npz["logits"]
    edit_config(d, logits_scaling=1.0)
    h, _ = load_model(str(d)).forward(ids.tolist())
    assert np.abs(load_model(str(d)).logits(h)[-1] - want).max() > LOGITS


def test_granite_shows_its_attention_multiplier_as_the_scale() -> None:
    doc = ok_json(invoke("explain", "The animal was tired", "--model",
                         str(FIXTURES / "granite"), "--json"))
    assert doc["heads"][0]["scale"] == 0.5


def test_attribute_refuses_granite_saying_why() -> None:
    result = invoke("attribute", "The animal was", "--model", str(FIXTURES / "granite"))
    assert result.exit_code == 2
    assert "residual_multiplier 0.6 before adding it to the stream" in result.output


def test_granite_generates_as_its_forward_pass_predicts() -> None:
    model = load_model(str(FIXTURES / "granite"))
    from attncli.models.cache import Decoder

    ids = [t.id for t in model.tokens("The animal was")]
    h, _ = model.forward(ids)
    want = model.logits(h)[-1]
    decoder = Decoder(model)
    first = decoder.step(ids[:2])
    rest = decoder.step(ids[2:])  # the last token over the cache of the first two
    assert first.shape[0] == 2
    got = decoder.logits(rest[-1:])[0]
    assert np.abs(got - want).max() < LOGITS


# ---- i28-more: RoPE scalings on gpt_neox and gemma3_text (issue 28, item 4) ----


@pytest.mark.parametrize("name", ["gpt_neox-yarn", "gpt_neox-dynamic", "gpt_neox-longrope"])
def test_gpt_neox_without_its_rope_scaling_no_longer_matches(tmp_path: Path, name: str) -> None:
    d = copy_that_matches(name, tmp_path)
    rope = config_of(d)["rope_parameters"]
    assert rope["rope_type"] == name.split("-")[1]
    edit_config(d, rope_parameters={"rope_type": "default", "rope_theta": rope["rope_theta"],
                                    "partial_rotary_factor": 0.5},
                max_position_embeddings=64)
    assert all(diff > PARITY for diff in layer_diffs(d, name))


@pytest.mark.parametrize(("name", "kind", "layer"), [
    ("gemma3_text-scaled", "sliding_attention", 0),  # yarn
    ("gemma3_text-scaled", "full_attention", 1),  # dynamic
    ("gemma3_text-longrope", "full_attention", 1),
])
def test_gemma3_text_without_a_kinds_rope_scaling_no_longer_matches_its_layer(
        tmp_path: Path, name: str, kind: str, layer: int) -> None:
    d = copy_that_matches(name, tmp_path)
    rope = config_of(d)["rope_parameters"]
    assert rope[kind]["rope_type"] in ("yarn", "dynamic", "longrope")
    rope[kind] = {"rope_type": "default", "rope_theta": rope[kind]["rope_theta"]}
    edit_config(d, rope_parameters=rope, max_position_embeddings=64)
    first, second = layer_diffs(d, name)
    assert second > PARITY  # the layer itself, or what follows it
    assert (first > PARITY) is (layer == 0)


@pytest.mark.parametrize("name", ["gpt_neox-dynamic", "gemma3_text-scaled",
                                  "gemma3_text-longrope"])
def test_a_moving_rope_generates_as_its_forward_pass_runs(name: str) -> None:
    from attncli.models.cache import Decoder

    model = load_model(str(FIXTURES / name))
    ids = model.check_ids([t.id for t in model.tokens(
        "The animal didn't cross the street because it was tired")]).tolist()
    want = model.hidden_states(ids)[-1][-1]
    decoder = Decoder(model)
    decoder.step(ids[:4])  # within the short speeds; the rest grows past them
    got = decoder.step(ids[4:])[-1]
    assert np.abs(got - want).max() < 1e-4


# ---- helium: Llama's layers, interleaved RoPE, float32 RMSNorms, no o_proj bias ----


def test_helium_reads_its_own_defaults(tmp_path: Path) -> None:
    d = copy_that_matches("helium", tmp_path)
    config = config_of(d)
    del config["rms_norm_eps"], config["rope_parameters"]
    (d / "config.json").write_text(json.dumps(config))
    model = load_model(str(d))
    assert model.eps == 1e-8 and model.scaling is not None and model.scaling.theta == 100000.0
    assert "b_o" not in model.table and "b_q" in model.table  # attention_bias: q, k, v only


def test_helium_with_llamas_rope_halves_no_longer_matches(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from attncli.models.helium import Helium
    from attncli.models.llama import Llama

    d = copy_that_matches("helium", tmp_path)
    monkeypatch.setattr(Helium, "rotation", Llama.rotation)
    first, _ = layer_diffs(d, "helium")
    assert first > PARITY


def test_helium_norms_in_float32_in_a_float64_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models.blocks import Norm
    from attncli.models.helium import Helium
    from attncli.models.layers import rms_norm

    model = load_model(str(FIXTURES / "helium"))
    assert isinstance(model, Helium)
    x = np.random.default_rng(0).standard_normal((3, 32))  # float64
    w = np.random.default_rng(1).standard_normal(32)
    got = model.normalise(x, Norm(w))
    assert got.dtype == np.float64
    want = rms_norm(x.astype(np.float32), w.astype(np.float32), model.eps)  # all in float32
    np.testing.assert_array_equal(got, want.astype(np.float64))
    assert not np.array_equal(got, rms_norm(x, w, model.eps))  # Llama's: the weight in float64
