"""Qwen2-MoE (Qwen1.5-MoE): Qwen2's decoder with a mixture of experts and a shared expert.

Each sparse layer's router (mlp.gate) picks num_experts_per_tok of num_experts experts per
token, their probabilities divided by the chosen ones' sum only with norm_topk_prob; a shared
expert (a gated MLP of shared_expert_intermediate_size) reads every token, its output scaled
by sigmoid(x · shared_expert_gate) before it joins the experts' (blocks.Experts). A layer in
mlp_only_layers, or not a multiple of decoder_sparse_step, has a dense MLP instead. q, k and
v have biases unless qkv_bias is false.
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import T, Table
from attncli.models.blocks import MLPWeights
from attncli.models.config import Config
from attncli.models.layers import sliding_windows
from attncli.models.llama import TABLE as LLAMA
from attncli.models.mixtral import Mixtral

L = "layers.{i}.mlp."
EXPERTS: Table = {  # the routed experts, as Qwen2-MoE and Qwen3-MoE name them
    "router": (L + "gate.weight", ("n_experts", "d"), T),
    **{f"e_{x}": (L + f"experts.{{j}}.{x}_proj.weight", ("d_expert", "d"), T)
       for x in ("gate", "up")},
    "e_down": (L + "experts.{j}.down_proj.weight", ("d", "d_expert"), T),
}
TABLE: Table = {
    **LLAMA,  # its dense MLP (w_gate, w_up, w_down) for the layers without experts
    **EXPERTS,
    **{f"s_{x}": (L + f"shared_expert.{x}_proj.weight", ("d_shared", "d"), T)
       for x in ("gate", "up")},
    "s_down": (L + "shared_expert.down_proj.weight", ("d", "d_shared"), T),
    "s_router": (L + "shared_expert_gate.weight", (1, "d"), T),
}


class Qwen2Moe(Mixtral):
    """qwen2_moe: sparse layers of routed experts plus a gated shared expert."""

    model_types: tuple[str, ...] = ("qwen2_moe",)
    table = TABLE
    d_shared: int
    dense_layers: frozenset[int] = frozenset()
    qkv_bias_key: str | None = "qkv_bias"  # q, k and v have biases unless it is false

    def read_experts(self, config: Config) -> None:
        """num_experts of moe_intermediate_size, num_experts_per_tok a token, renormalised
        with norm_topk_prob; which layers are sparse; the shared expert's width."""
        self.n_experts = config.integer("num_experts", "num_local_experts")
        self.top_k = config.integer("num_experts_per_tok", high=self.n_experts)
        self.d_expert = config.integer("moe_intermediate_size")
        self.renormalise = config.boolean("norm_topk_prob", default=False)
        step = config.integer("decoder_sparse_step", default=1)
        only = set(config.whole_numbers("mlp_only_layers", low=0))
        self.dense_layers = frozenset(i for i in range(self.n_layers)
                                      if i in only or (i + 1) % step)
        self.read_shared(config)

    def read_shared(self, config: Config) -> None:
        """The shared expert's width: shared_expert_intermediate_size."""
        self.d_shared = config.integer("shared_expert_intermediate_size")

    def sparse(self, i: int) -> bool:
        return i not in self.dense_layers

    def sliding(self, config: Config) -> list[int | None]:
        """With use_sliding_window, sliding_window in the layers layer_types says slide."""
        if not config.boolean("use_sliding_window", default=False):
            return [None] * self.n_layers
        return sliding_windows(config, self.n_layers)

    def shared_expert(self, i: int, dtype: type
                      ) -> tuple[MLPWeights | None, np.ndarray | None]:
        """Layer i's shared expert (a gated MLP) and its sigmoid gate's weights (d, 1)."""
        def t(key: str) -> np.ndarray:
            return self.tensor(key, dtype, i)

        return MLPWeights(t("s_up"), t("s_down"), t("s_gate")), t("s_router")
