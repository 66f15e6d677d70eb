"""GPT-NeoX (Pythia): a pre-LayerNorm causal decoder with partial RoPE and a parallel residual.

q, k and v come from one fused query_key_value Linear whose output is laid out head by head:
for head h, rows h·3·hd .. h·3·hd + hd are its query, the next hd its key, the next hd its
value (transformers views the output as (n, heads, 3·hd) and chunks the last axis in three).
Only the first rotary_dim = int(head_dim · rotary_pct) dimensions of each query and key are
rotated (Pythia: a quarter); the rest pass through unturned.

With use_parallel_residual (Pythia) the attention and the MLP both read the same residual
stream, each through its own LayerNorm, and both are added to it at once:
h + attn(ln_1(h)) + mlp(ln_2(h)); without it the MLP reads ln_2 of h + attn(ln_1(h)), as GPT-2.

Biases unless attention_bias is false (then none on query_key_value and dense; the MLP
always has them). The LM head (predict): final_layer_norm, then embed_out.weight (the name in
Pythia's checkpoints; lm_head.weight as transformers 5 saves it), untied unless
tie_word_embeddings says otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attncli.models.base import Model, T, Table
from attncli.models.blocks import AttentionWeights, Parallel, PreNorm
from attncli.models.config import Config
from attncli.models.layers import activation
from attncli.models.rope import RopeScaling, partial_factor

# our name -> checkpoint name after an optional "gpt_neox." prefix
TABLE: Table = {
    "wte": ("embed_in.weight", ("vocab", "d")),
    "ln_attn": ("layers.{i}.input_layernorm.weight", ("d",)),
    "ln_attn_b": ("layers.{i}.input_layernorm.bias", ("d",)),
    "w_qkv": ("layers.{i}.attention.query_key_value.weight", ("qkv", "d")),  # per head [q k v]
    "b_qkv": ("layers.{i}.attention.query_key_value.bias", ("qkv",)),
    "w_o": ("layers.{i}.attention.dense.weight", ("d", "d"), T),
    "b_o": ("layers.{i}.attention.dense.bias", ("d",)),
    "ln_mlp": ("layers.{i}.post_attention_layernorm.weight", ("d",)),
    "ln_mlp_b": ("layers.{i}.post_attention_layernorm.bias", ("d",)),
    "w_up": ("layers.{i}.mlp.dense_h_to_4h.weight", ("ff", "d"), T),
    "b_up": ("layers.{i}.mlp.dense_h_to_4h.bias", ("ff",)),
    "w_down": ("layers.{i}.mlp.dense_4h_to_h.weight", ("d", "ff"), T),
    "b_down": ("layers.{i}.mlp.dense_4h_to_h.bias", ("d",)),
    "final_norm": ("final_layer_norm.weight", ("d",)),  # before the LM head (predict)
    "final_norm_b": ("final_layer_norm.bias", ("d",)),
}


class GPTNeoX(Model):
    """gpt_neox (Pythia, GPT-NeoX-20B)."""

    model_types = ("gpt_neox",)
    table = TABLE
    causal = True
    order = "rope"
    tied_by_default = False  # GPTNeoXConfig's default
    head_names = ("embed_out.weight", "lm_head.weight")

    def configure(self, config: Config) -> None:
        """Dimensions, rotary fraction and residual shape from a GPTNeoXConfig."""
        self.read_sizes(config)
        self.max_positions = config.optional_integer("max_position_embeddings")
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "hidden_act", default="gelu")
        self.parallel = config.boolean("use_parallel_residual", default=True)
        self.bias = config.boolean("attention_bias", default=True)
        # older config.json files name the rotated share rotary_pct and the base rotary_emb_base
        factor = partial_factor(config, "rotary_pct", default=0.25)
        self.scaling = RopeScaling(config, self.head_dim, factor,
                                   theta_keys=("rotary_emb_base",))  # any rope type
        if self.scaling.kind == "dynamic" and self.max_positions is not None:
            # dynamic NTK grows its base past max_position_embeddings, to factor times as many
            self.max_positions = int(self.scaling.factor * self.max_positions)
        self.block = Parallel if self.parallel else PreNorm
        self.table = {k: v for k, v in TABLE.items()
                      if self.bias or k not in ("b_qkv", "b_o")}
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "gpt_neox."))

    def load_attention(self, i: int, dtype: type = np.float32, **names: Any
                       ) -> AttentionWeights:
        """Layer i's input_layernorm, query_key_value split head by head into q, k, v, and
        dense."""
        d, hd = self.d_model, self.head_dim
        w = self.tensor("w_qkv", dtype, i).reshape(self.n_heads, 3, hd, d)  # (H, [q k v], hd, d)
        b = self.optional("b_qkv", dtype, i)
        b = None if b is None else b.reshape(self.n_heads, 3, hd)  # (H, [q k v], hd)
        w_q, w_k, w_v = (w[:, j].reshape(d, d).T for j in range(3))  # (d, H * hd) each
        b_q, b_k, b_v = (None if b is None else b[:, j].reshape(d) for j in range(3))
        return AttentionWeights(w_q, w_k, w_v, self.tensor("w_o", dtype, i), b_q, b_k, b_v,
                                self.optional("b_o", dtype, i), self.norm_at("ln_attn", dtype, i))
