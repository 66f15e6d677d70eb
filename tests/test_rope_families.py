"""RoPE scalings on every RoPE family (issue 28, item 4).

Each family with RoPE, under yarn and dynamic, in transformers 5's config form and the older
one, either turns q and k as transformers does (its rotation against
tests/fixtures/rope_rotations.npz, scripts/make_rope_rotations.py) or is refused where
transformers refuses the config; never is the scaling read and dropped. GPT-J has no scaling
in transformers, and none here. ModernBERT's scalings are also checked on whole models
(modernbert-scaled, modernbert-longrope: every layer and head in tests/test_models.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, layer_diffs

from attncli.errors import AttnError
from attncli.models import FAMILIES, family, load_model

ROTATIONS = FIXTURES.parent / "rope_rotations.npz"
N, KEPT = 20, [1, 6, 13, 19]  # as scripts/make_rope_rotations.py
PARITY = 1e-5
ROPE_FAMILIES = sorted(t for t in FAMILIES if family(t).order == "rope")
FIXTURE = {"modernbert": "modernbert-mlm"}  # a family's fixture, where not its model_type
NO_SCALING = {"gptj"}  # transformers' GPT-J reads no rope scaling: neither does attncli


def fixture(model_type: str) -> str:
    return FIXTURE.get(model_type, model_type)


def edited_copy(name: str, change: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of fixture name whose config.json (its text_config, where there is one) has the
    keys in change["drop"] taken out and those in change["set"] set."""
    d = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    config = json.loads((d / "config.json").read_text())
    text = config.get("text_config", config)
    for key in change["drop"]:
        text.pop(key)
    text.update(change["set"])
    (d / "config.json").write_text(json.dumps(config))
    return d


def turned(model: Any, i: int) -> np.ndarray | None:
    """Layer i's rotation of the identity at positions KEPT of N: (head_dim, KEPT, head_dim)."""
    rotate = model.rotation(N, i)
    if rotate is None:
        return None
    eye = np.broadcast_to(np.eye(model.head_dim, dtype=np.float32)[:, None, :],
                          (model.head_dim, N, model.head_dim))
    return np.asarray(rotate(eye.copy()))[:, KEPT]


