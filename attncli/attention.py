"""Scaled dot-product self-attention, step by step, in plain numpy: the lesson as code.

    1) X                            the embeddings that go in, one row per token
    2) Q = X·W_Q,  K = X·W_K,  V = X·W_V
    3) scores  = Q·Kᵀ
    4) logits  = scores / √d_k;  weights = softmax(logits), row by row
    5) output  = weights·V
    6) several heads: concat = [output_0 | output_1 | …];  attention output = concat·W_O

What a real model does beyond this (a scale, a soft cap, a score bias, RoPE, a mask) is data
in its Variant, and a head's run is kept as its Steps (both in steps.py). A masked entry is
-inf in the logits and exactly 0 in the weights; a row with every key masked has all-zero
weights and a zero output, never NaN. attention_fast.py runs the same steps on long texts
and must give these numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attncli.steps import PLAIN, Joined, Norm, Rotate, Steps, Variant

__all__ = ["PLAIN", "Attended", "Joined", "Norm", "Rotate", "Steps", "Variant", "attend",
           "causal_mask", "defined_rows", "hidden", "join_heads", "project_qk",
           "self_attention", "softmax"]

# steps 3 to 5: (scores, logits, weights, output, capped, uncapped), the last two with a cap
Attended = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None,
                 np.ndarray | None]


def causal_mask(n: int) -> np.ndarray:
    """(n, n) bool, True above the diagonal: a token may not look at later tokens."""
    return np.arange(n)[None, :] > np.arange(n)[:, None]


def hidden(variant: Variant, m: int) -> np.ndarray | None:
    """The Variant's mask with the causal one added: True where a query may not see a key."""
    if not variant.causal:
        return variant.mask
    return causal_mask(m) if variant.mask is None else variant.mask | causal_mask(m)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax that never overflows and never returns NaN: each row's maximum is
    subtracted first (every exponent <= 0), -inf becomes exactly 0, a row of -inf all zeros,
    and a row holding +inf shares its weight equally among its +inf entries."""
    logits = np.asarray(logits)
    dtype = logits.dtype if logits.dtype in (np.float32, np.float64) else np.float64
    logits = np.ascontiguousarray(logits, dtype=dtype)  # C order: a row's sum reads along it
    row_max = logits.max(axis=-1, keepdims=True)  # (..., 1)
    with np.errstate(over="ignore", invalid="ignore"):  # the rows defined_rows overwrites
        e = np.exp(logits - row_max)  # (..., m)
        weights = e / e.sum(axis=-1, keepdims=True)  # (..., m)
    return defined_rows(logits, row_max, weights)


def defined_rows(logits: np.ndarray, row_max: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """weights, with the rows whose maximum is not finite set to their defined weights."""
    finite = np.isfinite(row_max[..., 0])  # (...,)
    if not finite.all():
        weights[~finite] = 0.0  # a row of -inf (or NaN): no key to attend to
        inf = row_max[..., 0] == np.inf
        if inf.any():
            top = logits[inf] == np.inf  # (rows, m)
            weights[inf] = top / top.sum(axis=-1, keepdims=True)
    return weights


def project_qk(q: np.ndarray, k: np.ndarray, variant: Variant = PLAIN
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The end of step 2: the Variant's qk_norm, then its rotation. Returns q and k as step 3
    multiplies them, then as they were before the rotation (None without one)."""
    if variant.qk_norm is not None:
        q, k = variant.qk_norm(q, k)
    if variant.rotate is None:
        return q, k, None, None
    return variant.rotate(q), variant.rotate(k), q, k


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, variant: Variant = PLAIN
           ) -> Attended:
    """Steps 3 to 5 for q (..., n, d_k), k (..., m, d_k), v (..., m, d_v) in their own dtype:
    (scores, logits, weights, output, capped, uncapped); the last two only with a soft-cap."""
    num = q.dtype.type  # a number in q's dtype: float32 work stays float32
    # 3) score: compare every query with every key, one dot product per pair
    scores = q @ np.swapaxes(k, -1, -2)  # (..., n, m)
    # 4) scale (÷√d_k, or the model's own scale), cap, add the bias, hide masked keys: the
    #    logits the softmax takes
    if variant.scale is not None:
        logits = scores * num(variant.scale)  # (..., n, m)
    elif variant.skip_scale:
        logits = scores * num(1)  # (..., n, m) the same numbers, an array of its own
    else:
        logits = scores / np.sqrt(q.shape[-1]).astype(q.dtype)  # (..., n, m)
    capped = uncapped = None
    if variant.softcap is not None:
        uncapped = logits
        logits = capped = np.tanh(logits / num(variant.softcap)) * num(variant.softcap)
    if variant.score_bias is not None:
        logits = logits + variant.score_bias.astype(q.dtype)  # (..., n, m)
    mask = hidden(variant, k.shape[-2])  # (n, m)
    if mask is not None:
        logits = np.where(mask, num(-np.inf), logits)  # (..., n, m)
    weights = softmax(logits)  # (..., n, m) each row sums to 1
    # 5) weigh: each output row is the weighted sum of the value rows
    output = weights @ v  # (..., n, d_v)
    return scores, logits, weights, output, capped, uncapped


