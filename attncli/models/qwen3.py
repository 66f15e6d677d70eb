"""Qwen3: Qwen2's decoder with q and k normalised per head before RoPE, and no q/k/v biases.

Each head's query and key pass through an RMSNorm over head_dim (one weight vector shared by
all heads) after the projection and before the rotation: the Variant's qk_norm, shown as its
own step. Everything else is llama.py's.
"""

from __future__ import annotations

from attncli.models.base import Table
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama

TABLE: Table = {**LLAMA,  # and q and k normalised per head, over head_dim
                "q_norm": ("layers.{i}.self_attn.q_norm.weight", ("hd",)),
                "k_norm": ("layers.{i}.self_attn.k_norm.weight", ("hd",))}


class Qwen3(Llama):
    """qwen3 (dense; the MoE qwen3_moe is qwen3_moe.py's)."""

    model_types = ("qwen3",)
    table = TABLE
