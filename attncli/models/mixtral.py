"""Mixtral: Mistral's decoder with a mixture of experts in place of each layer's MLP.

A router (block_sparse_moe.gate, one row of logits per expert) scores the experts for each
token; the token goes through its num_experts_per_tok most probable experts (each a gated
SiLU MLP: w1 the gate, w3 up, w2 down), whose outputs are added, each times its probability
divided by the chosen ones' sum (blocks.Experts). Which experts a token took is data like
any other step: Hooks.routes sees it. The attention part is llama.py's (sliding_window in
every layer, if set).
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import T, Table
from attncli.models.blocks import Experts, MLPWeights
from attncli.models.config import Config
from attncli.models.layers import sliding_windows
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama

L = "layers.{i}."
DENSE = ("w_gate", "w_up", "w_down", "b_gate", "b_up", "b_down")  # no dense MLP
TABLE: Table = {
    **{k: v for k, v in LLAMA.items() if k not in DENSE},
    "router": (L + "block_sparse_moe.gate.weight", ("n_experts", "d"), T),
    "e_gate": (L + "block_sparse_moe.experts.{j}.w1.weight", ("d_expert", "d"), T),
    "e_up": (L + "block_sparse_moe.experts.{j}.w3.weight", ("d_expert", "d"), T),
    "e_down": (L + "block_sparse_moe.experts.{j}.w2.weight", ("d", "d_expert"), T),
}


class Mixtral(Llama):
    """mixtral: every layer's MLP a mixture of experts, top-k renormalised."""

    model_types: tuple[str, ...] = ("mixtral",)
    table = TABLE
    n_experts: int
    top_k: int
    d_expert: int
    renormalise: bool = True

    def configure(self, config: Config) -> None:
        """Llama's fields, and the experts: how many, how many a token takes, their width."""
        super().configure(config)
        self.read_experts(config)

    def read_experts(self, config: Config) -> None:
        """num_local_experts, num_experts_per_tok; each expert as wide as intermediate_size."""
        self.n_experts = config.integer("num_local_experts")
        self.top_k = config.integer("num_experts_per_tok", high=self.n_experts)
        self.d_expert = self.d_ff

    def sliding(self, config: Config) -> list[int | None]:
        """sliding_window in every layer, as Mistral."""
        return sliding_windows(config, self.n_layers, every_layer=True)

    def sparse(self, i: int) -> bool:
        """Whether layer i's MLP is a mixture of experts (in Mixtral, every layer's)."""
        return True

    def load_rest(self, i: int, dtype: type = np.float32, **names: object) -> MLPWeights:
        """Layer i's MLP: its router and experts, stacked (E, ...), or a dense MLP."""
        if not self.sparse(i):
            return super().load_rest(i, dtype)

        def stacked(key: str) -> np.ndarray:
            return np.stack([self.tensor(key, dtype, i, j=j) for j in range(self.n_experts)])

        shared, shared_gate = self.shared_expert(i, dtype)
        return Experts(stacked("e_up"), stacked("e_down"), stacked("e_gate"),
                       norm=self.norm_at("ln_mlp", dtype, i), router=self.tensor(
                           "router", dtype, i), top_k=self.top_k, renormalise=self.renormalise,
                       shared=shared, shared_gate=shared_gate)

    def shared_expert(self, i: int, dtype: type
                      ) -> tuple[MLPWeights | None, np.ndarray | None]:
        """Layer i's shared expert and its gate's weights, if the family has them (Qwen2-MoE)."""
        return None, None
