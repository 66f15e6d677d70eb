"""MPT: a pre-norm decoder with ALiBi (alibi.py), no biases anywhere.

Its LayerNorms have no bias (transformers drops any stored one), Wqkv is a fused [q | k | v],
the MLP is 4 · d wide with the exact GELU, and the LM head is norm_f and the word embeddings,
tied. attn_config.softmax_scale, if set, replaces 1 / √d_k. transformers' MPT uses ALiBi with
a bias_max of 8 whatever the config says and neither clamps q, k and v nor normalises them,
so a config asking for another alibi_bias_max, no ALiBi, clip_qkv or qk_ln is refused.
"""

from __future__ import annotations

import numpy as np

from attncli.attention import Variant
from attncli.models.alibi import alibi_variant, mpt_slopes
from attncli.models.base import Model, T, Table
from attncli.models.blocks import AttentionWeights, Norm
from attncli.models.config import Config
from attncli.models.layers import gelu, layer_norm

L = "blocks.{i}."
TABLE: Table = {
    "wte": ("wte.weight", ("vocab", "d")),
    "ln_attn": (L + "norm_1.weight", ("d",)),
    "w_qkv": (L + "attn.Wqkv.weight", ("qkv", "d"), T),
    "w_o": (L + "attn.out_proj.weight", ("d", "d"), T),
    "ln_mlp": (L + "norm_2.weight", ("d",)),
    "w_up": (L + "ffn.up_proj.weight", ("ff", "d"), T),
    "w_down": (L + "ffn.down_proj.weight", ("d", "ff"), T),
    "final_norm": ("norm_f.weight", ("d",)),
}
BIAS_MAX = 8  # what transformers' MptModel passes, whatever config.json says


class MPT(Model):
    """mpt (MptModel, MptForCausalLM)."""

    model_types = ("mpt",)
    table = TABLE
    causal = True
    order = "alibi"

    def configure(self, config: Config) -> None:
        """Sizes from an MptConfig (d_model, n_heads, n_layers) and its attn_config."""
        self.read_sizes(config, layers=("n_layers",), heads=("n_heads",), width=("d_model",),
                        ff=())
        self.d_ff = 4 * self.d_model
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-5)
        self.act = gelu
        self.max_positions = config.integer("max_seq_len", default=2048)
        attn = config.section("attn_config")
        self.scale = attn.optional_number("softmax_scale", low=0, above=True, high=1e4)
        attn.check(attn.boolean("alibi", default=True), "'alibi' is false: transformers' MPT "
                   "uses ALiBi all the same, so there is no reference for this model")
        most = attn.number("alibi_bias_max", low=0, above=True, high=1e4, default=BIAS_MAX)
        attn.check(most == BIAS_MAX, f"'alibi_bias_max' {most:g}: transformers' MPT uses "
                   f"{BIAS_MAX} whatever the config says, so there is no reference to match")
        attn.check(attn.optional_number("clip_qkv", low=0, high=1e9) is None,
                   "'clip_qkv' is set: attncli does not clamp q, k and v")
        attn.check(not attn.boolean("qk_ln", default=False),
                   "'qk_ln' is set: transformers' MPT does not normalise q and k, so there is "
                   "no reference to match")
        self.slopes = mpt_slopes(self.n_heads, BIAS_MAX)  # (heads,)
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "transformer."))

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """LayerNorm without a bias."""
        return layer_norm(x, norm.w, np.zeros((), dtype=x.dtype), self.eps)

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """ALiBi's bias with each head's slope, the model's scale if it has one, causal."""
        return alibi_variant(self.slopes, n, x.dtype.type, self.mask(n, i), self.scale)

    def matrices(self) -> tuple[int, int]:
        return 4, 3  # a head shown keeps its bias, in float64, beside its matrices

    def score_bias_bytes(self, last: int, item: int) -> tuple[int, int]:
        """Each layer's (heads, n, n) bias, made at its start and held through it."""
        return 0, self.n_heads * item + 8
