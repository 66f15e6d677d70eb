"""Qwen3: Qwen2's decoder with q and k normalised per head before RoPE, and no q/k/v biases.

Each head's query and key pass through an RMSNorm over head_dim (one weight vector shared by
all heads) after the projection and before the rotation: the Variant's qk_norm, shown as its
own step. Everything else is llama.py's.

    layers.{i}.self_attn.q_norm.weight    (head_dim,)    q_norm
    layers.{i}.self_attn.k_norm.weight    (head_dim,)    k_norm
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Layer
from attncli.models.layers import rms_norm
from attncli.models.llama import Llama


class Qwen3(Llama):
    """qwen3 (dense; the MoE qwen3_moe is not supported)."""

    model_types = ("qwen3",)

    def load_attention(self, i: int) -> Layer:
        """llama's, and the per-head q and k norms."""
        layer = super().load_attention(i)
        p, hd, read = f"{self.prefix}layers.{i}.self_attn.", self.head_dim, self.checkpoint.read
        layer["q_norm"] = read(p + "q_norm.weight", (hd,))
        layer["k_norm"] = read(p + "k_norm.weight", (hd,))
        return layer

    def variant(self, n: int, i: int, layer: Layer) -> Variant:
        """RoPE and the mask, and q and k RMS-normalised per head first."""
        q_w, k_w, eps = layer["q_norm"], layer["k_norm"], self.eps

        def qk_norm(q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return rms_norm(q, q_w, eps), rms_norm(k, k_w, eps)  # over head_dim

        return replace(super().variant(n, i, layer), qk_norm=qk_norm)
