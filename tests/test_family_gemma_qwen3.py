"""qwen3, gemma, gemma2 and gemma3_text: each feature the fixtures hold, switched off, breaks
parity with transformers; switched on, the CLI shows it as its own step.

test_models.py checks every head of these fixtures against transformers (they are found as
directories). Here, as in test_fixtures_catch_bugs.py, an unmodified copy first matches its
reference to 1e-5; then one feature is taken away in the copy's config.json or safetensors,
and the same check fails where that feature acts.

The fixtures (scripts/make_model_fixtures.py): qwen3 slides in layer 1 of 2; gemma2 and
gemma3_text slide in layers 0 and 2 of 3 (layer 1 is full), with a window of 4 tokens in an
11-token sentence. gemma2 scales by 16^-0.5 and soft-caps at 10; gemma3_text scales by
32^-0.5 and turns its sliding layers with a RoPE base of 10, its full layer with 10 000.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke as run
from conftest import ok, ok_json
from test_fixtures_catch_bugs import (
    TOLERANCE,
    copy_that_matches,
    edit_config,
    is_bias,
    is_norm_weight,
    layer_diffs,
    reference,
    rewrite,
    tensors,
)

from attncli.errors import AttnError
from attncli.models import FAMILIES, load_model
from attncli.models.gemma3 import rope_speeds
from attncli.models.layers import layer_kinds
from attncli.models.rope import rope_frequencies

FIXTURES = Path(__file__).parent / "fixtures" / "models"
NAMES = ["qwen3", "gemma", "gemma2", "gemma3_text"]
GEMMAS = ["gemma", "gemma2", "gemma3_text"]
WINDOW = 4
SLIDING = {"qwen3": [1], "gemma2": [0, 2], "gemma3_text": [0, 2]}  # layer -> slides
TEXT = "The animal didn't cross the street because it was tired"


def config_of(name: str) -> dict:
    return json.loads((FIXTURES / name / "config.json").read_text())


# ---- the fixtures are what this file says they are ----


@pytest.mark.parametrize("name", NAMES)
def test_the_family_is_registered_and_its_fixture_exists(name: str) -> None:
    assert name in FAMILIES
    assert (FIXTURES / name / "reference.npz").is_file()
    assert config_of(name)["model_type"] == name


@pytest.mark.parametrize("name", sorted(SLIDING))
def test_the_references_slide_exactly_where_layer_types_say(name: str) -> None:
    att = reference(name)["attentions"]  # (L, H, n, n)
    n = att.shape[-1]
    assert n > 2 * WINDOW
    config = config_of(name)
    assert config["sliding_window"] == WINDOW
    types = config["layer_types"]
    assert [i for i, t in enumerate(types) if t == "sliding_attention"] == SLIDING[name]
    far = np.tril(np.ones((n, n), dtype=bool), k=-WINDOW)  # key WINDOW or more back
    for layer, kind in enumerate(types):
        if kind == "sliding_attention":
            assert (att[layer][:, far] == 0).all(), (name, layer)
        else:
            assert (att[layer][:, far] > 0).all(), (name, layer)


@pytest.mark.parametrize("name", NAMES)
def test_every_bias_and_norm_weight_is_noisy(name: str) -> None:
    norms = []
    for key, (_dtype, values) in tensors(FIXTURES / name).items():
        assert not is_bias(key), f"{name} has no biases, but {key}"
        if is_norm_weight(key):
            assert not (values == 1).all() and not (values == 0).all(), key
            assert values.std() > 0.1, key
            norms.append(key)
    qk = [k for k in norms if k.endswith(("q_norm.weight", "k_norm.weight"))]
    assert len(qk) == (2 * len(config_of(name)["layer_types"])
                       if name in ("qwen3", "gemma3_text") else 0), qk


def test_the_fixtures_stay_small() -> None:
    sizes = {name: sum(p.stat().st_size for p in (FIXTURES / name).iterdir()) for name in NAMES}
    assert sum(sizes.values()) < 1_000_000, sizes
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total < 15_000_000, total  # issue 28: the committed fixtures stay under 15 MB


# ---- one feature off: parity fails ----


def test_gemma2_without_its_soft_cap_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("gemma2", tmp_path)
    assert config_of("gemma2")["attn_logit_softcapping"] == 10.0
    edit_config(d, attn_logit_softcapping=None)
    assert load_model(str(d)).softcap is None
    diffs = layer_diffs(d, "gemma2")
    assert all(diff > TOLERANCE for diff in diffs), diffs  # layer 0 already


@pytest.mark.parametrize("name", ["gemma2", "gemma3_text"])
@pytest.mark.parametrize("scalar", ["head_dim", "changed"])
def test_another_query_pre_attn_scalar_no_longer_matches(
        name: str, scalar: str, tmp_path: Path) -> None:
    d = copy_that_matches(name, tmp_path)
    config = config_of(name)
    assert config["query_pre_attn_scalar"] != config["head_dim"]
    # head_dim: what a loader scaling by 1/√d_k computes; changed: any other number
    new = config["head_dim"] if scalar == "head_dim" else config["query_pre_attn_scalar"] * 2
    edit_config(d, query_pre_attn_scalar=new)
    assert load_model(str(d)).scale == pytest.approx(new ** -0.5)
    diffs = layer_diffs(d, name)
    assert all(diff > TOLERANCE for diff in diffs), diffs


@pytest.mark.parametrize(("name", "neutral"), [("qwen3", 1.0), ("gemma3_text", 0.0),
                                               ("gemma3_text", 1.0)])
def test_with_the_q_k_norm_weights_neutral_it_no_longer_matches(
        name: str, neutral: float, tmp_path: Path) -> None:
    # neutral: the weight that leaves the normalised q and k as they are (qwen3: x · w, so 1;
    # gemma3: x · (1 + w), so 0), and 1 for gemma3 as well (x · 2)
    d = copy_that_matches(name, tmp_path)
    dtypes = {dtype for dtype, _values in tensors(d).values()}
    qk = ("self_attn.q_norm.weight", "self_attn.k_norm.weight")
    changed = rewrite(d, lambda key, _v: np.float32(neutral) if key.endswith(qk) else None)
    assert len(changed) == 2 * load_model(str(d)).n_layers
    assert {dtype for dtype, _values in tensors(d).values()} == dtypes
    diffs = layer_diffs(d, name)
    assert all(diff > TOLERANCE for diff in diffs), diffs


@pytest.mark.parametrize("name", sorted(SLIDING))
def test_without_the_sliding_window_it_no_longer_matches(name: str, tmp_path: Path) -> None:
    d = copy_that_matches(name, tmp_path)
    edit_config(d, sliding_window=None)
    assert load_model(str(d)).windows == [None] * len(config_of(name)["layer_types"])
    diffs = layer_diffs(d, name)
    first = min(SLIDING[name])
    assert all(diffs[i] > TOLERANCE for i in SLIDING[name]), diffs
    assert all(diffs[i] <= TOLERANCE for i in range(first)), diffs  # before any sliding layer


@pytest.mark.parametrize("name", ["gemma2", "gemma3_text"])
def test_with_every_layer_full_it_no_longer_matches(name: str, tmp_path: Path) -> None:
    d = copy_that_matches(name, tmp_path)
    n_layers = len(config_of(name)["layer_types"])
    edit_config(d, layer_types=["full_attention"] * n_layers)
    diffs = layer_diffs(d, name)
    assert diffs[0] > TOLERANCE and diffs[2] > TOLERANCE, diffs


def test_gemma3_with_one_rope_base_for_every_layer_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("gemma3_text", tmp_path)
    params = config_of("gemma3_text")["rope_parameters"]
    assert params["sliding_attention"]["rope_theta"] != params["full_attention"]["rope_theta"]
    edit_config(d, rope_parameters={**params, "sliding_attention": params["full_attention"]})
    diffs = layer_diffs(d, "gemma3_text")
    assert diffs[0] > TOLERANCE, diffs  # a sliding layer, turned at the global base


@pytest.mark.parametrize("name", GEMMAS)
def test_gemma_norms_with_their_stored_weights_at_0_no_longer_match(
        name: str, tmp_path: Path) -> None:
    # (1 + w) with w = 0 is what a loader that never read the weights would compute
    d = copy_that_matches(name, tmp_path)
    changed = rewrite(d, lambda key, _v: np.float32(0.0) if is_norm_weight(key) else None)
    assert changed
    assert max(layer_diffs(d, name)) > TOLERANCE


@pytest.mark.parametrize("name", ["gemma2", "gemma3_text"])
def test_another_activation_no_longer_matches(name: str, tmp_path: Path) -> None:
    d = copy_that_matches(name, tmp_path)
    assert config_of(name)["hidden_activation"] == "gelu_pytorch_tanh"
    edit_config(d, hidden_activation="gelu")  # exact GELU: Gemma 2 and 3 take it as it is
    diffs = layer_diffs(d, name)
    assert diffs[0] <= TOLERANCE < max(diffs[1:]), diffs  # layer 0 runs before any MLP


def test_gemma_reads_gelu_as_the_tanh_approximation(tmp_path: Path) -> None:
    # transformers' GemmaConfig turns hidden_act "gelu" (in the released configs) into
    # gelu_pytorch_tanh; any other activation changes the layers after the first
    d = copy_that_matches("gemma", tmp_path)
    edit_config(d, hidden_act="gelu")
    assert max(layer_diffs(d, "gemma")) <= TOLERANCE
    edit_config(d, hidden_act="silu")
    diffs = layer_diffs(d, "gemma")
    assert diffs[0] <= TOLERANCE < diffs[1], diffs


def test_gemma3_ignores_attn_logit_softcapping_as_transformers_does(tmp_path: Path) -> None:
    # transformers 5 never passes it to Gemma 3's attention: a value changes nothing
    d = copy_that_matches("gemma3_text", tmp_path)
    edit_config(d, attn_logit_softcapping=1.0)
    assert load_model(str(d)).softcap is None
    assert max(layer_diffs(d, "gemma3_text")) <= TOLERANCE


def test_gemma3_bidirectional_attention_is_refused(tmp_path: Path) -> None:
    d = copy_that_matches("gemma3_text", tmp_path)
    edit_config(d, use_bidirectional_attention=True)
    with pytest.raises(AttnError, match="use_bidirectional_attention"):
        load_model(str(d))


# ---- configs written before transformers 5 ----


def test_layer_kinds_fill_in_the_old_patterns() -> None:
    assert layer_kinds({}, 4, 2) == ["sliding_attention", "full_attention"] * 2  # Gemma 2
    six = layer_kinds({}, 12, 6)  # Gemma 3: five sliding, then one full
    assert six == (["sliding_attention"] * 5 + ["full_attention"]) * 2
    assert layer_kinds({"sliding_window_pattern": 3}, 3, 6)[2] == "full_attention"
    with pytest.raises(AttnError, match="layer_types"):
        layer_kinds({"layer_types": ["full_attention"]}, 2, 2)


def test_gemma3_rope_parameters_from_an_old_config() -> None:
    old = {"rope_theta": 1_000_000.0, "rope_local_base_freq": 10_000.0,
           "rope_scaling": {"rope_type": "linear", "factor": 8.0}}
    speeds = rope_speeds(old, 8)
    np.testing.assert_allclose(speeds["full_attention"][0], 1 / 8.0)  # θ_0 = 1, slowed 8 times
    np.testing.assert_allclose(speeds["full_attention"][1], 1e6 ** -0.25 / 8.0, rtol=1e-6)
    np.testing.assert_allclose(speeds["sliding_attention"][1], 10_000.0 ** -0.25, rtol=1e-6)
    new = config_of("gemma3_text")
    for kind, params in new["rope_parameters"].items():
        np.testing.assert_array_equal(rope_speeds(new, 8)[kind],
                                      rope_frequencies({"rope_parameters": params}, 8))


# ---- the CLI shows the new steps ----


def explain_json(name: str, *extra: str) -> dict:
    return ok_json(run("explain", TEXT, "--model", str(FIXTURES / name), "--json", *extra))


def test_gemma2_explain_shows_its_scale_and_the_soft_capped_scores() -> None:
    out = ok(run("explain", TEXT, "--model", str(FIXTURES / "gemma2"), "--show", "scaled",
                 width=200))
    assert "scores × 0.25 (this model's scale)" in out
    assert "Soft-capped = 10 · tanh(scaled / 10)" in out
    assert "Soft-capped (11×11)" in out


def test_gemma2_explain_says_only_what_the_soft_cap_does() -> None:
    out = ok(run("explain", TEXT, "--model", str(FIXTURES / "gemma2"), "--layer", "0",
                 "--head", "0", "--show", "scaled", width=200))
    # a cap of 10 still lets one key take nearly all of a row: e^20 between two scores
    assert "take over" not in out
    assert ("Each scaled score is bent smoothly into −10 … 10: however large it grows, it "
            "stays inside, and a score near 0 barely changes.") in out
    (head,) = explain_json("gemma2", "--layer", "0", "--head", "0")["heads"]
    assert max(max(row) for row in head["weights"]) > 0.99  # one key can still take a row


def test_gemma2_explain_says_the_softmax_takes_the_soft_capped_scores() -> None:
    out = ok(run("explain", TEXT, "--model", str(FIXTURES / "gemma2"), "--layer", "0",
                 "--head", "0", "--show", "softmax", "--focus", "tired", width=200))
    assert "Step 4b · Attention weights = softmax(soft-capped)" in out
    assert "softmax(scaled)" not in out
    assert "e^x of each soft-capped score" in out and "capped x" in out


def test_gemma2_json_has_scale_softcap_and_capped() -> None:
    doc = explain_json("gemma2", "--layer", "all", "--head", "all")
    assert len(doc["heads"]) == 3 * 4
    ref = reference("gemma2")["attentions"]
    biggest = 0.0
    for head in doc["heads"]:
        assert head["scale"] == 0.25 and head["softcap"] == 10.0
        scores, capped = np.array(head["scores"]), np.array(head["capped"], dtype=float)
        np.testing.assert_allclose(capped, 10 * np.tanh(scores * 0.25 / 10), atol=1e-12)
        assert np.abs(capped).max() < 10
        assert np.abs(capped - scores * 0.25).max() > 0.1  # the cap bites in every head
        biggest = max(biggest, np.abs(scores * 0.25).max())
        weights = np.array(head["weights"])
        assert np.abs(weights - ref[head["layer"], head["head"]]).max() <= TOLERANCE
    assert biggest > 10  # some scaled scores lie beyond the cap


@pytest.mark.parametrize("name", ["qwen3", "gemma3_text"])
def test_q_k_norm_models_show_q_and_k_as_projected(name: str) -> None:
    doc = explain_json(name, "--layer", "0", "--head", "1")
    (head,) = doc["heads"]
    q_projected, q_unrotated = np.array(head["q_projected"]), np.array(head["q_unrotated"])
    assert q_projected.shape == q_unrotated.shape == (11 if name != "qwen3" else 15, 8)
    assert not np.allclose(q_projected, q_unrotated)  # the norm changed them
    # q_unrotated is q_projected RMS-normalised (times learned weights): each row's direction
    # changes only by the per-dimension weights, so the ratio is the same for every row
    ratio = q_unrotated / q_projected * np.sqrt((q_projected ** 2).mean(-1, keepdims=True))
    np.testing.assert_allclose(ratio, ratio[0:1].repeat(len(ratio), 0), rtol=1e-4)
    assert ("scale" in head) == (name == "gemma3_text")
    assert "softcap" not in head and "capped" not in head
    text = ok(run("explain", TEXT, "--model", str(FIXTURES / name), "--show", "qkv",
                  width=200))
    assert "normalises each query and key" in text


@pytest.mark.parametrize("name", ["gemma2", "gemma3_text"])
def test_a_config_without_hidden_act_still_loads(name: str, tmp_path: Path) -> None:
    # Gemma 2 and 3 read hidden_activation; hidden_act may be missing or null
    d = copy_that_matches(name, tmp_path)
    edit_config(d, hidden_act=None)
    assert max(layer_diffs(d, name)) <= TOLERANCE
