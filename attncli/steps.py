"""What one head is told and what it keeps: its Variant (how it departs from the lesson's
plain steps), the Steps of its run, and a layer's Joined heads (step 6). attention.py
computes them. Records that hold arrays compare by identity (eq=False), as everywhere in
attncli: an array has no single truth value, so equality field by field would only raise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Rotate = Callable[[np.ndarray], np.ndarray]
Norm = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(eq=False)
class Variant:
    """How a head departs from the lesson's plain steps; at its defaults it is the lesson."""

    scale: float | None = None  # multiplies the scores; None: they are divided by √d_k
    softcap: float | None = None  # scaled -> softcap · tanh(scaled / softcap) (Gemma 2)
    score_bias: np.ndarray | None = None  # (..., n, m) added to the scores (T5, ALiBi)
    # ALiBi: score_bias is slope · (key − query); one slope a head ((heads,) for a layer)
    alibi_slope: float | np.ndarray | None = None
    # the named parts score_bias is the sum of (DeBERTa: "c2p", "p2c"), each (..., n, m)
    score_terms: tuple[tuple[str, np.ndarray], ...] = ()
    qk_norm: Norm | None = None  # (q, k) -> (q, k), before the rotation (Qwen3, OLMo 2)
    rotate: Rotate | None = None  # RoPE: (..., n, d_k) -> the same, for q and k
    mask: np.ndarray | None = None  # (n, m) bool, True where a query may not see a key
    causal: bool = False  # also hide every later key
    window: int | None = None  # the mask hides keys this many or more places back
    window_both_sides: bool = False  # the window hides keys that far after the query too
    skip_scale: bool = False  # step 4 does not divide by √d_k (only without a scale)
    no_position: bool = False  # a layer of a RoPE model that turns nothing here (NoPE)


PLAIN = Variant()


@dataclass(eq=False)
class Steps:
    """Every intermediate of one head's self-attention: the "show your work" result."""

    x: np.ndarray  # (n, d_model) embeddings going in
    w_q: np.ndarray  # (d_model, d_k)
    w_k: np.ndarray  # (d_model, d_k)
    w_v: np.ndarray  # (d_model, d_v)
    q: np.ndarray  # (n, d_k)  x @ w_q (+ b_q, then qk_norm and rotation, where the model has them)
    k: np.ndarray  # (m, d_k)  x @ w_k (likewise)
    v: np.ndarray  # (m, d_v)  x @ w_v (+ b_v)
    scores: np.ndarray  # (n, m)  q @ k.T
    # (n, m) what the softmax takes: scores / sqrt(d_k) (or × the model's scale), soft-capped
    # and + score_bias where the Variant has them, -inf where masked; JSON key "scaled"
    logits: np.ndarray
    weights: np.ndarray  # (n, m)  softmax(logits), each unmasked row sums to 1
    output: np.ndarray  # (n, d_v) weights @ v
    mask: np.ndarray | None = None  # (n, m) bool, True where a query may NOT see a key
    # only where a real model has them: the biases of step 2, and q and k before RoPE
    b_q: np.ndarray | None = None  # (d_k,)
    b_k: np.ndarray | None = None  # (d_k,)
    b_v: np.ndarray | None = None  # (d_v,)
    q_unrotated: np.ndarray | None = None  # (n, d_k)
    k_unrotated: np.ndarray | None = None  # (m, d_k)
    # only where the Variant has them, each its own labelled step
    q_projected: np.ndarray | None = None  # (n, d_k) x @ w_q (+ b_q) before qk_norm
    k_projected: np.ndarray | None = None  # (m, d_k)
    capped: np.ndarray | None = None  # (n, m) softcap · tanh(scores · scale / softcap)
    uncapped: np.ndarray | None = None  # (n, m) scores · scale, before the cap
    score_bias: np.ndarray | None = None  # (n, m) added before the mask
    score_terms: tuple[tuple[str, np.ndarray], ...] = ()  # named (n, m) parts of score_bias
    # only for cross-attention: the rows (an encoder's output) K and V are made from (m)
    source: np.ndarray | None = None  # (m, d_model)
    variant: Variant = PLAIN  # how step 4 ran: its scale, soft cap, window

    @property
    def d_k(self) -> int:
        return int(self.q.shape[1])

    @property
    def skip_scale(self) -> bool:
        """Step 4 left the scores undivided: logits = scores."""
        return self.variant.skip_scale and self.variant.scale is None

    @property
    def divisor(self) -> float:
        """What step 4 divides the scores by: √d_k, 1 / the model's scale, or 1 if skipped."""
        if self.skip_scale:
            return 1.0
        scale = self.variant.scale
        return float(np.sqrt(self.d_k)) if scale is None else 1.0 / scale


@dataclass(eq=False)
class Joined:
    """Step 6 of one layer: every head's output side by side, then the output projection."""

    layer: int
    concat: np.ndarray  # (n, heads * d_v)  [output of head 0 | head 1 | …]
    w_o: np.ndarray  # (heads * d_v, d_model)
    b_o: np.ndarray | None  # (d_model,) where the model has one
    output: np.ndarray  # (n, d_model)  concat @ w_o (+ b_o)
