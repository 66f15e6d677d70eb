"""StarCoder2: Mistral's decoder with LayerNorms, biases everywhere and an ungated MLP.

As transformers' modeling_starcoder2 does it: grouped-query attention with RoPE and, where
sliding_window is set, a window in every layer; input_layernorm and post_attention_layernorm
are LayerNorms with biases (norm_epsilon); q, k, v, o and the MLP's c_fc and c_proj have
biases with use_bias; the MLP is c_proj(act(c_fc(x))). The LM head (predict) is norm, then
lm_head, tied to embed_tokens by default.
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import T, Table
from attncli.models.blocks import Norm
from attncli.models.config import Config
from attncli.models.layers import HeldNorm, held_layer_norm, layer_norm
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama

L = "layers.{i}."
NORMS = ("ln_attn", "ln_mlp", "final_norm")
TABLE: Table = {
    **{k: v for k, v in LLAMA.items() if not k.startswith(("w_gate", "b_gate", "w_up", "b_up",
                                                            "w_down", "b_down"))},
    **{k + "_b": (LLAMA[k][0].replace(".weight", ".bias"), ("d",)) for k in NORMS},
    "w_up": (L + "mlp.c_fc.weight", ("ff", "d"), T),
    "b_up": (L + "mlp.c_fc.bias", ("ff",)),
    "w_down": (L + "mlp.c_proj.weight", ("d", "ff"), T),
    "b_down": (L + "mlp.c_proj.bias", ("d",)),
}
BIASES = ("b_q", "b_k", "b_v", "b_o", "b_up", "b_down")


class Starcoder2(Llama):
    """starcoder2 (StarCoder2 3B, 7B, 15B)."""

    model_types = ("starcoder2",)
    table = TABLE
    tied_by_default = True  # Starcoder2Config's default
    act_default = "gelu_pytorch_tanh"
    mlp_biases = False  # the table says, from use_bias
    every_layer = ("starcoder2",)  # the window in every layer, where sliding_window is set

    def configure(self, config: Config) -> None:
        """llama's dimensions and RoPE, LayerNorms, and the biases with use_bias."""
        super().configure(config)
        self.eps = config.number("norm_epsilon", low=0, above=True, high=1, default=1e-5)
        bias = config.boolean("use_bias", default=True)
        self.table = {k: v for k, v in TABLE.items() if bias or k not in BIASES}

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """LayerNorm."""
        assert norm.b is not None
        return layer_norm(x, norm.w, norm.b, self.eps)

    def held_norm(self, x: np.ndarray, norm: Norm) -> HeldNorm:
        return held_layer_norm(x, norm.w, norm.b, self.eps)
