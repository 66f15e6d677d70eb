"""Scaled dot-product self-attention, step by step, in plain numpy.

This module is the lesson written as code. It does no I/O and knows nothing
about terminals, files or models: it takes arrays and returns arrays.

    1. X                         the embeddings that go in
    2. Q = X·W_Q, K = X·W_K, V = X·W_V
    3. scores  = Q·Kᵀ
    4. scaled  = scores / √d_k,  then  weights = softmax(scaled), row by row
    5. output  = weights·V
    6. with several heads: concat = [output_0 | output_1 | …],  attention output = concat·W_O

A real model's layer code only prepares X, the W matrices (and biases) and a Variant, and
then calls `self_attention` for the head it shows (float64) or `project_qk` and `attend` for
every head of a layer at once (float32, any batch shape): there is no second copy of the
steps. What a model does beyond the lesson is data in its Variant, never a code path:

    scale        the scores are multiplied by it instead of divided by √d_k (Gemma, T5: 1)
    softcap      scores -> softcap · tanh(scores / softcap) (Gemma 2)
    score_bias   added to the scores (T5's relative positions, ALiBi)
    qk_norm      q and k normalised before the rotation (Qwen3, OLMo 2, Gemma 3)
    rotate       RoPE, full or partial, turning q and k by position
    mask         causal, sliding window: True where a query may not see a key
    window       the sliding window the mask holds, as a number (to say why a key is hidden)
    skip_scale   step 4 leaves the scores undivided (the experiment that shows why √d_k)
    causal       the causal mask, worked out for each block of queries (no n×n array)

Masking: a masked entry is -inf in `scaled` and exactly 0 in `weights`.
A row in which every key is masked has no key to attend to; its weights are
defined to be all zeros, so its output is the zero vector (never NaN).

Steps 3 to 5 run BLOCK queries at a time. A screen shows a few dozen rows of a long text, so
they can be asked for alone (`rows=`): each kept row comes out of the same block computation
as in the whole run, and so has exactly the same numbers, while memory grows with the rows
kept, not with n².
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

Rotate = Callable[[np.ndarray], np.ndarray]
Norm = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Variant:
    """How a head departs from the lesson's plain steps; at its defaults it is the lesson."""

    scale: float | None = None  # multiplies the scores; None: they are divided by √d_k
    softcap: float | None = None  # scores -> softcap · tanh(scores / softcap)
    score_bias: np.ndarray | None = None  # (..., n, n) added to the scores
    qk_norm: Norm | None = None  # (q, k) -> (q, k), before the rotation
    rotate: Rotate | None = None  # applied to q and k, (..., n, d_k) -> the same
    mask: np.ndarray | None = None  # (n, n) bool, True where a query may not see a key
    causal: bool = False  # also hide every later key (worked out block by block)
    window: int | None = None  # the mask also hides keys this many or more places back
    skip_scale: bool = False  # step 4 does not divide by √d_k (only without a scale)


PLAIN = Variant()


