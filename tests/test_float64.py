"""--float64: a real model's whole forward pass in float64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import invoke as run
from conftest import ok_json, refused

FIXTURES = Path(__file__).parent / "fixtures" / "models"
TEXT = "The animal didn't cross the street because it was tired"


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_float64_runs_every_layer_in_float64_and_stays_close_to_float32(name: str) -> None:
    args = ("explain", TEXT, "--model", str(FIXTURES / name), "--layer", "all", "--head", "all",
            "--json")
    f64, f32 = ok_json(run(*args, "--float64")), ok_json(run(*args))
    assert (f64["config"]["dtype"], f32["config"]["dtype"]) == ("float64", "float32")
    worst = max(np.abs(np.array(a["weights"]) - np.array(b["weights"])).max()
                for a, b in zip(f64["heads"], f32["heads"], strict=True))
    assert 0 < worst < 1e-5  # float32's rounding, and no more: the same computation


def test_float64_needs_a_model() -> None:
    refused(run("explain", TEXT, "--float64"), "--float64 goes with --model")


FOUND = sorted(p.name for p in FIXTURES.iterdir() if (p / "reference.npz").is_file())


# Measured 2026-11-26: these four (and phi3-lm, phi3 with an LM head) stay 1.1e-6 to 2.2e-6
# from transformers in float64, every other fixture within 1e-6. transformers keeps float32
# islands in its float64 run: cos and sin of the RoPE angles (torch's float32 cos is up to 1
# unit in the last place off the correctly rounded value; numpy's differs from it) and the
# RMSNorm. Handing attn torch's own cos and sin tables brings llama-dynamic from 2.1e-6 to
# 0.89e-6 and the other three to 1.05e-6-1.20e-6; the rest is the float32 RMSNorm's
# summation order. The bound is theirs, written down.
NOT_YET_1E_6 = {"llama-dynamic": 2.5e-6, "llama-llama3": 1.5e-6, "llama-yarn": 1.5e-6,
                "phi3": 1.5e-6, "phi3-lm": 1.5e-6}  # phi3-lm: phi3's weights, with its LM head
# olmo: transformers runs its parameter-free LayerNorms in float32 in a float64 model too
NOT_YET_1E_6["olmo"] = 1.2e-6
# qwen2_moe: the same float32 RMSNorms and cos/sin (its routing weights in float32 too, but
# rounding ours to float32 moves the figure by 2e-9: not the cause)
NOT_YET_1E_6["qwen2_moe"] = 1.2e-6
# modernbert-longrope: 1.09e-6, its sharp rows (92% peak above 0.5) through the float32 cos
# and sin above, scaled by longrope's factor (not measured apart from the cos and sin)
NOT_YET_1E_6["modernbert-longrope"] = 1.2e-6


@pytest.mark.parametrize("name", FOUND)
def test_float64_matches_transformers_in_float64_within_1e_6(name: str) -> None:
    from attncli.models import load_model

    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        ids, expected = npz["input_ids"].tolist(), npz["attentions64"]  # (layers, heads, n, n)
    model = load_model(str(FIXTURES / name))
    layers, heads = list(range(model.n_layers)), list(range(model.n_heads))
    steps, _ = model.run(ids, layers, heads, float64=True)
    worst = max(np.abs(hs.steps.weights - expected[hs.layer, hs.head]).max() for hs in steps)
    assert worst <= NOT_YET_1E_6.get(name, 1e-6), (name, worst)
