"""OLMo 2: a Llama-style decoder normalised after each block, with q and k RMS-normalised
over their full width.

No norm before the attention or the MLP: the attention input x of layer i is the residual
stream itself, and each block's output is RMS-normalised before it is added back:
h + post_attention_layernorm(attn(h)), then h + post_feedforward_layernorm(mlp(h)).

q_norm and k_norm are RMSNorms over the whole projection (num_heads · head_dim for q,
num_key_value_heads · head_dim for k), taken before it is split into heads and rotated: one
root-mean-square per token over all heads at once, not one per head as in Qwen3. A head's
normalised query is therefore its projected query times that token's 1 / RMS over every head,
times its slice of the q_norm weight. The Variant's qk_norm sees one head (or all heads, in
all_heads); so the per-token 1 / RMS of the full q and k projections is computed from x in
variant, and head_variant hands each head its slice of the weights.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Table
from attncli.models.blocks import AttentionWeights
from attncli.models.layers import linear
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama

# llama's names without the norms before the parts; norms on their outputs instead, and q and
# k normalised over their full width
TABLE: Table = {**{k: v for k, v in LLAMA.items() if k not in ("ln_attn", "ln_mlp")},
                "ln_attn_out": ("layers.{i}.post_attention_layernorm.weight", ("d",)),
                "ln_mlp_out": ("layers.{i}.post_feedforward_layernorm.weight", ("d",)),
                "q_norm": ("layers.{i}.self_attn.q_norm.weight", ("q",)),
                "k_norm": ("layers.{i}.self_attn.k_norm.weight", ("kv",))}


class Olmo2(Llama):
    """olmo2 (OLMo-2 7B, 13B, 32B and the 1B)."""

    model_types = ("olmo2",)
    table = TABLE

    def inverse_rms(self, p: np.ndarray) -> np.ndarray:
        """(n, width) projection -> (n, 1): 1 / its root-mean-square over the whole width."""
        return 1 / np.sqrt(np.square(p).mean(axis=-1, keepdims=True) + self.eps)

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """RoPE and the causal mask, and q and k normalised over all heads first (here for all
        heads at once, (heads, n, head_dim); head_variant narrows it to one head), with each
        token's 1 / RMS of the full q and k projections of x."""
        hd = self.head_dim
        assert attn.q_norm is not None and attn.k_norm is not None
        q_scale = self.inverse_rms(linear(x, attn.w_q, attn.b_q))  # (..., n, 1)
        k_scale = self.inverse_rms(linear(x, attn.w_k, attn.b_k))  # (..., n, 1)
        if x.ndim > 2:  # a batch of streams: (b, 1, n, 1) against (b, heads, n, hd)
            q_scale, k_scale = np.expand_dims(q_scale, -3), np.expand_dims(k_scale, -3)
        return replace(super().variant(n, i, attn, x), qk_norm=FullWidth(
            q_scale, attn.q_norm.reshape(-1, 1, hd),  # (H, 1, hd)
            k_scale, attn.k_norm.reshape(-1, 1, hd)))  # (Hkv, 1, hd)

    def head_variant(self, variant: Variant, head: int) -> Variant:
        """The layer's Variant for one query head: its slice of q_norm, its kv head's of k_norm."""
        variant = super().head_variant(variant, head)
        if not isinstance(variant.qk_norm, FullWidth):
            return variant
        full = variant.qk_norm
        kv = head // (self.n_heads // self.n_kv_heads)
        return replace(variant, qk_norm=FullWidth(full.q_scale, full.q_w[head, 0],
                                                  full.k_scale, full.k_w[kv, 0]))


class FullWidth:
    """qk_norm with the full-width 1 / RMS per token already known: q · q_scale · q_w."""

    def __init__(self, q_scale: np.ndarray, q_w: np.ndarray, k_scale: np.ndarray,
                 k_w: np.ndarray) -> None:
        self.q_scale, self.q_w, self.k_scale, self.k_w = q_scale, q_w, k_scale, k_w

    def __call__(self, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., n, hd) each: one head as (n, hd), or all heads as (heads, n, hd)."""
        return q * self.q_scale * self.q_w, k * self.k_scale * self.k_w
