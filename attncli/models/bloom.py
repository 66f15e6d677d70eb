"""BLOOM: a pre-norm decoder with ALiBi instead of position vectors (alibi.py).

The word embeddings go through their own LayerNorm (word_embeddings_layernorm) before layer
0. A layer's query_key_value is fused per head: its 3 · d outputs are, head by head, that
head's q, k and v (head_dim each), not three blocks. The MLP is 4 · d wide with GELU's tanh
form. apply_residual_connection_post_layernorm (the residual taken after the norm) is
refused. The LM head (BloomForCausalLM) is ln_f and the word embeddings, tied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from attncli.attention import Variant
from attncli.models.alibi import alibi_variant, bloom_slopes
from attncli.models.base import Model, T, Table
from attncli.models.blocks import AttentionWeights
from attncli.models.config import Config
from attncli.models.layers import gelu_tanh

L = "h.{i}."
TABLE: Table = {
    "wte": ("word_embeddings.weight", ("vocab", "d")),
    "ln_emb": ("word_embeddings_layernorm.weight", ("d",)),
    "ln_emb_b": ("word_embeddings_layernorm.bias", ("d",)),
    "ln_attn": (L + "input_layernorm.weight", ("d",)),
    "ln_attn_b": (L + "input_layernorm.bias", ("d",)),
    "w_qkv": (L + "self_attention.query_key_value.weight", ("qkv", "d"), T),
    "b_qkv": (L + "self_attention.query_key_value.bias", ("qkv",)),
    "w_o": (L + "self_attention.dense.weight", ("d", "d"), T),
    "b_o": (L + "self_attention.dense.bias", ("d",)),
    "ln_mlp": (L + "post_attention_layernorm.weight", ("d",)),
    "ln_mlp_b": (L + "post_attention_layernorm.bias", ("d",)),
    "w_up": (L + "mlp.dense_h_to_4h.weight", ("ff", "d"), T),
    "b_up": (L + "mlp.dense_h_to_4h.bias", ("ff",)),
    "w_down": (L + "mlp.dense_4h_to_h.weight", ("d", "ff"), T),
    "b_down": (L + "mlp.dense_4h_to_h.bias", ("d",)),
    "final_norm": ("ln_f.weight", ("d",)),
    "final_norm_b": ("ln_f.bias", ("d",)),
}


class Bloom(Model):
    """bloom (BloomModel, BloomForCausalLM)."""

    model_types = ("bloom",)
    table = TABLE
    causal = True
    order = "alibi"

    def configure(self, config: Config) -> None:
        """Sizes from a BloomConfig (n_layer, n_head, hidden_size or n_embed)."""
        self.read_sizes(config, layers=("n_layer", "num_hidden_layers"),
                        heads=("n_head", "num_attention_heads"), width=("hidden_size", "n_embed"),
                        ff=())
        self.d_ff = 4 * self.d_model
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-5)
        self.act = gelu_tanh
        config.check(not config.boolean("apply_residual_connection_post_layernorm",
                                        default=False),
                     "'apply_residual_connection_post_layernorm' is set: attncli adds each "
                     "part to the stream before its norm, not after")
        self.slopes = bloom_slopes(self.n_heads)  # (heads,)
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "transformer."))

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """The word embeddings, then their LayerNorm."""
        ln = self.norm_at("ln_emb", dtype)
        assert ln is not None
        return self.normalise(self.tensor("wte", dtype, rows=ids), ln)  # (n, d)

    def qkv(self, kind: str, read: Callable[[str], Any]) -> tuple[Any, Any, Any]:
        """The fused projection's columns, (heads, 3, head_dim) in order, as q, k and v."""
        fused = read(f"{kind}_qkv")  # (..., 3 · d)
        split = fused.reshape(*fused.shape[:-1], self.n_heads, 3, self.head_dim)
        q, k, v = (np.ascontiguousarray(split[..., j, :]).reshape(*fused.shape[:-1], -1)
                   for j in range(3))
        return q, k, v

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """ALiBi's bias with each head's slope, and the causal mask."""
        return alibi_variant(self.slopes, n, x.dtype.type, self.mask(n, i))

    def matrices(self) -> tuple[int, int]:
        return 4, 3  # a head shown keeps its bias, in float64, beside its matrices

    def score_bias_bytes(self, last: int, item: int) -> tuple[int, int]:
        """Each layer's (heads, n, n) bias, made at its start and held through it."""
        return 0, self.n_heads * item + 8
