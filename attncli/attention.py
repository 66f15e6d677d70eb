"""Scaled dot-product self-attention, step by step, in plain numpy.

This module is the lesson written as code. It does no I/O and knows nothing
about terminals, files or models: it takes arrays and returns arrays.

    1. X                         the embeddings that go in
    2. Q = X·W_Q, K = X·W_K, V = X·W_V
    3. scores  = Q·Kᵀ
    4. scaled  = scores / √d_k,  then  weights = softmax(scaled), row by row
    5. output  = weights·V
    6. with several heads: concat = [output_0 | output_1 | …],  attention output = concat·W_O

A real model's layer code only prepares X, the W matrices (and biases, a
rotation such as RoPE, a mask) and then calls `self_attention`, so every
architecture is shown through the very same steps.

Masking: a masked entry is -inf in `scaled` and exactly 0 in `weights`.
A row in which every key is masked has no key to attend to; its weights are
defined to be all zeros, so its output is the zero vector (never NaN).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Rotate = Callable[[np.ndarray], np.ndarray]


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

    @property
    def d_k(self) -> int:
        return int(self.q.shape[1])

    @property
    def divisor(self) -> float:
        """The √d_k that step 4 divides by."""
        return float(np.sqrt(self.d_k))


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
    """
    scaled = np.asarray(scaled, dtype=np.float64)
    out = np.zeros_like(scaled)
    row_max = scaled.max(axis=-1, keepdims=True)  # (n, 1)
    finite_rows = np.isfinite(row_max[..., 0])  # rows with a finite maximum
    if finite_rows.any():
        with np.errstate(over="ignore"):  # -1e308 - 1e308 overflows to -inf, whose exp is 0
            shifted = scaled[finite_rows] - row_max[finite_rows]  # every entry <= 0
        e = np.exp(shifted)
        out[finite_rows] = e / e.sum(axis=-1, keepdims=True)  # the max entry gives 1, so sum >= 1
    inf_rows = row_max[..., 0] == np.inf
    if inf_rows.any():
        top = scaled[inf_rows] == np.inf
        out[inf_rows] = top / top.sum(axis=-1, keepdims=True)
    return out  # rows whose max is -inf stay all zeros


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
) -> Steps:
    """Run one head of scaled dot-product self-attention on x and keep every step."""
    x = np.asarray(x, dtype=np.float64)  # (n, d_model)

    # 1) X is given: one row per token.
    # 2) Project each row into a query, a key and a value.
    q = matmul(x, w_q)  # (n, d_k)
    k = matmul(x, w_k)  # (n, d_k)
    v = matmul(x, w_v)  # (n, d_v)
    if b_q is not None:
        q = q + b_q
    if b_k is not None:
        k = k + b_k
    if b_v is not None:
        v = v + b_v
    q_unrotated = k_unrotated = None
    if rotate is not None:  # position by rotation (RoPE): applied to queries and keys only
        q_unrotated, k_unrotated = q, k
        q, k = rotate(q), rotate(k)

    # 3) Compare every query with every key: one dot product per pair.
    scores = matmul(q, k.T)  # (n, n)

    # 4) Divide by √d_k so the softmax does not saturate, hide masked keys, then softmax.
    scaled = scores / np.sqrt(q.shape[1])  # (n, n)
    if mask is not None:
        scaled = np.where(mask, -np.inf, scaled)
    weights = softmax(scaled)  # (n, n), each row sums to 1

    # 5) Each output row is the weighted sum of the value rows.
    output = matmul(weights, v)  # (n, d_v)

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
        mask=mask,
        b_q=_vector(b_q),
        b_k=_vector(b_k),
        b_v=_vector(b_v),
        q_unrotated=q_unrotated,
        k_unrotated=k_unrotated,
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
