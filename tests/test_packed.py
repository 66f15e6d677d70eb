"""A bf16 matrix multiplied as the checkpoint stores it (layers.Packed): each block of its rows
converted in a small buffer and multiplied there, maybe on several threads. Every number is a
float32 dot product of a row of x and a column of W, as with W converted whole: the same to
within that dot product's rounding, and the same bits however the blocks are split."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.models import layers
from attncli.models.layers import Packed, linear


def packed(rng: np.random.Generator, n_out: int, n_in: int) -> tuple[Packed, np.ndarray]:
    """A random bf16 matrix stored (out, in), and the float32 W (in, out) it stands for,
    worked out here by hand: bf16 is a float32's top 16 bits."""
    values = rng.standard_normal((n_out, n_in)).astype(np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)  # (out, in)
    w = (bits.astype(np.uint32) << 16).view(np.float32).T  # (in, out)
    return Packed(bits), w


def within_rounding(got: np.ndarray, x: np.ndarray, w: np.ndarray) -> None:
    """got equals x @ w to within the rounding of a float32 dot product of len(w) terms."""
    exact = x.astype(np.float64) @ w.astype(np.float64)
    bound = 2 * w.shape[0] * np.finfo(np.float32).eps * (np.abs(x).astype(np.float64)
                                                         @ np.abs(w).astype(np.float64))
    assert got.dtype == np.float32 and got.shape == exact.shape
    assert (np.abs(got - exact) <= bound + 1e-30).all()


def test_a_worked_example() -> None:
    # W = [[1, 2], [0.5, -1], [3, 0.25]] (in 3, out 2); bf16 holds these exactly
    w = np.array([[1, 2], [0.5, -1], [3, 0.25]], dtype=np.float32)
    bits = (np.ascontiguousarray(w.T).view(np.uint32) >> 16).astype(np.uint16)  # (out, in)
    x = np.array([[1, 2, 3], [0, 1, 0]], dtype=np.float32)
    # row 1: 1·1 + 2·0.5 + 3·3 = 11, 1·2 + 2·(-1) + 3·0.25 = 0.75; row 2: W's second row
    np.testing.assert_array_equal(linear(x, Packed(bits)), [[11, 0.75], [0.5, -1]])
    np.testing.assert_array_equal(linear(x, Packed(bits), np.array([1, -1], np.float32)),
                                  [[12, -0.25], [1.5, -2]])


@settings(max_examples=60, deadline=None)
@given(n_out=st.integers(1, 70), n_in=st.integers(1, 40), n=st.sampled_from([1, 5, 64, 65, 130]),
       block=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_blocks_of_any_size_give_x_at_w(n_out: int, n_in: int, n: int, block: int,
                                        seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, w = packed(rng, n_out, n_in)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    saved = layers.PACKED_BLOCK
    layers.PACKED_BLOCK = block  # rows of max(1, block // n_in), the last block maybe short
    try:
        # OpenBLAS's kernels for tiny odd sizes may raise the invalid flag from vector lanes
        # they then discard (numpy warns, once in many runs): the numbers are what is checked
        with np.errstate(invalid="ignore"):
            got = linear(x, p)
        within_rounding(got, x, w)
    finally:
        layers.PACKED_BLOCK = saved


def test_split_over_threads_gives_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    p, w = packed(rng, 301, 64)
    x = rng.standard_normal((12, 64)).astype(np.float32)
    monkeypatch.setattr(layers, "PACKED_BLOCK", 640)  # blocks of 10 rows: 31 of them
    monkeypatch.setattr(layers, "_product_threads", lambda: 1)
    alone = linear(x, p)
    for parts in (2, 3, 31, 64):
        monkeypatch.setattr(layers, "_product_threads", lambda parts=parts: parts)
        assert linear(x, p).tobytes() == alone.tobytes(), parts
    within_rounding(alone, x, w)


def test_products_split_only_on_the_main_thread_with_one_blas_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models.read_ahead import ReadAhead

    monkeypatch.setattr(layers, "usable_cpus", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert layers._product_threads() == 4
    assert ReadAhead(layers._product_threads).result() == 1  # on a worker: not again
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # BLAS shares the work itself
    assert layers._product_threads() == 1
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert layers._product_threads() == 4


def test_a_batch_of_streams_and_float64_rows() -> None:
    rng = np.random.default_rng(4)
    p, w = packed(rng, 9, 6)
    streams = rng.standard_normal((3, 4, 6)).astype(np.float32)  # (b, n, in)
    got = linear(streams, p)
    assert got.shape == (3, 4, 9)
    within_rounding(got.reshape(12, 9), streams.reshape(12, 6), w)
    wide = rng.standard_normal((2, 6))  # float64 rows: W converted whole, a float64 product
    out = linear(wide, p)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, wide @ w.astype(np.float64), rtol=1e-12)
    assert p.shape == w.shape == (6, 9)
