"""Qwen3: Qwen2's decoder with q and k normalised per head before RoPE, and no q/k/v biases.

Each head's query and key pass through an RMSNorm over head_dim (one weight vector shared by
all heads) after the projection and before the rotation: the Variant's qk_norm, shown as its
own step. Everything else is llama.py's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Table
from attncli.models.blocks import AttentionWeights
from attncli.models.layers import rms_norm
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama

TABLE: Table = {**LLAMA,  # and q and k normalised per head, over head_dim
                "q_norm": ("layers.{i}.self_attn.q_norm.weight", ("hd",)),
                "k_norm": ("layers.{i}.self_attn.k_norm.weight", ("hd",))}


class Qwen3(Llama):
    """qwen3 (dense; the MoE qwen3_moe is not supported)."""

    model_types = ("qwen3",)
    table = TABLE

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """RoPE and the mask, and q and k RMS-normalised per head first."""
        q_w, k_w, eps = attn.q_norm, attn.k_norm, self.eps
        assert q_w is not None and k_w is not None

        def qk_norm(q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return rms_norm(q, q_w, eps), rms_norm(k, k_w, eps)  # over head_dim

        return replace(super().variant(n, i, attn, x), qk_norm=qk_norm)
