"""RoPE scaling types (issue 13): linear, llama3, dynamic, yarn and longrope against transformers.

Each fixture (llama-linear, llama-llama3, llama-dynamic, llama-yarn, phi3-longrope,
phi3-longrope-short) matches transformers in test_models.py; here, a copy without its scaling
(or with one part of it undone) no longer matches, and the frequencies are checked against
numbers worked out from the formulas by hand.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attncli.errors import AttnError
from attncli.models import load_model
from attncli.models.rope import RopeScaling, rope, rope_frequencies

FIXTURES = Path(__file__).parent / "fixtures" / "models"
TOLERANCE = 1e-5
SCALED = ["llama-linear", "llama-llama3", "llama-dynamic", "llama-yarn", "phi3-longrope",
          "phi3-longrope-short"]


def copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def edit_config(d: Path, **changes: Any) -> None:
    config = json.loads((d / "config.json").read_text())
    config.update(changes)
    (d / "config.json").write_text(json.dumps(config))


def edit_rope(d: Path, **changes: Any) -> None:
    config = json.loads((d / "config.json").read_text())
    config["rope_parameters"].update(changes)
    (d / "config.json").write_text(json.dumps(config))


def worst_diff(d: Path) -> float:
    """The largest difference from the reference over every layer and head."""
    with np.load(d / "reference.npz", allow_pickle=False) as npz:
        ids, expected = npz["input_ids"].tolist(), npz["attentions"]
    model = load_model(str(d))
    found = model.attention(ids, range(model.n_layers), range(model.n_heads))
    return max(float(np.abs(hs.steps.weights - expected[hs.layer, hs.head]).max())
               for hs in found)


# ---- feature off: parity fails; the unmodified copy passes ----


@pytest.mark.parametrize("name", SCALED)
def test_the_unmodified_copy_matches(name: str, tmp_path: Path) -> None:
    assert worst_diff(copy(name, tmp_path)) <= TOLERANCE


@pytest.mark.parametrize("name", SCALED)
def test_without_its_scaling_the_fixture_no_longer_matches(name: str, tmp_path: Path) -> None:
    d = copy(name, tmp_path)
    config = json.loads((d / "config.json").read_text())
    keep = {k: v for k, v in config["rope_parameters"].items()
            if k in ("rope_theta", "partial_rotary_factor")}
    edit_config(d, rope_parameters={**keep, "rope_type": "default"})
    if name == "llama-dynamic":  # without dynamic, 8 positions are all it takes
        with pytest.raises(AttnError, match="at most 8 positions"):
            worst_diff(d)
        edit_config(d, max_position_embeddings=64)
    assert worst_diff(d) > TOLERANCE


@pytest.mark.parametrize("name", ["llama-linear", "llama-dynamic", "llama-yarn"])
def test_with_rope_scaling_removed_the_fixture_no_longer_matches(name: str,
                                                                  tmp_path: Path) -> None:
    d = copy(name, tmp_path)
    edit_config(d, rope_parameters=None, rope_scaling=None, rope_theta=10000.0)
    if name == "llama-dynamic":
        edit_config(d, max_position_embeddings=64)
    assert worst_diff(d) > TOLERANCE


def test_dynamic_grows_only_past_max_position_embeddings(tmp_path: Path) -> None:
    d = copy("llama-dynamic", tmp_path)
    edit_config(d, max_position_embeddings=64)  # the sentence (16 tokens) no longer exceeds it
    assert worst_diff(d) > TOLERANCE


@pytest.mark.parametrize("name", ["llama-yarn", "phi3-longrope"])
def test_without_the_attention_factor_the_fixture_no_longer_matches(name: str,
                                                                     tmp_path: Path) -> None:
    d = copy(name, tmp_path)
    edit_rope(d, attention_factor=1.0)
    assert worst_diff(d) > TOLERANCE


def test_longrope_uses_long_factor_past_the_original_length(tmp_path: Path) -> None:
    d = copy("phi3-longrope", tmp_path)  # 11 tokens, original 8: long_factor
    edit_rope(d, long_factor=[1.0, 1.5])
    assert worst_diff(d) > TOLERANCE
    d = copy("phi3-longrope-short", tmp_path)  # 11 tokens, original 32: short_factor
    edit_rope(d, long_factor=[9.0, 9.0])
    assert worst_diff(d) <= TOLERANCE
    edit_rope(d, short_factor=[2.0, 6.0])
    assert worst_diff(d) > TOLERANCE


@pytest.mark.parametrize("kind", ["su", "yarn"])
def test_phi3_reads_su_and_yarn_as_longrope(kind: str, tmp_path: Path) -> None:
    d = copy("phi3-longrope", tmp_path)
    edit_rope(d, rope_type=kind)
    assert worst_diff(d) <= TOLERANCE


def test_longrope_refuses_factors_of_the_wrong_length(tmp_path: Path) -> None:
    d = copy("phi3-longrope", tmp_path)
    edit_rope(d, short_factor=[1.0, 1.0, 1.0])
    with pytest.raises(AttnError, match="short_factor.*2 numbers"):
        load_model(str(d))


def test_dynamic_takes_factor_times_max_position_embeddings() -> None:
    model = load_model(str(FIXTURES / "llama-dynamic"))
    assert model.max_positions == 4 * 8


# ---- the frequencies, worked out from the formulas ----

PLAIN = np.array([1.0, 0.1, 0.01, 0.001])  # 10000^(-2i/8), i = 0..3


def scaling(rope_parameters: dict[str, Any], **config: Any) -> RopeScaling:
    return RopeScaling({"rope_parameters": {"rope_theta": 10000.0, **rope_parameters}, **config},
                       8)


def test_linear_divides_every_speed_by_factor() -> None:
    inv, factor = scaling({"rope_type": "linear", "factor": 4.0}).frequencies(16)
    np.testing.assert_allclose(inv, PLAIN / 4, rtol=1e-6)
    assert factor == 1.0


def test_llama3_keeps_fast_blends_middle_and_slows_slow_speeds() -> None:
    params = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    # wavelengths 2π/speed: 6.3 (< 64/4: kept), 62.8 (in [16, 64]: blended), 628, 6283 (> 64)
    smooth = (64 / (20 * math.pi) - 1) / (4 - 1)
    expected = [1.0, (1 - smooth) * 0.1 / 8 + smooth * 0.1, 0.01 / 8, 0.001 / 8]
    inv, factor = scaling(params).frequencies(16)
    np.testing.assert_allclose(inv, expected, rtol=1e-5)
    assert factor == 1.0


def test_dynamic_grows_the_base_with_the_length() -> None:
    s = scaling({"rope_type": "dynamic", "factor": 4.0}, max_position_embeddings=8)
    short, factor = s.frequencies(8)  # not longer than max_position_embeddings: plain
    np.testing.assert_allclose(short, PLAIN, rtol=1e-6)
    assert factor == 1.0
    base = 10000 * (4 * 16 / 8 - 3) ** (8 / 6)  # 10000 · 5^(4/3)
    grown, factor = s.frequencies(16)
    np.testing.assert_allclose(grown, base ** -(np.arange(0, 8, 2) / 8), rtol=1e-5)
    assert factor == 1.0
    np.testing.assert_allclose(s.frequencies(24)[0][1], (10000 * 9 ** (4 / 3)) ** -0.25,
                               rtol=1e-5)


def test_yarn_ramps_between_extrapolated_and_interpolated_speeds() -> None:
    s = scaling({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64})
    # correction dims: 8 ln(64 / (32 · 2π)) / (2 ln 10000) = -0.50 -> floor -1 -> 0, and
    # 8 ln(64 / 2π) / (2 ln 10000) = 1.008 -> ceil 2; ramp (i - 0) / 2 clipped: 0, .5, 1, 1
    keep = np.array([1.0, 0.5, 0.0, 0.0])  # 1 - ramp: the share of the unscaled speed
    expected = PLAIN / 4 * (1 - keep) + PLAIN * keep
    for n in (4, 16, 100):  # yarn does not depend on the length
        inv, factor = s.frequencies(n)
        np.testing.assert_allclose(inv, expected, rtol=1e-6)
        assert factor == pytest.approx(0.1 * math.log(4) + 1)


def test_yarn_attention_factor_from_mscale_and_given() -> None:
    params = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}
    m = scaling({**params, "mscale": 2.0, "mscale_all_dim": 1.0}).frequencies(4)[1]
    assert m == pytest.approx((0.2 * math.log(4) + 1) / (0.1 * math.log(4) + 1))
    assert scaling({**params, "attention_factor": 0.7}).frequencies(4)[1] == 0.7


def test_longrope_switches_factors_past_the_original_length() -> None:
    config = {"rope_parameters": {"rope_type": "longrope", "rope_theta": 10000.0,
                                  "short_factor": [1.0, 1.5], "long_factor": [2.0, 6.0]},
              "max_position_embeddings": 64, "original_max_position_embeddings": 8}
    s = RopeScaling(config, 8, partial_rotary_factor=0.5)  # rotary_dim 4: speeds 1, 0.01
    short, factor = s.frequencies(8)
    np.testing.assert_allclose(short, [1.0, 0.01 / 1.5], rtol=1e-6)
    assert factor == pytest.approx(math.sqrt(2))  # sqrt(1 + ln(64/8) / ln 8)
    long, factor = s.frequencies(9)
    np.testing.assert_allclose(long, [1.0 / 2, 0.01 / 6], rtol=1e-6)
    assert factor == pytest.approx(math.sqrt(2))


def test_longrope_attention_factor_is_1_without_extension() -> None:
    config = {"rope_parameters": {"rope_type": "longrope", "short_factor": [1.0] * 4,
                                  "long_factor": [1.0] * 4},
              "max_position_embeddings": 64, "original_max_position_embeddings": 64}
    assert RopeScaling(config, 8).frequencies(100)[1] == 1.0


def test_rope_scales_cos_and_sin_of_the_rotated_part_only() -> None:
    t = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    np.testing.assert_allclose(rope(5, PLAIN.astype(np.float32), 1.5)(t),
                               1.5 * rope(5, PLAIN.astype(np.float32))(t), rtol=1e-6)
    partial = rope(5, PLAIN[:2].astype(np.float32), 1.5)(t)  # rotary_dim 4
    np.testing.assert_array_equal(partial[..., 4:], t[..., 4:])
    np.testing.assert_allclose(partial[..., :4], 1.5 * rope(5, PLAIN[:2].astype(np.float32))(
        t[..., :4]), rtol=1e-6)


@pytest.mark.parametrize("kind", ["dynamic", "yarn", "longrope"])
def test_families_without_them_refuse_the_length_dependent_types(kind: str) -> None:
    with pytest.raises(AttnError, match=f"{kind}.*not supported for this model family"):
        rope_frequencies({"rope_parameters": {"rope_type": kind, "factor": 2.0}}, 8)


def test_unknown_rope_type_is_refused_naming_all_supported() -> None:
    with pytest.raises(AttnError, match="'dynamic', 'yarn', 'longrope'"):
        RopeScaling({"rope_parameters": {"rope_type": "mrope"}}, 8)


def test_the_speeds_round_the_power_once_as_torch_does() -> None:
    # the dynamic fixture's grown base 85498.796875 to the power 2/8: the float32 nearest
    # 17.0997594... is 17.099760055541992 (torch's too); float32 pow gives 17.09975814819336
    from attncli.models.rope import plain_frequencies, power32

    assert power32(85498.796875, np.array([0.25], dtype=np.float32))[0] == np.float32(17.09976)
    assert plain_frequencies(85498.796875, 8)[1] == np.float32(1) / np.float32(17.09976)
    assert np.float32(17.09976) == np.float32(17.099760055541992) != np.float32(17.09975814819336)
