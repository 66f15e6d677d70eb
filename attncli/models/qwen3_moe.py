"""Qwen3-MoE: Qwen3's decoder (q and k normalised per head) with a mixture of experts.

The experts are Qwen2-MoE's without the shared one: each sparse layer's router picks
num_experts_per_tok of num_experts experts per token, renormalised with norm_topk_prob
(blocks.Experts). q, k, v and o have biases only with attention_bias.
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import Table
from attncli.models.blocks import MLPWeights
from attncli.models.config import Config
from attncli.models.layers import sliding_windows
from attncli.models.llama import TABLE as LLAMA
from attncli.models.qwen2_moe import EXPERTS, Qwen2Moe
from attncli.models.qwen3 import TABLE as QWEN3

TABLE: Table = {**LLAMA, **QWEN3, **EXPERTS}


class Qwen3Moe(Qwen2Moe):
    """qwen3_moe: sparse layers of routed experts, no shared expert."""

    model_types: tuple[str, ...] = ("qwen3_moe",)
    table = TABLE
    qkv_bias_key = None  # q, k and v have biases with attention_bias, as Llama's

    def read_shared(self, config: Config) -> None:
        """No shared expert."""

    def sliding(self, config: Config) -> list[int | None]:
        """With use_sliding_window, sliding_window in every layer."""
        if not config.boolean("use_sliding_window", default=False):
            return [None] * self.n_layers
        return sliding_windows(config, self.n_layers, every_layer=True)

    def shared_expert(self, i: int, dtype: type
                      ) -> tuple[MLPWeights | None, np.ndarray | None]:
        return None, None
