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
