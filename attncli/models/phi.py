"""Phi (phi-1, phi-1.5, phi-2): a parallel decoder with partial RoPE and one LayerNorm per layer.

As transformers' modeling_phi does it:

  - one input_layernorm feeds both the attention and the MLP, whose outputs are added to the
    stream at once: h + dense(attn(ln(h))) + mlp(ln(h)) (the parallel block, one norm read
    for both parts);
  - q, k and v have biases; only the first int(head_dim · partial_rotary_factor) dimensions
    of each query and key are rotated (phi-2: 32 of 80), the rest pass through;
  - with qk_layernorm, each head's q and k pass through a LayerNorm over head_dim (weight and
    bias, shared by the heads) before RoPE: the Variant's qk_norm;
  - the LM head (predict) is final_layernorm, then lm_head with its own bias.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Model, T, Table
from attncli.models.blocks import AttentionWeights, LMHead, Parallel
from attncli.models.config import Config
from attncli.models.layers import activation, layer_norm
from attncli.models.rope import RopeScaling, partial_factor

L = "layers.{i}."
WIDTHS = (("q", "q"), ("k", "kv"), ("v", "kv"))
TABLE: Table = {
    "wte": ("embed_tokens.weight", ("vocab", "d")),
    "ln_attn": (L + "input_layernorm.weight", ("d",)),
    "ln_attn_b": (L + "input_layernorm.bias", ("d",)),
    **{f"w_{x}": (f"{L}self_attn.{x}_proj.weight", (w, "d"), T) for x, w in WIDTHS},
    **{f"b_{x}": (f"{L}self_attn.{x}_proj.bias", (w,)) for x, w in WIDTHS},
    "w_o": (L + "self_attn.dense.weight", ("d", "q"), T),
    "b_o": (L + "self_attn.dense.bias", ("d",)),
    "ln_mlp": (L + "input_layernorm.weight", ("d",)),  # the same norm: a parallel block
    "ln_mlp_b": (L + "input_layernorm.bias", ("d",)),
    "w_up": (L + "mlp.fc1.weight", ("ff", "d"), T),
    "b_up": (L + "mlp.fc1.bias", ("ff",)),
    "w_down": (L + "mlp.fc2.weight", ("d", "ff"), T),
    "b_down": (L + "mlp.fc2.bias", ("d",)),
    "final_norm": ("final_layernorm.weight", ("d",)),
    "final_norm_b": ("final_layernorm.bias", ("d",)),
}
QK_NORMS: Table = {f"{x}_norm{b}": (f"{L}self_attn.{x}_layernorm.{w}", ("hd",))
                   for x in ("q", "k") for b, w in (("", "weight"), ("_b", "bias"))}


class Phi(Model):
    """phi (phi-1, phi-1.5, phi-2)."""

    model_types = ("phi",)
    table = TABLE
    block = Parallel
    causal = True
    order = "rope"
    tied_by_default = False  # PhiConfig's default

    def configure(self, config: Config) -> None:
        """Dimensions, partial RoPE and the q/k LayerNorm from a PhiConfig."""
        self.read_sizes(config, kv_heads="num_key_value_heads")
        self.max_positions = config.optional_integer("max_position_embeddings")
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "hidden_act", default="gelu_new")
        factor = partial_factor(config, "partial_rotary_factor", default=0.5)
        self.scaling = RopeScaling(config, self.head_dim, partial_rotary_factor=factor)
        self.max_positions = self.scaling.reach(self.max_positions)  # dynamic: longer
        self.qk_layernorm = config.boolean("qk_layernorm", default=False)
        self.table = {**TABLE, **(QK_NORMS if self.qk_layernorm else {})}
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("model.", ""))

    def load_attention(self, i: int, dtype: type = np.float32, **names: Any
                       ) -> AttentionWeights:
        """Model's, with each q/k LayerNorm's weight and bias stacked as its rows."""
        attn = super().load_attention(i, dtype, **names)
        if not self.qk_layernorm:
            return attn
        q, k = ([self.tensor(f"{x}_norm{b}", dtype, i) for b in ("", "_b")] for x in "qk")
        return replace(attn, q_norm=np.stack(q), k_norm=np.stack(k))  # (2, head_dim) each

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """RoPE and the causal mask, and q and k LayerNormed per head with qk_layernorm."""
        plain = super().variant(n, i, replace(attn, q_norm=None, k_norm=None), x)
        if attn.q_norm is None or attn.k_norm is None:
            return plain
        (qw, qb), (kw, kb), eps = attn.q_norm, attn.k_norm, self.eps

        def qk_norm(q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return layer_norm(q, qw, qb, eps), layer_norm(k, kw, kb, eps)

        return replace(plain, qk_norm=qk_norm)

    def lm_head(self) -> LMHead:
        """final_layernorm, lm_head.weight and its bias."""
        head = super().lm_head()
        return replace(head, b=self.checkpoint.read("lm_head.bias", (self.vocab_size,)))