@dataclass(frozen=True)
class Steps:
    """Every intermediate of one head's self-attention: the "show your work" result."""

    x: np.ndarray  # (n, d_model) embeddings going in
    w_q: np.ndarray  # (d_model, d_k)
    w_k: np.ndarray  # (d_model, d_k)
    w_v: np.ndarray  # (d_model, d_v)
    q: np.ndarray  # (n, d_k)  x @ w_q (+ bias, then rotation, where the model has them)
    k: np.ndarray  # (n, d_k)  x @ w_k (likewise)
    v: np.ndarray  # (n, d_v)  x @ w_v (+ bias)
    scores: np.ndarray  # (n, n)  q @ k.T
    scaled: np.ndarray  # (n, n)  scores / sqrt(d_k), -inf where masked
    weights: np.ndarray  # (n, n)  softmax(scaled), each unmasked row sums to 1
    output: np.ndarray  # (n, d_v) weights @ v
    mask: np.ndarray | None = None  # (n, n) bool, True where a query may NOT see a key
    # only where a real model has them: the biases added in step 2, and Q and K as they
    # were before RoPE rotated them (q and k above are what step 3 multiplies)
    b_q: np.ndarray | None = None  # (d_k,)
    b_k: np.ndarray | None = None  # (d_k,)
    b_v: np.ndarray | None = None  # (d_v,)
    q_unrotated: np.ndarray | None = None  # (n, d_k)
    k_unrotated: np.ndarray | None = None  # (n, d_k)
    # only where the model's Variant has them (each one is its own labelled step)
    q_projected: np.ndarray | None = None  # (n, d_k) x @ w_q (+ b) before qk_norm
    k_projected: np.ndarray | None = None  # (n, d_k)
    scale: float | None = None  # the scores' multiplier, when it is not 1/√d_k
    softcap: float | None = None
    capped: np.ndarray | None = None  # (n, n) softcap · tanh(scores · scale / softcap)
    uncapped: np.ndarray | None = None  # (n, n) scores · scale, before the cap
    score_bias: np.ndarray | None = None  # (n, n) added before the mask
    # only for cross-attention: the rows (an encoder's output) that K and V are made from;
    # K, V and every score matrix then have m rows or columns, one per source token
    source: np.ndarray | None = None  # (m, d_model)
    # only when some query rows were asked for (a long text on a screen): the queries, in
    # order, whose rows scores, scaled, weights, output, mask and the rest hold; and how
    # steps 3 to 5 were done, so that other rows can be added (with_rows). x, q, k and v
    # always have every row.
    rows: np.ndarray | None = None  # (r,) int
    variant: Variant | None = None
    sliding_window: int | None = None  # the mask hides keys this many or more places back
    skip_scale: bool = False  # step 4 left the scores undivided: scaled = scores

    @property
    def d_k(self) -> int:
        return int(self.q.shape[1])

    def at(self, i: int) -> int:
        """Where query i's row is in the matrices with one row per query."""
        if self.rows is None:
            return i
        at = int(np.searchsorted(self.rows, i))
        if at == len(self.rows) or self.rows[at] != i:
            raise IndexError(f"query {i}'s row was not worked out")
        return at

    @property
    def window(self) -> bool:
        """Whether the mask also hides earlier keys (a sliding window), not only later ones."""
        if self.mask is None:
            return False
        rows = np.arange(len(self.mask)) if self.rows is None else self.rows
        return bool((self.mask & (np.arange(self.mask.shape[1]) < rows[:, None])).any())

    @property
    def divisor(self) -> float:
        """What step 4 divides the scores by: √d_k, 1 / the model's own scale, or 1 when the
        division is skipped."""
        if self.skip_scale:
            return 1.0
        return float(np.sqrt(self.d_k)) if self.scale is None else 1.0 / self.scale


@dataclass(frozen=True)
class HeadSteps:
    """One head's steps, with where it sits: (layer, head), both 0-based."""

    layer: int
    head: int
    steps: Steps  # for a real model, x is that layer's attention input


BLOCK = 512  # steps 3 to 5 work out this many queries at a time


def causal_mask(n: int, rows: np.ndarray | None = None) -> np.ndarray:
    """(n, n) bool mask, True above the diagonal: a token may not look at later tokens.
    With rows, only those queries' rows: (len(rows), n)."""
    rows = np.arange(n) if rows is None else np.asarray(rows)
    return np.arange(n) > rows[:, None]


