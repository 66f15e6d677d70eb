"""Cohere (Command R, Aya 23): a parallel decoder with bias-free LayerNorms, interleaved RoPE
and a scale on the logits.

As transformers' modeling_cohere does it:

  - every norm is a LayerNorm with a weight and no bias (layer_norm_eps), worked out in
    float32;
  - one input_layernorm feeds both the attention and the SiLU-gated MLP, added to the stream
    at once: h + o_proj(attn(ln(h))) + mlp(ln(h)) (the parallel block);
  - RoPE turns neighbouring dimensions (2i, 2i + 1) together, as GPT-J's does, over the whole
    head (any rope type: the speeds and the factor on cos and sin are rope.py's);
  - with use_qk_norm (Command R+) each head's query and key pass through its own LayerNorm
    over head_dim (a weight row per head, no bias) before RoPE, as stablelm's qk_layernorm;
  - q, k, v and o have biases with attention_bias;
  - the logits are the LM head's times logit_scale (0.0625 by default): predict reads the
    head's weights already multiplied by it, so every analysis of the logits (the lens,
    attribution) sees the logits the model gives.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Rotate, Variant
from attncli.models.base import Table
from attncli.models.blocks import AttentionWeights, LMHead, Norm, Parallel
from attncli.models.config import Config
from attncli.models.layers import HeldNorm, held_layer_norm
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama
from attncli.models.rope import RopeScaling, interleaved
from attncli.models.stablelm import one_head, per_head_variant

L = "layers.{i}."
TABLE: Table = {
    **{k: v for k, v in LLAMA.items() if k not in ("ln_mlp", "b_gate", "b_up", "b_down")},
    "ln_mlp": (L + "input_layernorm.weight", ("d",)),  # the same norm: a parallel block
    "q_norm": (L + "self_attn.q_norm.weight", ("n_heads", "hd")),
    "k_norm": (L + "self_attn.k_norm.weight", ("n_kv_heads", "hd")),
}
QKV_O_BIASES = ("b_q", "b_k", "b_v", "b_o")


class Cohere(Llama):
    """cohere (c4ai-command-r-v01, command-r-plus, aya-23)."""

    model_types = ("cohere",)
    table = TABLE
    block = Parallel
    tied_by_default = True  # CohereConfig's default
    slides = False  # Cohere (v1) has no sliding window

    def configure(self, config: Config) -> None:
        """llama's dimensions and RoPE, the norms' eps, q/k norms, biases and logit_scale."""
        super().configure(config)
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-5)
        self.qk_norm = config.boolean("use_qk_norm", default=False)
        self.logit_scale = config.number("logit_scale", low=0.0, above=True, high=1e4,
                                         default=0.0625)
        dropped = (*QKV_O_BIASES * (not self.attention_bias),
                   *("q_norm", "k_norm") * (not self.qk_norm))
        self.table = {k: v for k, v in TABLE.items() if k not in dropped}

    def rope_scaling(self, config: Config) -> RopeScaling:
        return RopeScaling(config, self.head_dim, theta_default=500000.0)  # CohereConfig's

    def rotation(self, n: int, i: int) -> Rotate:
        """Interleaved RoPE over the whole head, any rope type."""
        assert self.scaling is not None
        return interleaved(self.scaling, n)

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """RoPE and the causal mask, and with use_qk_norm each head's own q/k LayerNorm."""
        plain = super().variant(n, i, replace(attn, q_norm=None, k_norm=None), x)
        return per_head_variant(plain, attn, lambda t, w: self.normalise(t, Norm(w)))

    def head_variant(self, variant: Variant, head: int) -> Variant:
        """The layer's Variant with head's own q norm and its key/value head's k norm."""
        own = one_head(variant, head, self.n_heads // self.n_kv_heads)
        return own if own is not None else super().head_variant(variant, head)

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """LayerNorm without bias, worked out in float32 whatever x is (as CohereLayerNorm),
        then back in x's dtype."""
        x32 = x.astype(np.float32, copy=False)
        centred = x32 - x32.mean(axis=-1, keepdims=True)
        var = np.square(centred).mean(axis=-1, keepdims=True)
        out = centred * (np.float32(1) / np.sqrt(var + np.float32(self.eps)))
        return (norm.w.astype(np.float32, copy=False) * out).astype(x.dtype, copy=False)

    def held_norm(self, x: np.ndarray, norm: Norm) -> HeldNorm:
        return held_layer_norm(x, norm.w, None, self.eps)

    def lm_head(self) -> LMHead:
        """The final norm and the LM head's weights times logit_scale: the model's logits."""
        head = super().lm_head()
        return replace(head, w=head.w * np.float32(self.logit_scale))
