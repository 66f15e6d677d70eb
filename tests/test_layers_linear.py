"""linear() multiplies a few rows the other way round, (w.T @ x.T).T, for speed: the same
dot products in the same order, so the same bits as x @ w, in float32 and float64."""

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
def test_a_few_rows_give_the_bits_of_x_at_w(shape: tuple[int, int], dtype: type) -> None:
    rng = np.random.default_rng(sum(shape))
    stored = rng.standard_normal(shape).astype(dtype)  # (out, in)
    w = stored.T  # (in, out), as the families hold them
    b = rng.standard_normal(shape[0]).astype(dtype)
    for n in (1, 2, 3, 7, 12, 13, 40, layers.FEW_ROWS):
        x = rng.standard_normal((n, shape[1])).astype(dtype)
        got, want = linear(x, w, b), x @ w + b
        assert got.dtype == want.dtype and got.flags.c_contiguous
        assert got.tobytes() == want.tobytes(), (n, shape)


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
