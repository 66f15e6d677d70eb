"""GPTBigCode (SantaCoder, StarCoder): GPT-2's decoder with multi-query attention.

As transformers' modeling_gpt_bigcode does it:

  - multi_query: every query head shares one key head and one value head; c_attn's output is
    [all query heads | the key head | the value head] (an nn.Linear, stored (out, in));
  - learned positions are added to the token embeddings;
  - step 4 divides by √d_k unless scale_attn_weights is false: then the scores go to the
    softmax unscaled (the Variant's skip_scale, its own step, "no scaling");
  - the LM head (predict) is ln_f, then lm_head, tied to wte.

multi_query false (a key and value head per query head, laid out head by head) is in no
published checkpoint and is refused, as is add_cross_attention (a decoder of an
encoder-decoder pair).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Model, T, Table
from attncli.models.blocks import AttentionWeights
from attncli.models.config import Config
from attncli.models.layers import activation

H = "h.{i}."
TABLE: Table = {
    "wte": ("wte.weight", ("vocab", "d")),
    "wpe": ("wpe.weight", ("pos", "d")),
    "ln_attn": (H + "ln_1.weight", ("d",)),
    "ln_attn_b": (H + "ln_1.bias", ("d",)),
    "w_qkv": (H + "attn.c_attn.weight", ("qkv", "d"), T),  # rows [q | k | v]
    "b_qkv": (H + "attn.c_attn.bias", ("qkv",)),
    "w_o": (H + "attn.c_proj.weight", ("d", "d"), T),
    "b_o": (H + "attn.c_proj.bias", ("d",)),
    "ln_mlp": (H + "ln_2.weight", ("d",)),
    "ln_mlp_b": (H + "ln_2.bias", ("d",)),
    "w_up": (H + "mlp.c_fc.weight", ("ff", "d"), T),
    "b_up": (H + "mlp.c_fc.bias", ("ff",)),
    "w_down": (H + "mlp.c_proj.weight", ("d", "ff"), T),
    "b_down": (H + "mlp.c_proj.bias", ("d",)),
    "final_norm": ("ln_f.weight", ("d",)),
    "final_norm_b": ("ln_f.bias", ("d",)),
}


class GPTBigCode(Model):
    """gpt_bigcode (SantaCoder, StarCoder, StarCoderBase, WizardCoder)."""

    model_types = ("gpt_bigcode",)
    table = TABLE
    causal = True

    def configure(self, config: Config) -> None:
        """Dimensions, the one key/value head and the scale from a GPTBigCodeConfig."""
        self.read_sizes(config, layers=("n_layer",), heads=("n_head",), width=("n_embd",),
                        ff=())
        self.n_kv_heads = 1
        config.check(config.boolean("multi_query", default=True), "'multi_query' false (a "
                     "key and value head per query head) is not supported")
        config.check(not config.boolean("add_cross_attention", default=False),
                     "'add_cross_attention' (the decoder of an encoder-decoder pair) is not "
                     "supported")
        self.d_ff = config.integer("n_inner", default=4 * self.d_model)
        self.n_positions = self.max_positions = config.integer("n_positions")
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "activation_function", default="gelu_pytorch_tanh")
        self.scaled = config.boolean("scale_attn_weights", default=True)
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "transformer."))

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """The causal mask, and no scaling where scale_attn_weights is false."""
        return replace(super().variant(n, i, attn, x), skip_scale=not self.scaled)
