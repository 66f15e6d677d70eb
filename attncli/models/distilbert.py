"""DistilBERT: BERT's post-norm layer with other tensor names, no segments, eps 1e-12.

Weight map, checkpoint name (after an optional "distilbert." prefix) -> ours.
nn.Linear stores (out, in); T marks the transposition to (in, out).

    embeddings.word_embeddings.weight          (vocab, d)    wte, only the rows the text uses
    embeddings.position_embeddings.weight      (n_pos, d)    wpe (sinusoidal ones are stored too)
    embeddings.LayerNorm.{weight,bias}         (d,)          ln_emb
    transformer.layer.{i}.attention.q_lin      (d, d) T, (d,)    w_q, b_q
    transformer.layer.{i}.attention.k_lin      (d, d) T, (d,)    w_k, b_k
    transformer.layer.{i}.attention.v_lin      (d, d) T, (d,)    w_v, b_v
    transformer.layer.{i}.attention.out_lin    (d, d) T, (d,)    w_o, b_o
    transformer.layer.{i}.sa_layer_norm                  (d,)    ln_1
    transformer.layer.{i}.ffn.lin1             (ff, d) T, (ff,)  w_fc, b_fc
    transformer.layer.{i}.ffn.lin2             (d, ff) T, (d,)   w_proj, b_proj
    transformer.layer.{i}.output_layer_norm              (d,)    ln_2
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import Layer, split_heads
from attncli.models.bert import Bert
from attncli.models.config import MAX_LAYERS, Config
from attncli.models.layers import activation, layer_norm


class DistilBert(Bert):
    """distilbert: the layer runs exactly as BERT's (finish_layer is inherited)."""

    model_types = ("distilbert",)

    def configure(self, config: Config) -> None:
        """Dimensions from a DistilBertConfig (dim, n_heads, hidden_dim, ...)."""
        self.n_layers = config.integer("n_layers", high=MAX_LAYERS)
        self.n_heads = self.n_kv_heads = config.integer("n_heads")
        self.d_model = config.integer("dim")
        self.head_dim = split_heads(config, "dim", self.d_model, "n_heads", self.n_heads)
        self.d_ff = config.integer("hidden_dim")
        self.vocab_size = config.integer("vocab_size")
        self.n_positions = self.max_positions = config.integer("max_position_embeddings")
        self.eps = 1e-12  # fixed in DistilBERT's code, not in its config
        self.act = activation(config, "activation", default="gelu")
        self.pad = None
        self.prefix = self.checkpoint.prefix("embeddings.word_embeddings.weight",
                                             ("", "distilbert."))

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Word + position embeddings, then LayerNorm."""
        p, d, read = self.prefix + "embeddings.", self.d_model, self.checkpoint.read
        wte = read(p + "word_embeddings.weight", (self.vocab_size, d), rows=ids)  # (n, d)
        wpe = read(p + "position_embeddings.weight", (self.n_positions, d),
                   rows=np.arange(len(ids)))  # (n, d)
        return layer_norm(wte + wpe, *self.norm(p + "LayerNorm"), self.eps)  # (n, d)

    def load_attention(self, i: int) -> Layer:
        """Layer i's q, k, v projections under BERT's names, transposed to (in, out)."""
        p, d, read = f"{self.prefix}transformer.layer.{i}.attention.", self.d_model, \
            self.checkpoint.read
        return {
            "w_q": read(p + "q_lin.weight", (d, d)).T,  # (d, d)
            "b_q": read(p + "q_lin.bias", (d,)),
            "w_k": read(p + "k_lin.weight", (d, d)).T,  # (d, d)
            "b_k": read(p + "k_lin.bias", (d,)),
            "w_v": read(p + "v_lin.weight", (d, d)).T,  # (d, d)
            "b_v": read(p + "v_lin.bias", (d,)),
        }

    def load_rest(self, i: int) -> Layer:
        """Layer i's output projection, norms and MLP under BERT's names, (in, out)."""
        p, d, ff = f"{self.prefix}transformer.layer.{i}.", self.d_model, self.d_ff
        read = self.checkpoint.read
        return {
            "w_o": read(p + "attention.out_lin.weight", (d, d)).T,  # (d, d)
            "b_o": read(p + "attention.out_lin.bias", (d,)),
            "ln_1": self.norm(p + "sa_layer_norm"),  # (d,), (d,)
            "w_fc": read(p + "ffn.lin1.weight", (ff, d)).T,  # (d, ff)
            "b_fc": read(p + "ffn.lin1.bias", (ff,)),
            "w_proj": read(p + "ffn.lin2.weight", (d, ff)).T,  # (ff, d)
            "b_proj": read(p + "ffn.lin2.bias", (d,)),
            "ln_2": self.norm(p + "output_layer_norm"),  # (d,), (d,)
        }
