"""erfc and GELU, computed block by block in scratch arrays (models/layers.py), against the
plain Numerical Recipes expression they replace (the same bits) and against math.erfc."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from attncli.models import layers
from attncli.models.layers import erf, erfc, gelu


def plain_erfc(z: np.ndarray) -> np.ndarray:
    """Numerical Recipes' erfcc as one numpy expression: what erfc computed before it went
    block by block."""
    a = np.abs(z)
    t = 1 / (1 + 0.5 * a)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    y = t * np.exp(-a * a + poly)
    return np.where(z >= 0, y, 2 - y)


def plain_gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * plain_erfc(-x / math.sqrt(2.0))


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


floats = st.floats(-40, 40, allow_nan=False, width=32)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=3, max_side=40), elements=floats))
def test_erfc_and_gelu_have_the_plain_expressions_bits_float32(x: np.ndarray) -> None:
    with np.errstate(all="ignore"):
        assert same_bits(erfc(x), plain_erfc(x))
        assert same_bits(gelu(x), plain_gelu(x))
        assert same_bits(erf(x), 1 - plain_erfc(x))


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=60),
                  elements=st.floats(-40, 40, allow_nan=False)))
def test_erfc_has_the_plain_expressions_bits_float64(x: np.ndarray) -> None:
    assert same_bits(erfc(x), plain_erfc(x))


@pytest.mark.parametrize("shape", [(3 * (1 << 15) + 17,), (512, 1536), (7, 4864), (0, 5)])
def test_blocks_join_up_with_the_same_bits(shape: tuple[int, ...]) -> None:
    # sizes across several BLOCKs, with a short last block; a strided view too
    x = (np.random.default_rng(3).standard_normal(shape) * 4).astype(np.float32)
    assert same_bits(gelu(x), plain_gelu(x))
    assert same_bits(erfc(x), plain_erfc(x))
    if x.ndim == 2 and x.size:
        view = x[:, ::3]
        assert same_bits(gelu(view), plain_gelu(view))


def test_a_small_block_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.linspace(-9, 9, 1001, dtype=np.float32).reshape(7, 143)
    monkeypatch.setattr(layers, "BLOCK", 64)
    assert same_bits(gelu(x), plain_gelu(x))


def test_edges_zero_signed_zero_infinities() -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, 1e-30, -1e-30, 30.0, -30.0], np.float32)
    with np.errstate(all="ignore"):
        got, want = erfc(x), plain_erfc(x)
    assert same_bits(got, want)
    assert list(got[[0, 1, 2, 3]]) == [1.0, 1.0, 0.0, 2.0]
    assert np.isnan(erfc(np.array([np.nan], np.float32)))[0]


def test_erfc_is_within_its_stated_error_of_math_erfc() -> None:
    x = np.linspace(-10, 10, 40_001)  # float64: Numerical Recipes' fractional error < 1.2e-7
    ref = np.array([math.erfc(v) for v in x])
    assert (np.abs(erfc(x) - ref) <= 1.2e-7 * ref).all()
    # and GELU in float32, as the layers run it, against the erf formula in float64
    x32 = np.linspace(-10, 10, 40_001, dtype=np.float32)
    exact = np.array([float(v) * 0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x32])
    assert (np.abs(gelu(x32) - exact) <= 1e-6 * np.maximum(1, np.abs(exact))).all()


def test_integers_are_read_as_float64() -> None:
    assert erfc(np.array([0, 1, -2])).dtype == np.float64
    assert same_bits(erfc(np.array([0, 1, -2])), plain_erfc(np.array([0.0, 1.0, -2.0])))