def self_attention(x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray, *,
                   b_q: np.ndarray | None = None, b_k: np.ndarray | None = None,
                   b_v: np.ndarray | None = None, variant: Variant = PLAIN,
                   source: np.ndarray | None = None) -> Steps:
    """One head of self-attention on x, in float64, keeping every step. With source
    (m, d_model), K and V are made from its rows instead: cross-attention."""
    # 1) X: one row per token
    x = np.asarray(x, dtype=np.float64)  # (n, d_model)
    kv = x if source is None else np.asarray(source, dtype=np.float64)  # (m, d_model)
    # 2) project each row into a query, a key and a value
    w_q, w_k, w_v = (np.asarray(w, dtype=np.float64) for w in (w_q, w_k, w_v))  # (d_model, d)
    q = x @ w_q + (0.0 if b_q is None else b_q)  # (n, d_k)
    k = kv @ w_k + (0.0 if b_k is None else b_k)  # (m, d_k)
    v = kv @ w_v + (0.0 if b_v is None else b_v)  # (m, d_v)
    projected = (q, k) if variant.qk_norm is not None else (None, None)
    q, k, q_unrotated, k_unrotated = project_qk(q, k, variant)
    # 3) to 5)
    scores, logits, weights, output, capped, uncapped = attend(q, k, v, variant)
    return Steps(
        x=x, w_q=w_q, w_k=w_k, w_v=w_v, q=q, k=k, v=v,
        scores=scores, logits=logits, weights=weights, output=output,
        mask=hidden(variant, len(k)), b_q=_vector(b_q), b_k=_vector(b_k), b_v=_vector(b_v),
        q_unrotated=q_unrotated, k_unrotated=k_unrotated,
        q_projected=projected[0], k_projected=projected[1], capped=capped, uncapped=uncapped,
        score_bias=_vector(variant.score_bias), source=None if source is None else kv,
        score_terms=tuple((name, np.asarray(t, np.float64)) for name, t in variant.score_terms),
        variant=variant)


def join_heads(layer: int, outputs: Sequence[np.ndarray], w_o: np.ndarray,
               b_o: np.ndarray | None = None) -> Joined:
    """6) Put each head's output side by side and project them back to d_model with W_O."""
    concat = np.concatenate([np.asarray(o, dtype=np.float64) for o in outputs], axis=1)
    w_o = np.asarray(w_o, dtype=np.float64)  # (heads * d_v, d_model)
    output = concat @ w_o + (0.0 if b_o is None else b_o)  # (n, d_model)
    return Joined(layer, concat, w_o, _vector(b_o), output)


def _vector(b: np.ndarray | None) -> np.ndarray | None:
    return None if b is None else np.asarray(b, dtype=np.float64)