def softmax(scaled: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Row-wise softmax that never overflows and never returns NaN.

    Subtracting each row's maximum before exp keeps every exponent <= 0, so
    scores of any size (1e30 or -1e30) are safe. -inf entries become exactly 0.
    A row whose entries are all -inf gets all zeros (see the module docstring).
    A row holding +inf shares its weight equally among its +inf entries.

    It works in place in the one array it returns (no n×n temporaries; out, when given):
    every row goes through the same shift, exp and division, and the rows whose maximum is
    not finite (-inf, +inf or NaN) are then overwritten with their defined weights.
    """
    scaled = np.asarray(scaled)
    if scaled.dtype not in (np.float32, np.float64):
        scaled = scaled.astype(np.float64)
    row_max = scaled.max(axis=-1, keepdims=True)  # (..., 1)
    if out is None:
        out = np.empty(scaled.shape, dtype=scaled.dtype)  # C order: a row's sum reads along it
    # over: -1e308 - 1e308 overflows to -inf, whose exp is 0; invalid: -inf - -inf and
    # inf - inf are NaN in the rows that are overwritten below
    with np.errstate(over="ignore", invalid="ignore"):
        np.subtract(scaled, row_max, out=out)  # every entry of a finite row <= 0
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)  # a finite row's max gives 1, so sum >= 1
    finite_rows = np.isfinite(row_max[..., 0])
    if not finite_rows.all():
        out[~finite_rows] = 0.0  # rows whose max is -inf (or NaN) are all zeros
        inf_rows = row_max[..., 0] == np.inf
        if inf_rows.any():
            top = scaled[inf_rows] == np.inf
            out[inf_rows] = top / top.sum(axis=-1, keepdims=True)
    return out


ROW_WORK = 4096  # a product with at most this many multiplications a row sums in a fixed order


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in float64.

    When each row of the product is small (the seeded and loaded modes), it sums in a fixed
    order, so the numbers are the same on every machine and a row's numbers do not depend on
    the other rows; larger products (real models, long inputs) go through BLAS.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[1] * b.shape[1] > ROW_WORK:
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]))
    for start in range(0, a.shape[0], BLOCK):  # a block of rows at a time: memory stays small
        rows = a[start:start + BLOCK]
        out[start:start + BLOCK] = (rows[:, :, None] * b[None, :, :]).sum(axis=1)
    return out


def _product(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b over the last two axes: matmul's fixed order for one head in float64, BLAS for
    a batch of heads (float32); into out when given."""
    if a.ndim == 2 and a.dtype == np.float64 and b.dtype == np.float64:
        if out is None:
            return matmul(a, b)
        out[...] = matmul(a, b)
        return out
    return np.matmul(a, b, out=out)


def project_qk(q: np.ndarray, k: np.ndarray, variant: Variant = PLAIN
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The end of step 2 for q and k (..., n, d_k): the model's normalisation, then its
    rotation. Returns q and k as step 3 multiplies them, and as they were before turning."""
    if variant.qk_norm is not None:
        q, k = variant.qk_norm(q, k)
    if variant.rotate is None:
        return q, k, None, None
    return variant.rotate(q), variant.rotate(k), q, k


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, variant: Variant = PLAIN,
           rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Steps 3 to 5 for q (..., n, d_k), k (..., m, d_k) and v (..., m, d_v) of any leading
    shape, in their own dtype: (scores, scaled, weights, output, capped, uncapped); the last
    two only with a soft-cap.

    With rows (query indices, ascending), only those queries' rows are kept: every matrix has
    len(rows) rows in place of n."""
    n = q.shape[-2]
    if rows is None and n <= BLOCK:  # the lesson's sizes: one block, the whole matrix
        return _attend_block(q, k, v, variant, 0, n)
    wanted = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
    kept: list[np.ndarray | None] = []  # each result, filled block by block
    at = 0
    for start in np.unique(wanted // BLOCK) * BLOCK:
        start, stop = int(start), min(n, int(start) + BLOCK)
        keep = wanted[(wanted >= start) & (wanted < stop)] - start
        # a block whose rows are all kept is worked out in its place in the result
        into = (tuple(whole[..., at:at + len(keep), :] for whole in kept[:4])
                if kept and len(keep) == stop - start else NOWHERE)
        block = _attend_block(q, k, v, variant, start, stop, into)
        if not kept:
            kept = [None if a is None else np.empty((*a.shape[:-2], len(wanted), a.shape[-1]),
                                                    a.dtype) for a in block]
        for i, (whole, a) in enumerate(zip(kept, block, strict=True)):
            if whole is not None and (i >= len(into) or a is not into[i]):
                whole[..., at:at + len(keep), :] = a if len(keep) == a.shape[-2] \
                    else a[..., keep, :]
        at += len(keep)
    return tuple(kept)


NOWHERE = (None, None, None, None)


def _attend_block(q: np.ndarray, k: np.ndarray, v: np.ndarray, variant: Variant, start: int,
                  stop: int, into: tuple = NOWHERE) -> tuple[np.ndarray, ...]:
    """Steps 3 to 5 for the queries start to stop. into: where the scores, scaled, weights
    and output go (each None: a new array)."""
    q = q[..., start:stop, :]
    # 3) Compare every query with every key: one dot product per pair.
    scores = _product(q, np.swapaxes(k, -1, -2), into[0])  # (..., n, m)
    # 4) Scale (divide by √d_k, or the model's own scale), cap, bias, hide masked keys.
    own = variant.softcap is None  # scaled is then an array of its own, changed in place
    out = into[1] if own else None
    if variant.skip_scale and variant.scale is None:
        scaled = np.multiply(scores, scores.dtype.type(1), out=out)  # × 1: exact, its own array
    elif variant.scale is None:
        scaled = np.divide(scores, np.sqrt(q.shape[-1]).astype(scores.dtype), out=out)
    else:
        scaled = np.multiply(scores, scores.dtype.type(variant.scale), out=out)
    capped = uncapped = None
    if variant.softcap is not None:
        uncapped = scaled
        cap = scores.dtype.type(variant.softcap)
        scaled = capped = np.tanh(scaled / cap) * cap
    if variant.score_bias is not None:
        bias = variant.score_bias[..., start:stop, :].astype(scores.dtype)
        scaled = np.add(scaled, bias, out=scaled if own else None)
    mask = None if variant.mask is None else variant.mask[..., start:stop, :]
    if variant.causal:
        later = causal_mask(k.shape[-2], np.arange(start, stop))
        mask = later if mask is None else mask | later
    if mask is not None and own:
        np.copyto(scaled, scores.dtype.type(-np.inf), where=mask)
    elif mask is not None:
        scaled = np.where(mask, scores.dtype.type(-np.inf), scaled)
    if into[1] is not None and scaled is not into[1]:
        into[1][...] = scaled
        scaled = into[1]
    weights = softmax(scaled, out=into[2])  # each row sums to 1
    # 5) Each output row is the weighted sum of the value rows.
    output = _product(weights, v, into[3])  # (..., n, d_v)
    return scores, scaled, weights, output, capped, uncapped


def self_attention(
    x: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    *,
    b_q: np.ndarray | None = None,
    b_k: np.ndarray | None = None,
    b_v: np.ndarray | None = None,
    rotate: Rotate | None = None,
    mask: np.ndarray | None = None,
    variant: Variant | None = None,
    source: np.ndarray | None = None,
    rows: Sequence[int] | None = None,
) -> Steps:
    """Run one head of scaled dot-product self-attention on x, in float64, and keep every
    step. rotate and mask are a Variant's, given alone; variant gives all of them.

    With source (m, d_model), the keys and values are made from source's rows instead of x's:
    cross-attention, where an encoder-decoder's target tokens (x) look at its source text.
    Every (n, n) matrix below is then (n, m).

    With rows (query indices), steps 3 to 5 keep only those queries' rows (see BLOCK)."""
    variant = variant or Variant()
    if rotate is not None or mask is not None:
        variant = replace(variant, rotate=rotate or variant.rotate,
                          mask=variant.mask if mask is None else mask)
    x = np.asarray(x, dtype=np.float64)  # (n, d_model)
    kv = x if source is None else np.asarray(source, dtype=np.float64)  # (m, d_model)

    # 1) X is given: one row per token.
    # 2) Project each row into a query, a key and a value.
    q = matmul(x, w_q)  # (n, d_k)
    k = matmul(kv, w_k)  # (m, d_k)
    v = matmul(kv, w_v)  # (m, d_v)
    if b_q is not None:
        q = q + b_q
    if b_k is not None:
        k = k + b_k
    if b_v is not None:
        v = v + b_v
    q_projected, k_projected = (q, k) if variant.qk_norm is not None else (None, None)
    q, k, q_unrotated, k_unrotated = project_qk(q, k, variant)

    # 3) to 5): scores, scaled, softmax, weighted sum
    kept = None if rows is None else np.unique(np.asarray(rows, dtype=np.intp))
    scores, scaled, weights, output, capped, uncapped = attend(q, k, v, variant, kept)

    return Steps(
        x=x,
        w_q=np.asarray(w_q, dtype=np.float64),
        w_k=np.asarray(w_k, dtype=np.float64),
        w_v=np.asarray(w_v, dtype=np.float64),
        q=q,
        k=k,
        v=v,
        scores=scores,
        scaled=scaled,
        weights=weights,
        output=output,
        mask=_mask_rows(variant, len(q), len(k), kept),
        b_q=_vector(b_q),
        b_k=_vector(b_k),
        b_v=_vector(b_v),
        q_unrotated=q_unrotated,
        k_unrotated=k_unrotated,
        q_projected=q_projected,
        k_projected=k_projected,
        scale=variant.scale,
        softcap=variant.softcap,
        capped=capped,
        uncapped=uncapped,
        score_bias=(None if variant.score_bias is None
                    else np.asarray(variant.score_bias, dtype=np.float64)[_all(kept)]),
        source=None if source is None else kv,
        rows=kept,
        variant=None if kept is None else variant,
        sliding_window=variant.window,
        skip_scale=variant.skip_scale and variant.scale is None,
    )


def _all(rows: np.ndarray | None) -> np.ndarray | slice:
    return slice(None) if rows is None else rows


def _mask_rows(variant: Variant, n: int, m: int, rows: np.ndarray | None) -> np.ndarray | None:
    """The queries' rows of the variant's mask (all of them without rows), causal included."""
    mask = None if variant.mask is None else np.asarray(variant.mask)[_all(rows)]
    if variant.causal:
        later = causal_mask(m, np.arange(n) if rows is None else rows)
        mask = later if mask is None else mask | later
    return mask


def with_rows(steps: Steps, wanted: Sequence[int]) -> Steps:
    """steps, with the rows of the queries `wanted` added where only some rows were kept;
    each comes out of its block as in the whole computation, so its numbers are the same."""
    if steps.rows is None or steps.variant is None:
        return steps
    new = np.setdiff1d(np.asarray(wanted, dtype=np.intp), steps.rows)
    if not len(new):
        return steps
    variant = steps.variant
    more = attend(steps.q, steps.k, steps.v, variant, new)
    rows = np.concatenate([steps.rows, new])
    order = np.argsort(rows, kind="stable")

    def merged(old: np.ndarray | None, extra: np.ndarray | None) -> np.ndarray | None:
        return None if old is None else np.concatenate([old, extra])[order]

    bias = (None if variant.score_bias is None
            else np.asarray(variant.score_bias, dtype=np.float64)[new])
    return replace(steps, rows=rows[order], scores=merged(steps.scores, more[0]),
                   scaled=merged(steps.scaled, more[1]), weights=merged(steps.weights, more[2]),
                   output=merged(steps.output, more[3]), capped=merged(steps.capped, more[4]),
                   uncapped=merged(steps.uncapped, more[5]),
                   mask=merged(steps.mask, _mask_rows(variant, len(steps.q), len(steps.k), new)),
                   score_bias=merged(steps.score_bias, bias))


def _vector(b: np.ndarray | None) -> np.ndarray | None:
    return None if b is None else np.asarray(b, dtype=np.float64)


@dataclass(frozen=True)
class Joined:
    """Step 6 of one layer: every head's output side by side, then the output projection."""

    layer: int
    concat: np.ndarray  # (n, heads * d_v)  [output of head 0 | head 1 | …]
    w_o: np.ndarray  # (heads * d_v, d_model)
    b_o: np.ndarray | None  # (d_model,) where the model has one
    output: np.ndarray  # (n, d_model)  concat @ w_o (+ b_o)


def join_heads(layer: int, outputs: Sequence[np.ndarray], w_o: np.ndarray,
               b_o: np.ndarray | None = None) -> Joined:
    """Put each head's output side by side and project them back to d_model with W_O."""
    concat = np.concatenate([np.asarray(o, dtype=np.float64) for o in outputs], axis=1)
    output = matmul(concat, w_o)  # (n, d_model)
    if b_o is not None:
        output = output + b_o
    return Joined(layer, concat, np.asarray(w_o, dtype=np.float64), _vector(b_o), output)


def sinusoidal_positions(n: int, d_model: int) -> np.ndarray:
    """(n, d_model) encoding of "Attention Is All You Need".

    PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))
    """
    pos = np.arange(n, dtype=np.float64)[:, None]  # (n, 1)
    two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]  # (1, ceil(d/2))
    angle = pos / np.power(10000.0, two_i / d_model)  # (n, ceil(d/2))
    pe = np.zeros((n, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe
