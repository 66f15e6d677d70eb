"""ELECTRA: BERT's post-norm encoder, with embeddings that may be narrower than the layers.

Word, segment and position embeddings are embedding_size wide (the discriminators of the
paper: as wide as hidden_size; the generators and some small models: narrower). They are
summed and LayerNorm-ed at that width and, when embedding_size != hidden_size, projected up
by `embeddings_project` (a Linear with a bias) before the first layer. The layers are bert.py's,
under the "electra." prefix of the task heads' checkpoints.

The masked-LM head (ElectraForMaskedLM, the generator's; attn predict): generator_predictions
.dense (hidden_size -> embedding_size), gelu, its LayerNorm (embedding_size,), then
generator_lm_head (weight tied to the word embeddings, (vocab, embedding_size), and a bias).
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import T, Table
from attncli.models.bert import TABLE as BERT
from attncli.models.bert import Bert, MaskedLMHead
from attncli.models.config import Config
from attncli.models.layers import gelu, linear

E = "d_embed"  # the embeddings' width
TABLE: Table = {**BERT,  # the embeddings at embedding_size, then widened by a Linear
                "wte": ("embeddings.word_embeddings.weight", ("vocab", E)),
                "wpe": ("embeddings.position_embeddings.weight", ("pos", E)),
                "wtt": ("embeddings.token_type_embeddings.weight", ("n_types", E)),
                "ln_emb": ("embeddings.LayerNorm.weight", (E,)),
                "ln_emb_b": ("embeddings.LayerNorm.bias", (E,)),
                "project": ("embeddings_project.weight", ("d", E), T),  # only when e != d
                "project_b": ("embeddings_project.bias", ("d",))}


class Electra(Bert):
    """electra (ElectraModel, and the discriminator/generator checkpoints around it)."""

    model_types = ("electra",)
    prefixes = ("", "electra.")
    table = TABLE
    mlm_heads = {"electra": MaskedLMHead("generator_predictions.dense",
                                         "generator_predictions.LayerNorm", gelu,
                                         "generator_lm_head.weight", ("generator_lm_head.bias",))}

    def configure(self, config: Config) -> None:
        """bert's dimensions and the embedding width."""
        super().configure(config)
        self.d_embed = config.integer("embedding_size", default=self.d_model)

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Word + segment + position embeddings at embedding_size, LayerNorm, then project."""
        h = super().embed(ids, dtype)  # (n, e)
        if self.d_embed == self.d_model:
            return h
        return linear(h, self.tensor("project", dtype), self.tensor("project_b", dtype))
