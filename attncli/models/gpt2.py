"""GPT-2: a pre-norm causal decoder with learned absolute positions.

The attention input x of layer i is ln_1 of the residual stream.

GPT-2's Conv1D stores its weight (in, out), the transpose of nn.Linear's (out, in): x @ w
works as stored, so unlike bert.py and llama.py no tensor is transposed (nanoGPT, loading
into nn.Linear, transposes exactly these four). c_attn's columns are [q | k | v].
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Model, Table
from attncli.models.blocks import AttentionWeights
from attncli.models.config import Config
from attncli.models.layers import activation

# our name -> checkpoint name after an optional "transformer." prefix
TABLE: Table = {
    "wte": ("wte.weight", ("vocab", "d")),  # and the LM head, when tied
    "wpe": ("wpe.weight", ("pos", "d")),
    "ln_attn": ("h.{i}.ln_1.weight", ("d",)),
    "ln_attn_b": ("h.{i}.ln_1.bias", ("d",)),
    "w_qkv": ("h.{i}.attn.c_attn.weight", ("d", "qkv")),  # columns [q | k | v]
    "b_qkv": ("h.{i}.attn.c_attn.bias", ("qkv",)),
    "w_o": ("h.{i}.attn.c_proj.weight", ("d", "d")),
    "b_o": ("h.{i}.attn.c_proj.bias", ("d",)),
    "ln_mlp": ("h.{i}.ln_2.weight", ("d",)),
    "ln_mlp_b": ("h.{i}.ln_2.bias", ("d",)),
    "w_up": ("h.{i}.mlp.c_fc.weight", ("d", "ff")),
    "b_up": ("h.{i}.mlp.c_fc.bias", ("ff",)),
    "w_down": ("h.{i}.mlp.c_proj.weight", ("ff", "d")),
    "b_down": ("h.{i}.mlp.c_proj.bias", ("d",)),
    "final_norm": ("ln_f.weight", ("d",)),  # before the LM head (predict)
    "final_norm_b": ("ln_f.bias", ("d",)),
}


class GPT2(Model):
    """gpt2 (and its sizes: distilgpt2, gpt2-medium, ...)."""

    model_types = ("gpt2",)
    table = TABLE
    causal = True

    def configure(self, config: Config) -> None:
        """Dimensions from a GPT2Config (n_layer, n_head, n_embd, ...)."""
        self.read_sizes(config, layers=("n_layer", "num_hidden_layers"),
                        heads=("n_head", "num_attention_heads"), width=("n_embd", "hidden_size"),
                        ff=())
        self.d_ff = config.integer("n_inner", default=4 * self.d_model)
        self.n_positions = self.max_positions = config.integer("n_positions", "n_ctx")
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "activation_function", default="gelu_new")
        # step 4's scale: 1/√d_k unless switched off, and in some GPT-2s (Mistral's Stanford
        # models) also divided by the layer's number, counted from 1
        self.scale_by_d_k = config.boolean("scale_attn_weights", default=True)
        self.scale_by_layer = config.boolean("scale_attn_by_inverse_layer_idx", default=False)
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "transformer."))

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """The causal mask, and step 4's scale when the config changes it."""
        plain = super().variant(n, i, attn, x)
        if self.scale_by_d_k and not self.scale_by_layer:
            return plain
        scale = (1 / math.sqrt(self.head_dim) if self.scale_by_d_k else 1.0)
        return replace(plain, scale=scale / (i + 1 if self.scale_by_layer else 1))
