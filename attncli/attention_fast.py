"""The lesson's steps for long texts: blocks of query rows, worked out in place, and only
the rows a screen shows, if asked (attention.py is the lesson; this must give its numbers).

- Steps 3 to 5 run BLOCK queries at a time: the work between the kept matrices (a mask, a
  block's scores) grows with BLOCK × m, not with n × m.
- With rows, only those queries' rows are kept: memory grows with the rows, not with n².
  A kept row comes out of the same block computation as in the whole run, so it has
  exactly the whole run's numbers; with_rows adds more rows the same way.
- A block whose rows are all kept is worked out where it lands in the result, and step 4
  changes the logits in place, so no n × m temporary is made.
- One head in float64 multiplies in a fixed order (matmul): the numbers are the same on every
  machine, and a row's numbers do not depend on the other rows.

Where the numbers equal the lesson's bit for bit, and where only to rounding, is stated and
checked in tests/test_fast.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np

from attncli.attention import (
    PLAIN,
    Attended,
    Joined,
    Steps,
    Variant,
    defined_rows,
    project_qk,
)

BLOCK = 512  # steps 3 to 5 work out this many queries at a time
ROW_WORK = 4096  # a product with at most this many multiplications a row sums in a fixed order
NOWHERE = (None, None, None, None)  # no result array to work a block out in


@dataclass(eq=False)
class HeadSteps:
    """One head's steps, with where it sits: (layer, head), both 0-based."""

    layer: int
    head: int
    steps: Steps  # for a real model, x is that layer's attention input


@dataclass(kw_only=True, eq=False)
class Kept(Steps):
    """Steps with only some queries' rows worked out (what a screen shows of a long text):
    every matrix with a row per query (scores to output, the mask, capped, uncapped and
    score_bias) holds the rows of `rows`, in that order; x, q, k and v hold every row."""

    rows: np.ndarray  # (r,) int, ascending


def rows_of(steps: Steps) -> np.ndarray:
    """The queries whose rows steps' matrices hold, ascending: every query, or a Kept's."""
    return steps.rows if isinstance(steps, Kept) else np.arange(len(steps.q))


def row_of(steps: Steps, i: int) -> int:
    """Where query i's row is in steps' matrices with one row per query."""
    if not isinstance(steps, Kept):
        return i
    at = int(np.searchsorted(steps.rows, i))
    if at == len(steps.rows) or steps.rows[at] != i:
        raise IndexError(f"query {i}'s row was not worked out")
    return at


