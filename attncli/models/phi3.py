"""Phi-3: llama.py's decoder with fused projections, partial RoPE and a sliding window.

q, k and v come from one qkv_proj whose output rows are [all query heads | all key heads |
all value heads] (not head by head, unlike GPT-NeoX); the MLP's gate_up_proj is [gate | up].
With partial_rotary_factor < 1 (Phi-4-mini: 0.75) only the first int(head_dim · factor)
dimensions of each query and key are rotated. A sliding_window applies to every layer, as
in Mistral. No biases anywhere. The attention is llama.py's otherwise.

Phi-3's "longrope" scaling (rope type longrope, or su / yarn in older config.json files, which
transformers' Phi3Config reads as longrope; the 128k-context Phi-3 models) divides the speeds by
short_factor, or by long_factor for an input longer than original_max_position_embeddings (the
top-level key, 4096 if absent, as Phi3Config), and multiplies cos and sin by
sqrt(1 + ln(max_position_embeddings / original) / ln(original)) (rope.RopeScaling).

    layers.{i}.self_attn.qkv_proj       (H*hd + 2*Hkv*hd, d) T   rows [q | k | v] -> w_q, w_k, w_v
    layers.{i}.self_attn.o_proj         (d, H*hd) T              w_o
    layers.{i}.mlp.gate_up_proj         (2*ff, d) T              rows [gate | up] -> w_gate, w_up
    layers.{i}.mlp.down_proj            (d, ff) T                w_down
    (embed_tokens, input_layernorm, post_attention_layernorm: as llama.py)
"""

from __future__ import annotations

from attncli.models.base import Layer
from attncli.models.config import Config
from attncli.models.layers import sliding_windows
from attncli.models.llama import Llama
from attncli.models.rope import RopeScaling

LONGROPE = ("longrope", "su", "yarn")  # Phi-3's names for its long-context scaling
ORIGINAL_DEFAULT = 4096  # Phi3Config's original_max_position_embeddings


class Phi3(Llama):
    """phi3 (Phi-3 mini/medium, 4k and 128k (longrope) context, Phi-3.5-mini, Phi-4-mini)."""

    model_types = ("phi3",)

    def rope_scaling(self, config: Config) -> RopeScaling:
        """RoPE on the first int(head_dim · partial_rotary_factor) dimensions; longrope under
        any of its names."""
        params = config.section("rope_parameters", "rope_scaling")
        factor = params.optional_number("partial_rotary_factor", low=0, above=True, high=1)
        if factor is None:
            factor = config.number("partial_rotary_factor", low=0, above=True, high=1,
                                   default=1.0)
        return RopeScaling(config, self.head_dim, partial_rotary_factor=factor,
                           original_default=ORIGINAL_DEFAULT,
                           renamed=dict.fromkeys(LONGROPE, "longrope"))

    def sliding(self, config: Config) -> list[int | None]:
        """The window in every layer (or where layer_types says)."""
        return sliding_windows(config, self.n_layers, every_layer=True)

    def load_attention(self, i: int) -> Layer:
        """Layer i's input_layernorm and qkv_proj split into its q, k, v row blocks."""
        p, read = f"{self.prefix}layers.{i}.", self.checkpoint.read
        d, q, kv = self.d_model, self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        w = read(p + "self_attn.qkv_proj.weight", (q + 2 * kv, d)).T  # (d, q + 2 kv)
        return {
            "ln_1_w": read(p + "input_layernorm.weight", (d,)),
            "w_q": w[:, :q], "w_k": w[:, q:q + kv], "w_v": w[:, q + kv:],
            "b_q": None, "b_k": None, "b_v": None,
        }

    def load_rest(self, i: int) -> Layer:
        """Layer i's o_proj, post_attention_layernorm and gate_up_proj split into gate and up."""
        p, read = f"{self.prefix}layers.{i}.", self.checkpoint.read
        d, ff, q = self.d_model, self.d_ff, self.n_heads * self.head_dim
        gate_up = read(p + "mlp.gate_up_proj.weight", (2 * ff, d)).T  # (d, 2 ff)
        return {
            "w_o": read(p + "self_attn.o_proj.weight", (d, q)).T,  # (H*hd, d)
            "b_o": None,
            "ln_2_w": read(p + "post_attention_layernorm.weight", (d,)),
            "w_gate": gate_up[:, :ff], "b_gate": None,  # (d, ff)
            "w_up": gate_up[:, ff:], "b_up": None,  # (d, ff)
            "w_down": read(p + "mlp.down_proj.weight", (d, ff)).T, "b_down": None,  # (ff, d)
        }
