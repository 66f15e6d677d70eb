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
"""

from __future__ import annotations

from attncli.models.base import T, Table
from attncli.models.config import Config
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama
from attncli.models.rope import RopeScaling, partial_factor

LONGROPE = ("longrope", "su", "yarn")  # Phi-3's names for its long-context scaling
ORIGINAL_DEFAULT = 4096  # Phi3Config's original_max_position_embeddings
# llama's names, without biases, and q, k, v (and gate, up) fused, their rows [q | k | v]
KEPT = ("wte", "ln_attn", "w_o", "ln_mlp", "w_down", "final_norm")
TABLE: Table = {**{k: LLAMA[k] for k in KEPT},
                "w_qkv": ("layers.{i}.self_attn.qkv_proj.weight", ("qkv", "d"), T),
                "w_gate_up": ("layers.{i}.mlp.gate_up_proj.weight", ("gate_up", "d"), T)}


class Phi3(Llama):
    """phi3 (Phi-3 mini/medium, 4k and 128k (longrope) context, Phi-3.5-mini, Phi-4-mini)."""

    model_types = ("phi3",)
    table = TABLE
    every_layer = ("phi3",)  # the window is in every layer (or where layer_types says)

    def rope_scaling(self, config: Config) -> RopeScaling:
        """RoPE on the first int(head_dim · partial_rotary_factor) dimensions; longrope under
        any of its names."""
        factor = partial_factor(config, "partial_rotary_factor", default=1.0)
        scaling = RopeScaling(config, self.head_dim, partial_rotary_factor=factor,
                              original_default=ORIGINAL_DEFAULT,
                              renamed=dict.fromkeys(LONGROPE, "longrope"))
        config.check(scaling.kind in ("default", "longrope"), f"rope type {scaling.kind!r}: "
                     "Phi-3's config takes only longrope (or su, yarn), as transformers' does")
        return scaling
