"""Llama, Qwen2 and Mistral: pre-RMSNorm causal decoders with rotary positions (RoPE).

The attention input x of layer i is input_layernorm (RMSNorm) of the residual
stream. q and k are rotated by position after their bias, so the Steps' q and k
are the rotated ones. With grouped-query attention (num_key_value_heads <
num_attention_heads) each key/value head serves n_heads / n_kv_heads query heads.

Biases: qwen2 has them on q, k, v; llama has them on q, k, v, o with attention_bias and on
the MLP with mlp_bias; mistral has none. The LM head (predict) is lm_head.weight (no
prefix), or embed_tokens when tied, after the final norm.
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import Model, T, Table
from attncli.models.blocks import Norm
from attncli.models.config import Config
from attncli.models.layers import ACTIVATIONS, HeldNorm, held_rms_norm, rms_norm, sliding_windows
from attncli.models.rope import RopeScaling

# our name -> checkpoint name after an optional "model." prefix
L = "layers.{i}."
WIDTHS = (("q", "q"), ("k", "kv"), ("v", "kv"))  # (H·hd, d) for q; (Hkv·hd, d) for k and v
TABLE: Table = {
    "wte": ("embed_tokens.weight", ("vocab", "d")),  # and the LM head, when tied
    "ln_attn": (L + "input_layernorm.weight", ("d",)),
    **{f"w_{x}": (f"{L}self_attn.{x}_proj.weight", (w, "d"), T) for x, w in WIDTHS},
    **{f"b_{x}": (f"{L}self_attn.{x}_proj.bias", (w,)) for x, w in WIDTHS},
    "w_o": (L + "self_attn.o_proj.weight", ("d", "q"), T),
    "b_o": (L + "self_attn.o_proj.bias", ("d",)),
    "ln_mlp": (L + "post_attention_layernorm.weight", ("d",)),
    **{f"w_{x}": (f"{L}mlp.{x}_proj.weight", ("ff", "d"), T) for x in ("gate", "up")},
    **{f"b_{x}": (f"{L}mlp.{x}_proj.bias", ("ff",)) for x in ("gate", "up")},
    "w_down": (L + "mlp.down_proj.weight", ("d", "ff"), T),
    "b_down": (L + "mlp.down_proj.bias", ("d",)),
    "final_norm": ("norm.weight", ("d",)),  # before the LM head (predict)
}
QKV_BIASES, O_BIAS, MLP_BIASES = ("b_q", "b_k", "b_v"), ("b_o",), ("b_gate", "b_up", "b_down")


class Llama(Model):
    """llama, qwen2 and mistral."""

    model_types: tuple[str, ...] = ("llama", "qwen2", "mistral")
    causal = True
    order = "rope"
    table = TABLE
    read_ahead = True  # a big model's layers are mostly reading and converting weights
    packed_mlp = True
    tied_by_default = False  # tie_word_embeddings when config.json leaves it out
    prefixes: tuple[str, ...] = ("model.", "")  # what the checkpoint may put before names
    act_keys: tuple[str, ...] = ("hidden_act",)  # the MLP's activation: the first one set
    act_default = "silu"
    act_renamed: dict[str, str] = {}  # an activation's name that means another here
    mlp_biases = True  # the MLP may have biases (mlp_bias)
    qkv_bias_key: str | None = None  # a config field that says whether q, k and v have biases
    slides = True  # the family reads sliding windows
    every_layer: tuple[str, ...] = ("mistral",)  # model_types whose window is in every layer
    pattern: int | None = None  # without layer_types, every pattern-th layer is global

    def configure(self, config: Config) -> None:
        """Dimensions, RoPE and sliding windows from a LlamaConfig / Qwen2Config / MistralConfig."""
        self.read_sizes(config, kv_heads="num_key_value_heads", head_dim="head_dim")
        self.max_positions = config.optional_integer("max_position_embeddings")
        self.eps = config.number("rms_norm_eps", low=0, above=True, high=1, default=1e-6)
        act = config.choice(*self.act_keys, options=sorted(ACTIVATIONS), default=self.act_default)
        self.act = ACTIVATIONS[self.act_renamed.get(act, act)]
        self.attention_bias = config.boolean("attention_bias", default=False)
        # q, k and v have biases always in qwen2, where the family names a field for them by
        # it (default true), else with attention_bias
        self.qkv_bias = (config.boolean(self.qkv_bias_key, default=True) if self.qkv_bias_key
                         else self.model_type == "qwen2" or self.attention_bias)
        self.mlp_bias = self.mlp_biases and config.boolean("mlp_bias", default=False)
        self.scaling = self.rope_scaling(config)  # every type, dynamic and yarn too
        if self.scaling.kind == "dynamic" and self.max_positions is not None:
            # dynamic NTK grows its base past max_position_embeddings, to factor times as many
            self.max_positions = int(self.scaling.factor * self.max_positions)
        self.windows = self.sliding(config) if self.slides else [None] * self.n_layers
        absent = (*QKV_BIASES * (not self.qkv_bias), *O_BIAS * (not self.attention_bias),
                  *MLP_BIASES * (not self.mlp_bias))  # the biases this config leaves out
        self.table = {k: v for k, v in type(self).table.items() if k not in absent}
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], self.prefixes)

    def rope_scaling(self, config: Config) -> RopeScaling:
        """RoPE over the whole head, any rope type."""
        return RopeScaling(config, self.head_dim)

    def sliding(self, config: Config) -> list[int | None]:
        """Each layer's sliding window: where layer_types (or the pattern) says, else in
        every layer (every_layer), or Qwen2's from max_window_layers on."""
        return sliding_windows(config, self.n_layers,
                               every_layer=self.model_type in self.every_layer,
                               from_layer=self.model_type in ("qwen2", "qwen3"),
                               pattern=self.pattern)

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """RMSNorm."""
        return rms_norm(x, norm.w, self.eps)

    def held_norm(self, x: np.ndarray, norm: Norm) -> HeldNorm:
        """RMSNorm at x, its 1 / RMS held."""
        return held_rms_norm(x, norm.w, self.eps)