@pytest.fixture(scope="module")
def rotations() -> dict[str, np.ndarray]:
    with np.load(ROTATIONS, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("form", ["new", "old"])
@pytest.mark.parametrize("scaling", ["yarn", "dynamic"])
@pytest.mark.parametrize("model_type", ROPE_FAMILIES)
def test_a_scaling_is_computed_as_transformers_does_or_refused(
        rotations: dict[str, np.ndarray], model_type: str, scaling: str, form: str,
        tmp_path: Path) -> None:
    if model_type in NO_SCALING:
        assert bool(rotations[f"{model_type}.ignored"])  # transformers' table did not change
        rope = {"rope_type": scaling, "factor": 4.0, "original_max_position_embeddings": 8}
        key = "rope_parameters" if form == "new" else "rope_scaling"
        plain = load_model(str(FIXTURES / fixture(model_type)))
        model = load_model(str(edited_copy(fixture(model_type), {"drop": [], "set": {key: rope}},
                                           tmp_path)))
        for i in range(model.n_layers):
            np.testing.assert_array_equal(turned(model, i), turned(plain, i))
        return
    key = f"{fixture(model_type)}.{scaling}.{form}"
    assert f"{key}.edit" in rotations, f"{key}: no reference (scripts/make_rope_rotations.py)"
    d = edited_copy(fixture(model_type), json.loads(str(rotations[f"{key}.edit"])), tmp_path)
    if f"{key}.refused" in rotations:  # transformers refuses this config: so does attncli
        with pytest.raises(AttnError, match="rope|short_factor"):
            load_model(str(d))
        return
    model = load_model(str(d))
    model.check_length(N)  # dynamic's longer inputs are taken, not refused
    plain = load_model(str(FIXTURES / fixture(model_type)))
    layers = [int(k.rsplit(".", 1)[1]) for k in rotations
              if k.startswith(key + ".") and k.rsplit(".", 1)[1].isdigit()]
    assert layers
    changed = []  # an older Gemma 3 config scales its global layers only
    for i in layers:
        found, expected = turned(model, i), rotations[f"{key}.{i}"]
        if found is None:  # a layer without RoPE (SmolLM3's NoPE layers)
            continue
        assert np.abs(found - expected).max() <= PARITY, f"{key} layer {i}"
        unscaled = turned(plain, i)
        assert unscaled is not None
        changed.append(np.abs(unscaled - expected).max() > 100 * PARITY)
    assert any(changed)  # the scaling changes transformers' rotation: this check can fail


# ---- ModernBERT: each kind's scaling, on the whole model ----


def copy_of(name: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    d = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    return d, json.loads((d / "config.json").read_text())


def write(d: Path, config: dict[str, Any]) -> None:
    (d / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("name", ["modernbert-scaled", "modernbert-longrope"])
def test_modernbert_scaled_fixtures_match_every_layer(name: str) -> None:
    assert max(layer_diffs(FIXTURES / name, name)) <= PARITY
    assert sum(f.stat().st_size for f in (FIXTURES / name).iterdir()) < 120_000


@pytest.mark.parametrize(("kind", "layer"), [("full_attention", 0), ("sliding_attention", 1)])
def test_modernbert_without_a_kinds_scaling_no_longer_matches_its_layer(
        tmp_path: Path, kind: str, layer: int) -> None:
    d, config = copy_of("modernbert-scaled", tmp_path)
    rope = config["rope_parameters"]
    assert rope[kind]["rope_type"] == ("dynamic" if layer == 0 else "yarn")
    rope[kind] = {"rope_type": "default", "rope_theta": rope[kind]["rope_theta"]}
    if kind == "full_attention":  # without dynamic, 8 positions are all it takes
        config["max_position_embeddings"] = 64
    write(d, config)
    diffs = layer_diffs(d, "modernbert-scaled")
    assert diffs[layer] > 100 * PARITY
    assert (diffs[0] > PARITY) is (layer == 0)  # layer 0 is untouched by layer 1's RoPE


def test_modernbert_without_the_factor_on_cos_and_sin_no_longer_matches(tmp_path: Path) -> None:
    d, config = copy_of("modernbert-longrope", tmp_path)
    for kind in ("full_attention", "sliding_attention"):
        config["rope_parameters"][kind]["attention_factor"] = 1.0
    write(d, config)
    assert min(layer_diffs(d, "modernbert-longrope")) > 100 * PARITY


def test_modernbert_reads_an_older_rope_scaling_for_both_kinds(tmp_path: Path) -> None:
    d, config = copy_of("modernbert-longrope", tmp_path)
    rope = config.pop("rope_parameters")
    full, sliding = rope["full_attention"], rope["sliding_attention"]
    scaling = {k: v for k, v in full.items() if k != "rope_theta"}
    assert scaling == {k: v for k, v in sliding.items() if k != "rope_theta"}
    write(d, {**config, "rope_scaling": scaling, "global_rope_theta": full["rope_theta"],
              "local_rope_theta": sliding["rope_theta"]})
    assert max(layer_diffs(d, "modernbert-longrope")) <= PARITY


@pytest.mark.parametrize(("change", "message"), [
    ({"rope_parameters": {"rope_type": "linear", "factor": 2.0}}, "names no layer kind"),
    ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, "reads one form"),
])
def test_modernbert_refuses_rope_forms_transformers_does_not_read_alike(
        tmp_path: Path, change: dict[str, Any], message: str) -> None:
    d, config = copy_of("modernbert-mlm", tmp_path)
    write(d, {**config, **change})
    with pytest.raises(AttnError, match=message):
        load_model(str(d))


@pytest.mark.parametrize("kind", ["linear", "llama3"])
def test_phi3_refuses_the_rope_types_its_config_refuses(tmp_path: Path, kind: str) -> None:
    d, config = copy_of("phi3", tmp_path)
    config["rope_parameters"].update(rope_type=kind, factor=2.0, low_freq_factor=1.0,
                                     high_freq_factor=4.0, original_max_position_embeddings=8)
    write(d, config)
    with pytest.raises(AttnError, match="takes only longrope"):
        load_model(str(d))


@pytest.mark.parametrize("name", ["gemma3_text-scaled", "modernbert-scaled"])
def test_rope_per_layer_kind_ignores_a_top_level_original_length(name: str,
                                                                 tmp_path: Path) -> None:
    # transformers reads original_max_position_embeddings only from each kind's parameters
    # when RoPE is given per layer kind, so a top-level one changes no number
    d, config = copy_of(name, tmp_path)
    write(d, {**config, "original_max_position_embeddings": 4})
    assert max(layer_diffs(d, name)) <= PARITY
