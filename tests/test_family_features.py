"""xlm-roberta, electra, opt, gpt_neox, phi3, olmo2: their fixtures exist, each feature counts.

tests/test_models.py checks every head of every fixture directory against transformers. Here
each test first shows that an unmodified copy of a fixture matches its reference, then takes
one feature away (in the copy's config.json or weights) and shows that parity with the
reference, to the same 1e-5, no longer holds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_that_matches, edit_config, layer_diffs, reference
from safetensors.numpy import load_file, save_file

import attncli.models.opt
from attncli.attention import Variant, attend, project_qk
from attncli.errors import AttnError
from attncli.models import FAMILIES, load_model
from attncli.models.layers import rms_norm
from attncli.models.rope import rope, rope_frequencies

FIXTURES = Path(__file__).parent / "fixtures" / "models"
NEW = ["xlm-roberta", "electra", "opt", "gpt_neox", "phi3", "olmo2"]
TOLERANCE = 1e-5  # as test_models.py








def config_of(directory: Path) -> dict:
    return json.loads((directory / "config.json").read_text())




def edit_tensor(directory: Path, name: str, values: np.ndarray) -> None:
    """Replace one float32 tensor of model.safetensors."""
    path = directory / "model.safetensors"
    found = load_file(str(path))
    assert name in found and found[name].shape == values.shape
    save_file({**found, name: values.astype(np.float32)}, str(path))


# ---- the fixtures are there, registered, small and noisy ----


@pytest.mark.parametrize("name", NEW)
def test_each_new_family_has_a_fixture_and_is_registered(name: str) -> None:
    assert (FIXTURES / name / "reference.npz").is_file()
    assert config_of(FIXTURES / name)["model_type"] == name
    assert name in FAMILIES
    assert max(layer_diffs(FIXTURES / name, name)) <= TOLERANCE


def test_the_fixtures_together_are_small() -> None:
    size = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert size < 15_000_000, size  # issue 28: the committed fixtures stay under 15 MB


@pytest.mark.parametrize("name", NEW)
def test_every_bias_and_norm_weight_is_noisy(name: str) -> None:
    weights = load_file(str(FIXTURES / name / "model.safetensors"))
    biases = [k for k in weights if k.endswith(".bias")]
    norms = [k for k in weights if k.endswith(".weight") and "norm" in k.lower()]
    assert (len(biases) >= 10 or name in ("phi3", "olmo2")) and norms  # these have no bias
    for key in biases + norms:
        centre = 0.0 if key.endswith(".bias") else 1.0
        assert (weights[key] - centre).std() > 0.1, key


# ---- xlm-roberta ----


def test_xlm_roberta_without_roberta_positions_no_longer_matches(tmp_path: Path) -> None:
    # as "bert" the same weights are read, but positions count from 0, not padding_idx + 1
    d = copy_that_matches("xlm-roberta", tmp_path)
    edit_config(d, model_type="bert")
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "xlm-roberta"))


# ---- electra ----


def test_electra_embeds_narrower_than_its_layers() -> None:
    config = config_of(FIXTURES / "electra")
    assert config["embedding_size"] == 16 < config["hidden_size"] == 32
    model = load_model(str(FIXTURES / "electra"))
    assert model.embed(np.arange(3)).shape == (3, 32)


@pytest.mark.parametrize("tensor", ["embeddings_project.weight", "embeddings_project.bias",
                                    "embeddings.LayerNorm.weight"])
def test_electra_without_its_embedding_projection_no_longer_matches(
    tensor: str, tmp_path: Path
) -> None:
    d = copy_that_matches("electra", tmp_path)
    old = load_file(str(d / "model.safetensors"))[tensor]
    edit_tensor(d, tensor, np.ones_like(old) if "LayerNorm" in tensor else old * 0.5)
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "electra"))


# ---- opt ----


def test_opt_with_its_layer_norms_moved_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("opt", tmp_path)
    assert config_of(d)["do_layer_norm_before"] is True
    edit_config(d, do_layer_norm_before=False)  # post-norm, as opt-350m
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "opt"))


def test_opt_without_its_position_offset_no_longer_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a loader that took embed_positions as a plain table: rows 0..n-1 instead of 2..n+1
    d = copy_that_matches("opt", tmp_path)
    monkeypatch.setattr(attncli.models.opt, "OFFSET", 0)
    edit_config(d, max_position_embeddings=config_of(d)["max_position_embeddings"] + 2)
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "opt"))


def test_opt_without_project_in_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("opt", tmp_path)
    assert config_of(d)["word_embed_proj_dim"] == 16 < config_of(d)["hidden_size"]
    tensor = "decoder.project_in.weight"
    edit_tensor(d, tensor, load_file(str(d / "model.safetensors"))[tensor] * 0.5)
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "opt"))


# ---- gpt_neox ----


def test_gpt_neox_with_full_rotary_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("gpt_neox", tmp_path)
    config = config_of(d)
    assert config["rope_parameters"]["partial_rotary_factor"] == 0.5
    edit_config(d, rotary_pct=1.0,
                rope_parameters={**config["rope_parameters"], "partial_rotary_factor": 1.0})
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "gpt_neox"))


def test_gpt_neox_reads_an_old_config_with_rotary_pct(tmp_path: Path) -> None:
    # Pythia's config.json on the Hub: rotary_pct and rotary_emb_base, no rope_parameters
    d = copy_that_matches("gpt_neox", tmp_path)
    config = config_of(d)
    del config["rope_parameters"]
    (d / "config.json").write_text(json.dumps({**config, "rotary_pct": 0.5,
                                               "rotary_emb_base": 10000}))
    assert max(layer_diffs(d, "gpt_neox")) <= TOLERANCE


def test_gpt_neox_without_its_parallel_residual_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("gpt_neox", tmp_path)
    assert config_of(d)["use_parallel_residual"] is True
    edit_config(d, use_parallel_residual=False)
    diffs = layer_diffs(d, "gpt_neox")
    assert diffs[0] <= TOLERANCE < diffs[1], diffs  # layer 0's input is only the embeddings


def test_gpt_neox_without_its_attention_biases_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("gpt_neox", tmp_path)
    edit_config(d, attention_bias=False)
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "gpt_neox"))


def test_gpt_neox_splits_its_fused_projection_head_by_head() -> None:
    model = load_model(str(FIXTURES / "gpt_neox"))
    fused = load_file(str(FIXTURES / "gpt_neox" / "model.safetensors"))[
        "layers.0.attention.query_key_value.weight"]  # (3d, d): per head [q | k | v]
    layer, hd = model.load_attention(0), model.head_dim
    for head in range(model.n_heads):
        rows = fused[3 * hd * head:3 * hd * (head + 1)]  # (3 hd, d)
        cols = slice(head * hd, (head + 1) * hd)
        np.testing.assert_array_equal(layer.w_q[:, cols], rows[:hd].T)
        np.testing.assert_array_equal(layer.w_k[:, cols], rows[hd:2 * hd].T)
        np.testing.assert_array_equal(layer.w_v[:, cols], rows[2 * hd:].T)


# ---- phi3 ----


def test_phi3_slides_in_every_layer() -> None:
    att = reference("phi3")["attentions"]  # (L, H, n, n)
    window = config_of(FIXTURES / "phi3")["sliding_window"]
    assert att.shape[-1] > 2 * window
    far = np.tril(np.ones(att.shape[-2:], dtype=bool), k=-window)
    assert all((att[layer][:, far] == 0).all() for layer in range(len(att)))


def test_phi3_without_its_sliding_window_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("phi3", tmp_path)
    edit_config(d, sliding_window=None)
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "phi3"))


def test_phi3_with_full_rotary_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("phi3", tmp_path)
    params = config_of(d)["rope_parameters"]
    assert params["partial_rotary_factor"] == 0.5
    edit_config(d, rope_parameters={**params, "partial_rotary_factor": 1.0})
    assert all(diff > TOLERANCE for diff in layer_diffs(d, "phi3"))


def test_phi3_with_gate_and_up_swapped_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("phi3", tmp_path)
    tensor = "layers.0.mlp.gate_up_proj.weight"
    gate_up = load_file(str(d / "model.safetensors"))[tensor]
    ff = len(gate_up) // 2
    edit_tensor(d, tensor, np.concatenate([gate_up[ff:], gate_up[:ff]]))
    diffs = layer_diffs(d, "phi3")
    assert diffs[0] <= TOLERANCE < diffs[1], diffs


@pytest.mark.parametrize("kind", ["longrope", "su"])
def test_phi3_reads_longrope_and_refuses_factor_lists_of_the_wrong_length(
        kind: str, tmp_path: Path) -> None:
    # longrope is supported now (tests/test_rope_scaling.py checks its parity); what is
    # refused, naming longrope, is a factor list that does not fit the rotary dimensions
    d = shutil.copytree(FIXTURES / "phi3", tmp_path / "phi3")
    params = {"rope_type": kind, "rope_theta": 10000.0, "short_factor": [1.0] * 2,
              "long_factor": [2.0] * 2}
    edit_config(d, rope_parameters=params)
    load_model(str(d))
    edit_config(d, rope_parameters={**params, "short_factor": [1.0] * 3})
    with pytest.raises(AttnError,
                       match="'rope_parameters.short_factor' must be a list of 2 numbers"):
        load_model(str(d))


# ---- olmo2 ----


@pytest.mark.parametrize("tensor", ["layers.0.self_attn.q_norm.weight",
                                    "layers.0.self_attn.k_norm.weight",
                                    "layers.0.post_attention_layernorm.weight"])
def test_olmo2_with_a_norm_weight_at_1_no_longer_matches(tensor: str, tmp_path: Path) -> None:
    d = copy_that_matches("olmo2", tmp_path)
    edit_tensor(d, tensor, np.ones_like(load_file(str(d / "model.safetensors"))[tensor]))
    diffs = layer_diffs(d, "olmo2")
    assert (diffs[0] > TOLERANCE) == ("self_attn" in tensor) and diffs[1] > TOLERANCE, diffs


def test_olmo2_normalises_q_and_k_over_all_heads_not_per_head() -> None:
    # layer 0's input is the embeddings, exact: normalising each head's q and k over its own
    # head_dim (as Qwen3 does) instead of over all heads gives attention that does not match
    ref = reference("olmo2")
    model = load_model(str(FIXTURES / "olmo2"))
    ids = ref["input_ids"].tolist()
    layer, n, hd = model.load_attention(0), len(ids), model.head_dim
    x = model.embed(np.asarray(ids)).astype(np.float64)  # (n, d)
    q_all, k_all = x @ layer.w_q, x @ layer.w_k  # (n, H*hd), (n, Hkv*hd)
    worst_full, worst_per_head = 0.0, 0.0
    for hs in model.attention(ids, [0], range(model.n_heads)):
        s, head = hs.steps, hs.head
        kv = head // (model.n_heads // model.n_kv_heads)
        qs, ks = slice(head * hd, (head + 1) * hd), slice(kv * hd, (kv + 1) * hd)
        full_q = rms_norm(q_all, layer.q_norm, model.eps)[:, qs]
        np.testing.assert_allclose(s.q_unrotated, full_q, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s.q_projected, q_all[:, qs], rtol=1e-6, atol=1e-6)
        rotate, mask = model.rotation(n, 0), model.mask(n, 0)

        def per_head(q, k, qs=qs, ks=ks):  # noqa: ANN001, ANN202
            return (rms_norm(q, layer.q_norm[qs], model.eps),
                    rms_norm(k, layer.k_norm[ks], model.eps))

        q, k, _, _ = project_qk(q_all[:, qs], k_all[:, ks],
                                Variant(qk_norm=per_head, rotate=rotate))
        weights = attend(q, k, s.v, Variant(mask=mask))[2]
        expected = ref["attentions"][0, head]
        worst_per_head = max(worst_per_head, float(np.abs(weights - expected).max()))
        worst_full = max(worst_full, float(np.abs(s.weights - expected).max()))
    assert worst_full <= TOLERANCE < worst_per_head, (worst_full, worst_per_head)


# ---- partial RoPE, the helpers ----


def test_partial_rope_turns_only_the_first_dimensions() -> None:
    inv_freq = rope_frequencies({}, 8, partial_rotary_factor=0.5)
    assert inv_freq.shape == (2,)
    np.testing.assert_allclose(inv_freq, [1.0, 10000.0 ** -0.5], rtol=1e-6)
    t = np.random.default_rng(0).normal(size=(2, 5, 8))
    turned = rope(5, inv_freq)(t)
    np.testing.assert_array_equal(turned[..., 4:], t[..., 4:])
    np.testing.assert_allclose(turned[..., :4], rope(5, inv_freq)(t[..., :4]))
    assert not np.allclose(turned[:, 1:, :4], t[:, 1:, :4])


def test_a_family_without_partial_rope_still_refuses_it() -> None:
    with pytest.raises(AttnError, match="partial rotary"):
        rope_frequencies({"rope_parameters": {"partial_rotary_factor": 0.5}}, 8)
    assert rope_frequencies({}, 8).shape == (4,)
