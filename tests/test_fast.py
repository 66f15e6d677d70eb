"""attention_fast gives the lesson's numbers (attention.py): the same steps, in blocks of rows,
in place, with only some rows kept.

Where the two are equal bit for bit, and why:
- Step 4 and the softmax are the same operations on each entry in the same order (÷√d_k or
  × scale, tanh cap, + bias, -inf where masked; a row's shift, exp, sum along the row and
  division), so given the same scores they give the same bits, whatever the block, the rows
  kept, or whether the arrays are new or worked out in place.
- The products are where the two may differ: the fast path sums one float64 head in a fixed
  order where the lesson's `@` calls BLAS, and BLAS may sum a block of rows (gemv for one
  row) in another order than the whole matrix. So the scores are bit for bit only when no
  rounding happens in the sums (whole numbers from -3 to 3: every product and sum is exact,
  the first two properties), or when both run the very same BLAS call (one block, every row,
  products through BLAS: the third). Step 5 sums weights that are not whole numbers, so in
  the first two the output agrees to rounding.
- Otherwise the numbers agree to rounding, and which keys are hidden agrees exactly (the
  fourth).
"""

from __future__ import annotations

from dataclasses import replace
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli import attention, attention_fast
from attncli.attention import Variant
from attncli.attention_fast import rows_of

STEPS = ("scores", "logits", "weights", "output", "capped", "uncapped")
EXAMPLES = 150


def variants(data: st.DataObject, rng: np.random.Generator, heads: int, n: int, m: int
             ) -> Variant:
    """A random Variant: causal (then m = n), a random mask, soft-cap, score bias, a scale of
    the model's own or step 4's division skipped."""
    draw = data.draw
    how = draw(st.sampled_from(["divide", "scale", "skip"]))
    lead = () if heads == 0 else (heads,)
    return Variant(
        causal=n == m and draw(st.booleans()),
        mask=rng.random((n, m)) < 0.3 if draw(st.booleans()) else None,
        softcap=draw(st.sampled_from([None, 0.7, 5.0])),
        score_bias=rng.normal(0, 2, (*lead, n, m)) if draw(st.booleans()) else None,
        scale=draw(st.sampled_from([0.125, 1.0, 3.0])) if how == "scale" else None,
        skip_scale=how == "skip")


def runs(q: np.ndarray, k: np.ndarray, v: np.ndarray, variant: Variant, block: int,
         rows: list[int] | None) -> tuple[tuple, tuple]:
    """(the lesson's steps 3 to 5, keeping `rows`; the fast path's with blocks of `block`)."""
    lesson = attention.attend(q, k, v, variant)
    with mock.patch.object(attention_fast, "BLOCK", block):
        fast = attention_fast.attend(q, k, v, variant,
                                     None if rows is None else np.asarray(rows))
    kept = slice(None) if rows is None else rows
    return tuple(None if a is None else a[..., kept, :] for a in lesson), fast


def shapes(data: st.DataObject) -> tuple[int, int, int, int, int, list[int] | None]:
    """(heads, 0 for one head; n; m; d; block size; rows kept, or None for all)."""
    heads, n = data.draw(st.integers(0, 3)), data.draw(st.integers(1, 12))
    m = n if data.draw(st.booleans()) else data.draw(st.integers(1, 12))
    d, block = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 14))
    rows = (sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1)))
            if data.draw(st.booleans()) else None)
    return heads, n, m, d, block, rows


def arrays(rng: np.random.Generator, heads: int, dims: tuple[int, ...], whole: bool
           ) -> np.ndarray:
    """One head in float64 (heads 0) or a batch of heads in float32, as the callers run them;
    whole numbers from -3 to 3 when `whole`."""
    shape = dims if heads == 0 else (heads, *dims)
    a = rng.integers(-3, 4, shape).astype(float) if whole else rng.normal(0, 1, shape)
    return a if heads == 0 else a.astype(np.float32)


