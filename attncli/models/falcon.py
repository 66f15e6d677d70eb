"""Falcon (falcon-7b, falcon-40b, falcon-11B, falcon-180B): a decoder with one fused
query_key_value projection, RoPE, and (mostly) a parallel block.

As transformers' modeling_falcon does it, with RoPE (alibi false):

  - query_key_value's output rows are laid out three ways:
      new_decoder_architecture (40b, 180B, 11B): per key/value group g, the group's
        n_heads / num_kv_heads query heads, then its key, then its value (grouped-query
        attention);
      multi_query (7b): every query head, then one key and one value shared by all heads;
      neither: per head, its query, key and value (as GPT-NeoX);
  - RoPE over the whole head (rotate_half), any rope type; scores ÷ √head_dim;
  - new_decoder_architecture: a parallel block, h + dense(attn(ln_attn(h))) + mlp(ln_mlp(h))
    (num_ln_in_parallel_attn 2), or one input_layernorm for both (1);
    parallel_attn: one input_layernorm for both; else pre-norm with input_layernorm and
    post_attention_layernorm;
  - LayerNorms with biases (layer_norm_epsilon); q/k/v, dense and the MLP have biases with
    bias; the MLP is dense_4h_to_h(act(dense_h_to_4h(x)));
  - the LM head (predict) is ln_f, then lm_head (tied to the word embeddings by default).

Refused, naming the field: alibi true (Falcon-RW: a linear bias by distance instead of RoPE,
which this family does not compute), and new_decoder_architecture without parallel_attn
(transformers itself cannot run that combination).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attncli.models.base import Model, T, Table
from attncli.models.blocks import AttentionWeights, Parallel, PreNorm
from attncli.models.config import Config
from attncli.models.layers import activation
from attncli.models.rope import RopeScaling

H = "h.{i}."
TABLE: Table = {
    "wte": ("word_embeddings.weight", ("vocab", "d")),
    "w_qkv": (H + "self_attention.query_key_value.weight", ("qkv", "d")),
    "b_qkv": (H + "self_attention.query_key_value.bias", ("qkv",)),
    "w_o": (H + "self_attention.dense.weight", ("d", "q"), T),
    "b_o": (H + "self_attention.dense.bias", ("d",)),
    "w_up": (H + "mlp.dense_h_to_4h.weight", ("ff", "d"), T),
    "b_up": (H + "mlp.dense_h_to_4h.bias", ("ff",)),
    "w_down": (H + "mlp.dense_4h_to_h.weight", ("d", "ff"), T),
    "b_down": (H + "mlp.dense_4h_to_h.bias", ("d",)),
    "final_norm": ("ln_f.weight", ("d",)),
    "final_norm_b": ("ln_f.bias", ("d",)),
}
BIASES = ("b_qkv", "b_o", "b_up", "b_down")


def norms(attn: str, mlp: str) -> Table:
    """The table's two norms (weight and bias each), by their module names (one name twice:
    one norm read by both parts)."""
    return {key + b: (f"{H}{name}.{w}", ("d",)) for key, name in (("ln_attn", attn),
                                                                   ("ln_mlp", mlp))
            for b, w in (("", "weight"), ("_b", "bias"))}


class Falcon(Model):
    """falcon (with RoPE)."""

    model_types = ("falcon",)
    table = TABLE
    causal = True
    order = "rope"
    tied_by_default = True  # FalconConfig's default

    def configure(self, config: Config) -> None:
        """Dimensions, the fused projection's layout, the block and its norms, from a
        FalconConfig; alibi refused."""
        alibi = config.boolean("alibi", default=False)
        config.check(not alibi, "'alibi' true: Falcon with ALiBi (a linear bias by distance "
                     "instead of RoPE, as Falcon-RW) is not supported")
        self.read_sizes(config, ff=())
        self.new = config.boolean("new_decoder_architecture", default=False)
        self.multi_query = config.boolean("multi_query", default=True)
        parallel = config.boolean("parallel_attn", default=True)
        if self.new:
            config.check(parallel, "'new_decoder_architecture' true with 'parallel_attn' "
                         "false: a layout transformers does not run either")
            self.n_kv_heads = config.integer("num_kv_heads", default=self.n_heads)
            config.check(self.n_heads % self.n_kv_heads == 0, f"'num_attention_heads' "
                         f"{self.n_heads} does not split into 'num_kv_heads' "
                         f"{self.n_kv_heads} groups")
        elif self.multi_query:
            self.n_kv_heads = 1
        self.d_ff = config.integer("ffn_hidden_size", default=4 * self.d_model)
        self.max_positions = config.optional_integer("max_position_embeddings")
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "activation", default="gelu")
        self.scaling = RopeScaling(config, self.head_dim)
        self.max_positions = self.scaling.reach(self.max_positions)  # dynamic: longer
        if self.new and config.integer("num_ln_in_parallel_attn", low=1, high=2,
                                       default=2) == 2:
            layer_norms = norms("ln_attn", "ln_mlp")
        elif parallel:
            layer_norms = norms("input_layernorm", "input_layernorm")
        else:
            layer_norms = norms("input_layernorm", "post_attention_layernorm")
        self.block = Parallel if parallel else PreNorm
        bias = config.boolean("bias", default=False)
        self.table = {**{k: v for k, v in TABLE.items() if bias or k not in BIASES},
                      **layer_norms}
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("transformer.", ""))

    def split(self, fused: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """query_key_value's rows (its weight (rows, d) or its bias (rows,)) as q (H·hd, …),
        k and v (Hkv·hd, …) each, the heads in order, whichever of the three layouts."""
        hd, nh, nkv, rest = self.head_dim, self.n_heads, self.n_kv_heads, fused.shape[1:]
        if self.new:
            grouped = fused.reshape(nkv, nh // nkv + 2, hd, *rest)  # per group [q… k v]
            return (grouped[:, :-2].reshape(nh * hd, *rest),
                    grouped[:, -2].reshape(nkv * hd, *rest),
                    grouped[:, -1].reshape(nkv * hd, *rest))
        if self.multi_query:  # [every q | k | v]
            return fused[:nh * hd], fused[nh * hd:(nh + 1) * hd], fused[(nh + 1) * hd:]
        per_head = fused.reshape(nh, 3, hd, *rest)  # per head [q k v]
        q, k, v = (per_head[:, j].reshape(nh * hd, *rest) for j in range(3))
        return q, k, v

    def load_attention(self, i: int, dtype: type = np.float32, **names: Any
                       ) -> AttentionWeights:
        """Layer i's norm, query_key_value split into q, k and v, and dense."""
        w_q, w_k, w_v = (w.T for w in self.split(self.tensor("w_qkv", dtype, i)))
        b = self.optional("b_qkv", dtype, i)
        b_q, b_k, b_v = (None, None, None) if b is None else self.split(b)
        return AttentionWeights(w_q, w_k, w_v, self.tensor("w_o", dtype, i), b_q, b_k, b_v,
                                self.optional("b_o", dtype, i), self.norm_at("ln_attn", dtype, i))
