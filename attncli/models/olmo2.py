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
all_heads); so the per-token 1 / RMS of the full q and k projections is computed from x when
x is made (attention_input, which Model.run calls before variant and head_steps for the same
layer dict) and kept in the layer, and head_variant hands each head its slice of the weights.

    layers.{i}.self_attn.{q,k,v,o}_proj           as llama.py (biases with attention_bias)
    layers.{i}.self_attn.q_norm.weight            (H*hd,)      q_norm, over all query heads
    layers.{i}.self_attn.k_norm.weight            (Hkv*hd,)    k_norm, over all key heads
    layers.{i}.post_attention_layernorm.weight    (d,)         ln_attn, on the attention output
    layers.{i}.post_feedforward_layernorm.weight  (d,)         ln_mlp, on the MLP output
    layers.{i}.mlp.{gate,up,down}_proj            as llama.py
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Layer
from attncli.models.layers import linear, rms_norm
from attncli.models.llama import Llama


class Olmo2(Llama):
    """olmo2 (OLMo-2 7B, 13B, 32B and the 1B)."""

    model_types = ("olmo2",)

    def load_attention(self, i: int) -> Layer:
        """Layer i's q, k, v projections (no input norm) and its full-width q and k norms."""
        p, read, bias = f"{self.prefix}layers.{i}.self_attn.", self.checkpoint.read, self.bias
        d, q, kv = self.d_model, self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        return {
            "w_q": read(p + "q_proj.weight", (q, d)).T,  # (d, H*hd)
            "b_q": bias(p + "q_proj.bias", q, self.attention_bias),
            "w_k": read(p + "k_proj.weight", (kv, d)).T,  # (d, Hkv*hd)
            "b_k": bias(p + "k_proj.bias", kv, self.attention_bias),
            "w_v": read(p + "v_proj.weight", (kv, d)).T,  # (d, Hkv*hd)
            "b_v": bias(p + "v_proj.bias", kv, self.attention_bias),
            "q_norm": read(p + "q_norm.weight", (q,)),  # (H*hd,)
            "k_norm": read(p + "k_norm.weight", (kv,)),  # (Hkv*hd,)
        }

    def load_rest(self, i: int) -> Layer:
        """llama's o_proj and MLP, and the two norms on the blocks' outputs."""
        rest = super().load_rest(i)
        p, d, read = f"{self.prefix}layers.{i}.", self.d_model, self.checkpoint.read
        rest["ln_attn"] = read(p + "post_attention_layernorm.weight", (d,))
        rest["ln_mlp"] = read(p + "post_feedforward_layernorm.weight", (d,))
        return rest

    def inverse_rms(self, p: np.ndarray) -> np.ndarray:
        """(n, width) projection -> (n, 1): 1 / its root-mean-square over the whole width."""
        return 1 / np.sqrt(np.square(p).mean(axis=-1, keepdims=True) + self.eps)

    def attention_input(self, h: np.ndarray, layer: Layer) -> np.ndarray:
        """The residual stream itself; and, from it, each token's 1 / RMS of the full q and k
        projections, kept in the layer for qk_norm."""
        layer["q_scale"] = self.inverse_rms(linear(h, layer["w_q"], layer["b_q"]))  # (n, 1)
        layer["k_scale"] = self.inverse_rms(linear(h, layer["w_k"], layer["b_k"]))  # (n, 1)
        return h

    def variant(self, n: int, i: int, layer: Layer) -> Variant:
        """RoPE and the causal mask, and q and k normalised over all heads first (here for all
        heads at once, (heads, n, head_dim); head_variant narrows it to one head)."""
        hd = self.head_dim
        return replace(super().variant(n, i, layer), qk_norm=FullWidth(
            layer["q_scale"], layer["q_norm"].reshape(-1, 1, hd),  # (H, 1, hd)
            layer["k_scale"], layer["k_norm"].reshape(-1, 1, hd)))  # (Hkv, 1, hd)

    def head_variant(self, variant: Variant, head: int) -> Variant:
        """The layer's Variant for one query head: its slice of q_norm, its kv head's of k_norm."""
        variant = super().head_variant(variant, head)
        if not isinstance(variant.qk_norm, FullWidth):
            return variant
        full = variant.qk_norm
        kv = head // (self.n_heads // self.n_kv_heads)
        return replace(variant, qk_norm=FullWidth(full.q_scale, full.q_w[head, 0],
                                                  full.k_scale, full.k_w[kv, 0]))

    def finish_layer(self, h: np.ndarray, attn: np.ndarray, rest: Layer) -> np.ndarray:
        """h + norm(o_proj(heads)), then h + norm(gated MLP of h)."""
        h = h + rms_norm(linear(attn, rest["w_o"], rest["b_o"]), rest["ln_attn"], self.eps)
        gate = self.act(linear(h, rest["w_gate"], rest["b_gate"]))  # (n, ff)
        up = linear(h, rest["w_up"], rest["b_up"])  # (n, ff)
        m = linear(gate * up, rest["w_down"], rest["b_down"])  # (n, d)
        return h + rms_norm(m, rest["ln_mlp"], self.eps)


class FullWidth:
    """qk_norm with the full-width 1 / RMS per token already known: q · q_scale · q_w."""

    def __init__(self, q_scale: np.ndarray, q_w: np.ndarray, k_scale: np.ndarray,
                 k_w: np.ndarray) -> None:
        self.q_scale, self.q_w, self.k_scale, self.k_w = q_scale, q_w, k_scale, k_w

    def __call__(self, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., n, hd) each: one head as (n, hd), or all heads as (heads, n, hd)."""
        return q * self.q_scale * self.q_w, k * self.k_scale * self.k_w