@settings(max_examples=EXAMPLES, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_with_exact_sums_every_step_before_the_output_is_the_lessons_bit_for_bit(
        seed: int, data: st.DataObject) -> None:
    # whole numbers: every product and sum of step 3 is exact, in any order
    heads, n, m, d, block, rows = shapes(data)
    rng = np.random.default_rng(seed)
    q, k, v = (arrays(rng, heads, (length, d), True) for length in (n, m, m))
    variant = variants(data, rng, heads, n, m)
    lesson, fast = runs(q, k, v, variant, block, rows)
    for name, a, b in zip(STEPS, lesson, fast, strict=True):
        assert (a is None) == (b is None), name
        if a is not None and name != "output":
            assert a.dtype == b.dtype and a.shape == b.shape, name
            assert a.tobytes() == b.tobytes(), name
    # step 5 sums weights that are not whole numbers: to rounding
    tight = 1e-12 if heads == 0 else 1e-5
    np.testing.assert_allclose(fast[3], lesson[3], rtol=tight, atol=tight)


MATRICES = ("scores", "logits", "weights", "capped", "uncapped", "score_bias", "mask")


@settings(max_examples=EXAMPLES, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_a_heads_steps_with_some_rows_and_rows_added_are_the_lessons_rows(
        seed: int, data: st.DataObject) -> None:
    # one head from x and the weights (whole numbers, so step 2 and 3 are exact too), some
    # query rows kept, then more added by with_rows: each matrix holds the lesson's rows
    _, n, m, d, block, rows = shapes(data)
    rows = rows or [0]
    more = data.draw(st.lists(st.integers(0, n - 1)))
    rng = np.random.default_rng(seed)
    x, source = rng.integers(-3, 4, (n, 4)).astype(float), rng.integers(-3, 4, (m, 4))
    w = [rng.integers(-3, 4, (4, d)).astype(float) for _ in range(3)]
    b = [rng.integers(-3, 4, d).astype(float) for _ in range(3)]
    args = {"b_q": b[0], "b_k": b[1], "b_v": b[2], "variant": variants(data, rng, 0, n, m),
            "source": None if m == n else source}
    lesson = attention.self_attention(x, *w, **args)
    with mock.patch.object(attention_fast, "BLOCK", block):
        part = attention_fast.self_attention(x, *w, **args, rows=rows)
        grown = attention_fast.with_rows(part, more)
    for steps, kept in ((part, rows), (grown, sorted({*rows, *more}))):
        assert rows_of(steps).tolist() == kept
        for name in ("x", "q", "k", "v", "source"):
            a, c = getattr(lesson, name), getattr(steps, name)
            assert (a is None and c is None) or a.tobytes() == c.tobytes(), name
        for name in MATRICES:
            a, c = getattr(lesson, name), getattr(steps, name)
            assert (a is None) == (c is None), name
            assert a is None or a[kept].tobytes() == c.tobytes(), name
        np.testing.assert_allclose(steps.output, lesson.output[kept], rtol=1e-12, atol=1e-12)


@settings(max_examples=EXAMPLES, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rotate=st.booleans(), bias=st.booleans(),
       data=st.data())
def test_one_block_through_blas_is_the_lesson_bit_for_bit(seed: int, rotate: bool,
                                                          bias: bool, data: st.DataObject
                                                          ) -> None:
    # one head in float64, products through BLAS as the lesson's @ (ROW_WORK 0), every row in
    # one block: the same calls on the same arrays, in place or not, give the same bits
    n = data.draw(st.integers(1, 12))
    m = n if data.draw(st.booleans()) else data.draw(st.integers(1, 12))
    d_model, d = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    rng = np.random.default_rng(seed)
    x, source = rng.normal(0, 1, (n, d_model)), rng.normal(0, 1, (m, d_model))
    w = [rng.normal(0, 1, (d_model, d)) for _ in range(3)]
    b = [rng.normal(0, 1, d) if bias else None for _ in range(3)]
    variant = variants(data, rng, 0, n, m)
    if rotate:
        variant = replace(variant, rotate=lambda t: t[..., ::-1] * 0.5,
                          qk_norm=lambda q, k: (q / 3.0, k * 1.5))
    cross = m != n or data.draw(st.booleans())  # keys and values from another text
    args = {"b_q": b[0], "b_k": b[1], "b_v": b[2], "variant": variant,
            "source": source if cross else None}
    lesson = attention.self_attention(x, *w, **args)
    with mock.patch.object(attention_fast, "ROW_WORK", 0):
        fast = attention_fast.self_attention(x, *w, **args)
    for name in (*STEPS, "q", "k", "v", "mask", "score_bias", "q_unrotated", "k_unrotated",
                 "q_projected", "k_projected", "source"):
        a, c = getattr(lesson, name), getattr(fast, name)
        assert (a is None) == (c is None), name
        assert a is None or np.array_equal(a, c), name
    assert lesson.variant is fast.variant and lesson.skip_scale == fast.skip_scale


@settings(max_examples=EXAMPLES, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_any_blocks_and_rows_give_the_lessons_numbers_to_rounding(
        seed: int, data: st.DataObject) -> None:
    # any numbers: the products may sum in another order (fixed, or BLAS on a block), so each
    # entry agrees to rounding; which keys are hidden (-inf, weight exactly 0) agrees exactly
    heads, n, m, d, block, rows = shapes(data)
    rng = np.random.default_rng(seed)
    q, k, v = (arrays(rng, heads, (length, d), False) for length in (n, m, m))
    variant = variants(data, rng, heads, n, m)
    lesson, fast = runs(q, k, v, variant, block, rows)
    tight = 1e-10 if heads == 0 else 1e-4
    for name, a, b in zip(STEPS, lesson, fast, strict=True):
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape, name
            np.testing.assert_allclose(b, a, rtol=tight, atol=tight, err_msg=name)
    assert np.array_equal(np.isneginf(lesson[1]), np.isneginf(fast[1]))
    assert np.array_equal(lesson[2] == 0, fast[2] == 0)


def test_one_float64_head_sums_each_product_in_a_fixed_order() -> None:
    # the term-by-term sum, in order, whatever the other rows; BLAS agrees to rounding
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, (64, 6)), rng.normal(0, 1, (6, 64))
    fixed = attention_fast.matmul(a, b)
    assert np.array_equal(fixed, (a[:, :, None] * b[None, :, :]).sum(axis=1))
    assert np.array_equal(fixed[40:41], attention_fast.matmul(a[40:41], b))
    assert np.allclose(fixed, a @ b, rtol=1e-13, atol=1e-14)