def causal_rows(m: int, rows: np.ndarray) -> np.ndarray:
    """The causal mask's rows for the queries `rows`: (len(rows), m) bool."""
    return np.arange(m) > np.asarray(rows)[:, None]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in float64. When each row of the product is small (the seeded and loaded
    modes), it sums in a fixed order; larger products (real models) go through BLAS."""
    a = np.asarray(a, dtype=np.float64)  # (n, d)
    b = np.asarray(b, dtype=np.float64)  # (d, m)
    if a.shape[1] * b.shape[1] > ROW_WORK:
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]))  # (n, m)
    for start in range(0, a.shape[0], BLOCK):  # a block of rows at a time: memory stays small
        rows = a[start:start + BLOCK]  # (b, d)
        out[start:start + BLOCK] = (rows[:, :, None] * b[None, :, :]).sum(axis=1)  # (b, m)
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


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """attention.softmax, worked out in the one array it returns (out, when given): the same
    shift, exp and division on every row, so the same numbers, with no n×m temporaries."""
    row_max = logits.max(axis=-1, keepdims=True)  # (..., 1)
    if out is None:
        out = np.empty(logits.shape, dtype=logits.dtype)  # C order: a row's sum reads along it
    with np.errstate(over="ignore", invalid="ignore"):  # the rows defined_rows overwrites
        np.subtract(logits, row_max, out=out)  # (..., m) every entry of a finite row <= 0
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)
    return defined_rows(logits, row_max, out)


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, variant: Variant = PLAIN,
           rows: np.ndarray | None = None) -> Attended:
    """attention.attend, BLOCK queries at a time: (scores, logits, weights, output, capped,
    uncapped). With rows (query indices, ascending), only those queries' rows are kept:
    every matrix has len(rows) rows in place of n."""
    n = q.shape[-2]
    if rows is None and n <= BLOCK:  # the lesson's sizes: one block, the whole matrix
        return _attend_block(q, k, v, variant, 0, n)
    wanted = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
    kept: list[np.ndarray | None] = []  # each result, filled block by block
    at = 0
    for start in np.unique(wanted // BLOCK) * BLOCK:
        start, stop = int(start), min(n, int(start) + BLOCK)
        keep = wanted[(wanted >= start) & (wanted < stop)] - start  # (r_block,)
        # a block whose rows are all kept is worked out in its place in the result
        into = (tuple(whole[..., at:at + len(keep), :] for whole in kept[:4] if whole is not None)
                if kept and len(keep) == stop - start else NOWHERE)
        block = _attend_block(q, k, v, variant, start, stop, into)
        if not kept:
            kept = [None if a is None else np.empty((*a.shape[:-2], len(wanted), a.shape[-1]),
                                                    a.dtype) for a in block]
        for i, (whole, a) in enumerate(zip(kept, block, strict=True)):
            if whole is not None and a is not None and (i >= len(into) or a is not into[i]):
                whole[..., at:at + len(keep), :] = a if len(keep) == a.shape[-2] \
                    else a[..., keep, :]
        at += len(keep)
    return cast(Attended, tuple(kept))  # the first four are never None


def _attend_block(q: np.ndarray, k: np.ndarray, v: np.ndarray, variant: Variant, start: int,
                  stop: int, into: tuple = NOWHERE) -> Attended:
    """Steps 3 to 5 for the queries start to stop. into: where the scores, logits, weights
    and output go (each None: a new array)."""
    q = q[..., start:stop, :]  # (..., b, d_k)
    # 3) score
    scores = _product(q, np.swapaxes(k, -1, -2), into[0])  # (..., b, m)
    # 4) scale, cap, bias, mask: in place in logits, unless the cap keeps the uncapped
    own = variant.softcap is None
    out = into[1] if own else None
    if variant.scale is not None:
        logits = np.multiply(scores, scores.dtype.type(variant.scale), out=out)  # (..., b, m)
    elif variant.skip_scale:
        logits = np.multiply(scores, scores.dtype.type(1), out=out)  # × 1: exact, its own array
    else:
        logits = np.divide(scores, np.sqrt(q.shape[-1]).astype(scores.dtype), out=out)
    capped = uncapped = None
    if variant.softcap is not None:
        uncapped = logits
        cap = scores.dtype.type(variant.softcap)
        logits = capped = np.tanh(logits / cap) * cap  # (..., b, m)
    if variant.score_bias is not None:
        bias = variant.score_bias[..., start:stop, :].astype(scores.dtype)  # (..., b, m)
        logits = np.add(logits, bias, out=logits if own else None)
    mask = None if variant.mask is None else variant.mask[..., start:stop, :]  # (b, m)
    if variant.causal:
        later = causal_rows(k.shape[-2], np.arange(start, stop))  # (b, m)
        mask = later if mask is None else mask | later
    if mask is not None and own:
        np.copyto(logits, scores.dtype.type(-np.inf), where=mask)
    elif mask is not None:
        logits = np.where(mask, scores.dtype.type(-np.inf), logits)  # (..., b, m)
    if into[1] is not None and logits is not into[1]:
        into[1][...] = logits
        logits = into[1]
    weights = softmax(logits, out=into[2])  # (..., b, m) each row sums to 1
    # 5) weigh
    output = _product(weights, v, into[3])  # (..., b, d_v)
    return scores, logits, weights, output, capped, uncapped


def self_attention(x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray, *,
                   b_q: np.ndarray | None = None, b_k: np.ndarray | None = None,
                   b_v: np.ndarray | None = None, variant: Variant = PLAIN,
                   source: np.ndarray | None = None,
                   rows: Sequence[int] | None = None) -> Steps:
    """attention.self_attention through this module's steps; with rows (query indices),
    steps 3 to 5 keep only those queries' rows. x, q, k and v always have every row."""
    x = np.asarray(x, dtype=np.float64)  # (n, d_model)
    kv = x if source is None else np.asarray(source, dtype=np.float64)  # (m, d_model)
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
    kept = None if rows is None else np.unique(np.asarray(rows, dtype=np.intp))  # (r,)
    scores, logits, weights, output, capped, uncapped = attend(q, k, v, variant, kept)
    steps = Steps(
        x=x, w_q=np.asarray(w_q, np.float64), w_k=np.asarray(w_k, np.float64),
        w_v=np.asarray(w_v, np.float64), q=q, k=k, v=v, scores=scores, logits=logits,
        weights=weights, output=output, mask=_mask_rows(variant, len(q), len(k), kept),
        b_q=_vector(b_q), b_k=_vector(b_k), b_v=_vector(b_v), q_unrotated=q_unrotated,
        k_unrotated=k_unrotated, q_projected=q_projected, k_projected=k_projected,
        capped=capped, uncapped=uncapped,
        score_bias=(None if variant.score_bias is None
                    else np.asarray(variant.score_bias, dtype=np.float64)[_all(kept)]),
        score_terms=tuple((name, np.asarray(t, np.float64)[_all(kept)])
                          for name, t in variant.score_terms),
        source=None if source is None else kv, variant=variant)
    return steps if kept is None else Kept(**vars(steps), rows=kept)


