"""ELECTRA: BERT's post-norm encoder, with embeddings that may be narrower than the layers.

Word, segment and position embeddings are embedding_size wide (the discriminators of the
paper: as wide as hidden_size; the generators and some small models: narrower). They are
summed and LayerNorm-ed at that width and, when embedding_size != hidden_size, projected up
by `embeddings_project` (a Linear with a bias) before the first layer. The layers are bert.py's,
under the "electra." prefix of the task heads' checkpoints.

    embeddings.word_embeddings.weight         (vocab, e)    wte, only the rows the text uses
    embeddings.position_embeddings.weight     (n_pos, e)    wpe, positions 0..n-1
    embeddings.token_type_embeddings.weight   (types, e)    row 0: one segment
    embeddings.LayerNorm.{weight,bias}        (e,)          ln_emb
    embeddings_project.{weight,bias}          (d, e) T, (d,)  only when e != d
    encoder.layer.{i}....                     as bert.py
"""

from __future__ import annotations

from functools import partial

import numpy as np

from attncli.models.bert import Bert
from attncli.models.config import Config
from attncli.models.layers import layer_norm, linear


class Electra(Bert):
    """electra (ElectraModel, and the discriminator/generator checkpoints around it)."""

    model_types = ("electra",)
    prefixes = ("", "electra.")

    def configure(self, config: Config) -> None:
        """bert's dimensions and the embedding width."""
        super().configure(config)
        self.d_embed = config.integer("embedding_size", default=self.d_model)

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Word + segment + position embeddings at embedding_size, LayerNorm, then project."""
        p, e, d = self.prefix + "embeddings.", self.d_embed, self.d_model
        read = partial(self.checkpoint.read, dtype=dtype)
        wte = read(p + "word_embeddings.weight", (self.vocab_size, e), rows=ids)  # (n, e)
        wpe = read(p + "position_embeddings.weight", (self.n_positions, e),
                   rows=self.positions(ids))  # (n, e)
        wtt = read(p + "token_type_embeddings.weight", (self.n_types, e), rows=np.zeros(1, int))
        h = layer_norm(wte + wtt + wpe, read(p + "LayerNorm.weight", (e,)),
                       read(p + "LayerNorm.bias", (e,)), self.eps)  # (n, e)
        if e == d:
            return h
        q = self.prefix + "embeddings_project."
        return linear(h, read(q + "weight", (d, e)).T, read(q + "bias", (d,)))  # (n, d)
