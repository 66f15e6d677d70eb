"""linear() multiplies a few rows the other way round, (w.T @ x.T).T, for speed: the same dot
products, which BLAS may sum in another order (numpy 1.21's OpenBLAS does; later ones give the
same bits), so each number is x @ w's to within the rounding of a dot product."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.models import layers
from attncli.models.layers import linear

# (out, in) as checkpoints store them: MiniLM's, Qwen2.5-0.5B's, and small and odd ones
SHAPES = [(384, 384), (1536, 384), (384, 1536), (4864, 896), (896, 4864), (128, 896), (32, 32),
          (7, 5), (1, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_few_rows_give_x_at_w_to_within_a_dot_products_rounding(shape: tuple[int, int],
                                                                  dtype: type) -> None:
    rng = np.random.default_rng(sum(shape))
    stored = rng.standard_normal(shape).astype(dtype)  # (out, in)
    w = stored.T  # (in, out), as the families hold them
    b = rng.standard_normal(shape[0]).astype(dtype)
    for n in (1, 2, 3, 7, 12, 13, 40, layers.FEW_ROWS):
        x = rng.standard_normal((n, shape[1])).astype(dtype)
        got, want = linear(x, w, b), x @ w + b
        assert got.dtype == want.dtype and got.flags.c_contiguous
        # any order of summing k products is within k·eps·Σ|x_i w_i| of the exact sum
        eps = np.finfo(dtype).eps
        bound = 2 * shape[1] * eps * (np.abs(x).astype(np.float64) @ np.abs(w) + np.abs(b))
        exact = x.astype(np.float64) @ w.astype(np.float64) + b
        assert (np.abs(got - exact) <= bound).all(), (n, shape)
        assert (np.abs(want - exact) <= bound).all(), (n, shape)  # the bound holds for x @ w
        assert np.allclose(got, want, rtol=0, atol=float(2 * bound.max())), (n, shape)


def test_many_rows_and_other_layouts_take_x_at_w() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 5)).astype(np.float32)  # C-ordered (in, out): GPT-2's Conv1D
    x = rng.standard_normal((3, 6)).astype(np.float32)
    assert linear(x, w).tobytes() == (x @ w).tobytes()
    assert linear(x[0], w).tobytes() == (x[0] @ w).tobytes()  # one vector
    big = rng.standard_normal((layers.FEW_ROWS + 1, 5)).astype(np.float32)
    w_t = rng.standard_normal((7, 5)).astype(np.float32).T
    assert linear(big, w_t).tobytes() == (big @ w_t).tobytes()
    mixed = linear(x.astype(np.float64), rng.standard_normal((5, 6)).astype(np.float32).T)
    assert mixed.dtype == np.float64


def test_layer_norm_in_place_has_the_plain_expressions_bits() -> None:
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        x = (rng.standard_normal((37, 384)) * 3 + 1).astype(dtype)
        w, b = rng.standard_normal(384).astype(dtype), rng.standard_normal(384).astype(dtype)
        mu = x.mean(axis=-1, keepdims=True)
        var = np.square(x - mu).mean(axis=-1, keepdims=True)
        plain = (x - mu) / np.sqrt(var + 1e-12) * w + b
        got = layers.layer_norm(x, w, b, 1e-12)
        assert got.dtype == plain.dtype and got.tobytes() == plain.tobytes()
    x32 = rng.standard_normal((3, 4)).astype(np.float32)  # float64 weights: a float64 result
    w64, b64 = np.ones(4), np.zeros(4)
    assert layers.layer_norm(x32, w64, b64, 1e-5).dtype == np.float64


def test_add_fresh_adds_in_place_only_when_the_sum_keeps_y_as_it_is() -> None:
    y = np.ones((2, 3), np.float32)
    same = layers.add_fresh(y, np.arange(3, dtype=np.float32))
    assert same is y and y.tolist() == [[1, 2, 3], [1, 2, 3]]
    wider = layers.add_fresh(np.ones((2, 3), np.float32), np.arange(3, dtype=np.float64))
    assert wider.dtype == np.float64
    grown = layers.add_fresh(np.ones((1, 3), np.float32), np.ones((2, 1), np.float32))
    assert grown.shape == (2, 3)


def test_by_stream_gives_each_stream_the_bits_it_gets_alone() -> None:
    """One product over every row of a batch may sum a row differently (another BLAS kernel
    for another size); BY_STREAM multiplies each stream as if alone, to the bit."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((64, 32)).astype(np.float32).T  # (in, out), stored (out, in)
    b = rng.standard_normal(64).astype(np.float32)
    x = rng.standard_normal((5, 7, 32)).astype(np.float32)  # 5 streams of 7 rows
    token = layers.BY_STREAM.set(True)
    try:
        got = linear(x, w, b)
    finally:
        layers.BY_STREAM.reset(token)
    assert got.shape == (5, 7, 64)
    for s in range(5):
        np.testing.assert_array_equal(got[s], linear(x[s], w, b))
