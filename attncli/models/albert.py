"""ALBERT: ELECTRA's narrow embeddings, always projected up, and layers that share weights.

The embeddings (word, segment, position) are embedding_size wide and LayerNorm-ed there, then
encoder.embedding_hidden_mapping_in maps them to hidden_size, even when the two are equal.
The num_hidden_layers layers are BERT's post-norm layer, but their weights come from
num_hidden_groups groups: layer i runs group int(i / (num_hidden_layers / num_hidden_groups)),
so albert-base-v2 (one group) runs the same weights 12 times. A group with more than one inner
layer (inner_group_num > 1) is refused: its layers would have no number of their own.

The masked-LM head (AlbertForMaskedLM, attn predict): predictions.dense (hidden_size ->
embedding_size), the config's activation, predictions.LayerNorm, then predictions.decoder
(tied to the word embeddings) and predictions.bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attncli.models.base import T, Table
from attncli.models.bert import Bert, MaskedLMHead
from attncli.models.blocks import AttentionWeights, MLPWeights
from attncli.models.config import Config
from attncli.models.electra import TABLE as ELECTRA
from attncli.models.electra import E, Electra
from attncli.models.layers import activation, linear

L = "encoder.albert_layer_groups.{i}.albert_layers.0."  # {i}: the group, not the layer
TABLE: Table = {
    **{k: ELECTRA[k] for k in ("wte", "wpe", "wtt", "ln_emb", "ln_emb_b")},
    "project": ("encoder.embedding_hidden_mapping_in.weight", ("d", E), T),
    "project_b": ("encoder.embedding_hidden_mapping_in.bias", ("d",)),
    **{f"w_{x}": (f"{L}attention.{name}.weight", ("d", "d"), T)
       for x, name in (("q", "query"), ("k", "key"), ("v", "value"))},
    **{f"b_{x}": (f"{L}attention.{name}.bias", ("d",))
       for x, name in (("q", "query"), ("k", "key"), ("v", "value"))},
    "w_o": (L + "attention.dense.weight", ("d", "d"), T),
    "b_o": (L + "attention.dense.bias", ("d",)),
    "ln_attn": (L + "attention.LayerNorm.weight", ("d",)),  # after the residual add
    "ln_attn_b": (L + "attention.LayerNorm.bias", ("d",)),
    "w_up": (L + "ffn.weight", ("ff", "d"), T),
    "b_up": (L + "ffn.bias", ("ff",)),
    "w_down": (L + "ffn_output.weight", ("d", "ff"), T),
    "b_down": (L + "ffn_output.bias", ("d",)),
    "ln_mlp": (L + "full_layer_layer_norm.weight", ("d",)),
    "ln_mlp_b": (L + "full_layer_layer_norm.bias", ("d",)),
}


class Albert(Electra):
    """albert (AlbertModel, AlbertForMaskedLM)."""

    model_types = ("albert",)
    prefixes = ("", "albert.")
    table = TABLE
    mlm_heads = {"albert": MaskedLMHead("predictions.dense", "predictions.LayerNorm", None,
                                        "predictions.decoder.weight",
                                        ("predictions.bias", "predictions.decoder.bias"))}

    def configure(self, config: Config) -> None:
        """ELECTRA's sizes, ALBERT's activation and its groups of shared layers."""
        super().configure(config)
        self.act = activation(config, "hidden_act", default="gelu_new")
        self.groups = config.integer("num_hidden_groups", high=self.n_layers, default=1)
        inner = config.integer("inner_group_num", default=1)
        config.check(inner == 1, f"'inner_group_num' {inner}: each of ALBERT's layers would "
                     "run several shared layers in a row, which attncli does not number apart")

    def group(self, i: int) -> int:
        """The group whose weights layer i runs, as transformers picks it."""
        return int(i / (self.n_layers / self.groups))

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """ELECTRA's embeddings at embedding_size, always mapped up to hidden_size."""
        h = Bert.embed(self, ids, dtype)  # (n, e)
        return linear(h, self.tensor("project", dtype), self.tensor("project_b", dtype))

    def load_attention(self, i: int, dtype: type = np.float32, **names: Any
                       ) -> AttentionWeights:
        return super().load_attention(self.group(i), dtype, **names)

    def load_rest(self, i: int, dtype: type = np.float32, **names: Any) -> MLPWeights:
        return super().load_rest(self.group(i), dtype, **names)