def _all(rows: np.ndarray | None) -> np.ndarray | slice:
    return slice(None) if rows is None else rows


def _mask_rows(variant: Variant, n: int, m: int, rows: np.ndarray | None) -> np.ndarray | None:
    """The queries' rows of the variant's mask (all of them without rows), causal included."""
    mask = None if variant.mask is None else np.asarray(variant.mask)[_all(rows)]
    if variant.causal:
        later = causal_rows(m, np.arange(n) if rows is None else rows)  # (r, m)
        mask = later if mask is None else mask | later
    return mask


def with_rows(steps: Steps, wanted: Sequence[int]) -> Steps:
    """steps, with the rows of the queries `wanted` added where only some rows were kept;
    each comes out of its block as in the whole computation, so its numbers are the same."""
    if not isinstance(steps, Kept):
        return steps
    new = np.setdiff1d(np.asarray(wanted, dtype=np.intp), steps.rows)  # (r_new,)
    if not len(new):
        return steps
    variant = steps.variant
    more = attend(steps.q, steps.k, steps.v, variant, new)
    rows = np.concatenate([steps.rows, new])
    order = np.argsort(rows, kind="stable")

    def merged(old: np.ndarray, extra: np.ndarray) -> np.ndarray:
        return np.concatenate([old, extra])[order]

    def maybe(old: np.ndarray | None, extra: np.ndarray | None) -> np.ndarray | None:
        return None if old is None or extra is None else merged(old, extra)

    bias = (None if variant.score_bias is None
            else np.asarray(variant.score_bias, dtype=np.float64)[new])
    return replace(steps, rows=rows[order], scores=merged(steps.scores, more[0]),
                   logits=merged(steps.logits, more[1]), weights=merged(steps.weights, more[2]),
                   output=merged(steps.output, more[3]), capped=maybe(steps.capped, more[4]),
                   uncapped=maybe(steps.uncapped, more[5]),
                   mask=maybe(steps.mask, _mask_rows(variant, len(steps.q), len(steps.k), new)),
                   score_bias=maybe(steps.score_bias, bias),
                   score_terms=tuple((name, merged(old, np.asarray(t, np.float64)[new]))
                                     for (name, old), (_, t) in zip(steps.score_terms,
                                                                    variant.score_terms,
                                                                    strict=True)))


def join_heads(layer: int, outputs: Sequence[np.ndarray], w_o: np.ndarray,
               b_o: np.ndarray | None = None) -> Joined:
    """attention.join_heads with matmul's products (a fixed order for the seeded sizes)."""
    concat = np.concatenate([np.asarray(o, dtype=np.float64) for o in outputs], axis=1)
    output = matmul(concat, w_o)  # (n, d_model)
    if b_o is not None:
        output = output + b_o
    return Joined(layer, concat, np.asarray(w_o, dtype=np.float64), _vector(b_o), output)


def _vector(b: np.ndarray | None) -> np.ndarray | None:
    return None if b is None else np.asarray(b, dtype=np.float64)
