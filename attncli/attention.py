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

Masking: a masked entry is -inf in `scaled` and exactly 0 in `weights`.
A row in which every key is masked has no key to attend to; its weights are
defined to be all zeros, so its output is the zero vector (never NaN).
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

    @property
    def d_k(self) -> int:
        return int(self.q.shape[1])

    @property
    def window(self) -> bool:
        """Whether the mask also hides earlier keys (a sliding window), not only later ones."""
        return self.mask is not None and bool(np.tril(self.mask, k=-1).any())

    @property
    def divisor(self) -> float:
        """What step 4 divides the scores by: √d_k, or 1 / the model's own scale."""
        return float(np.sqrt(self.d_k)) if self.scale is None else 1.0 / self.scale


@dataclass(frozen=True)
class HeadSteps:
    """One head's steps, with where it sits: (layer, head), both 0-based."""

    layer: int
    head: int
    steps: Steps  # for a real model, x is that layer's attention input


def causal_mask(n: int) -> np.ndarray:
    """(n, n) bool mask, True above the diagonal: a token may not look at later tokens."""
    return np.triu(np.ones((n, n), dtype=bool), k=1)


def softmax(scaled: np.ndarray) -> np.ndarray:
    """Row-wise softmax that never overflows and never returns NaN.

    Subtracting each row's maximum before exp keeps every exponent <= 0, so
    scores of any size (1e30 or -1e30) are safe. -inf entries become exactly 0.
    A row whose entries are all -inf gets all zeros (see the module docstring).
    A row holding +inf shares its weight equally among its +inf entries.

    It works in place in the one array it returns (no n×n temporaries): every row goes
    through the same shift, exp and division, and the rows whose maximum is not finite
    (-inf, +inf or NaN) are then overwritten with their defined weights.
    """
    scaled = np.asarray(scaled)
    if scaled.dtype not in (np.float32, np.float64):
        scaled = scaled.astype(np.float64)
    row_max = scaled.max(axis=-1, keepdims=True)  # (..., 1)
    out = np.empty(scaled.shape, dtype=scaled.dtype)  # C order: each row's sum reads along it
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


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in float64.

    For the small matrices of the seeded and loaded modes this sums in a fixed
    order, so the numbers are the same on every machine; large products (real
    models, long inputs) go through BLAS.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[0] * a.shape[1] * b.shape[1] <= 65_536:
        return (a[:, :, None] * b[None, :, :]).sum(axis=1)
    return a @ b


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b over the last two axes: matmul's fixed order for one head in float64, BLAS for
    a batch of heads (float32)."""
    if a.ndim == 2 and a.dtype == np.float64 and b.dtype == np.float64:
        return matmul(a, b)
    return a @ b


def project_qk(q: np.ndarray, k: np.ndarray, variant: Variant = PLAIN
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The end of step 2 for q and k (..., n, d_k): the model's normalisation, then its
    rotation. Returns q and k as step 3 multiplies them, and as they were before turning."""
    if variant.qk_norm is not None:
        q, k = variant.qk_norm(q, k)
    if variant.rotate is None:
        return q, k, None, None
    return variant.rotate(q), variant.rotate(k), q, k


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, variant: Variant = PLAIN
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Steps 3 to 5 for q, k (..., n, d_k) and v (..., n, d_v) of any leading shape, in their
    own dtype: (scores, scaled, weights, output, capped, uncapped); the last two only with a
    soft-cap."""
    # 3) Compare every query with every key: one dot product per pair.
    scores = _product(q, np.swapaxes(k, -1, -2))  # (..., n, n)
    # 4) Scale (divide by √d_k, or the model's own scale), cap, bias, hide masked keys.
    if variant.scale is None:
        scaled = scores / np.sqrt(q.shape[-1]).astype(scores.dtype)
    else:
        scaled = scores * scores.dtype.type(variant.scale)
    capped = uncapped = None
    if variant.softcap is not None:
        uncapped = scaled
        cap = scores.dtype.type(variant.softcap)
        scaled = capped = np.tanh(scaled / cap) * cap
    if variant.score_bias is not None:
        scaled = scaled + variant.score_bias.astype(scores.dtype)
    if variant.mask is not None:
        scaled = np.where(variant.mask, scores.dtype.type(-np.inf), scaled)
    weights = softmax(scaled)  # each row sums to 1
    # 5) Each output row is the weighted sum of the value rows.
    output = _product(weights, v)  # (..., n, d_v)
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
) -> Steps:
    """Run one head of scaled dot-product self-attention on x, in float64, and keep every
    step. rotate and mask are a Variant's, given alone; variant gives all of them.

    With source (m, d_model), the keys and values are made from source's rows instead of x's:
    cross-attention, where an encoder-decoder's target tokens (x) look at its source text.
    Every (n, n) matrix below is then (n, m)."""
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
    scores, scaled, weights, output, capped, uncapped = attend(q, k, v, variant)

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
        mask=variant.mask,
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
                    else np.asarray(variant.score_bias, dtype=np.float64)),
        source=None if source is None else kv,
    )


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
