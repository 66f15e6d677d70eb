"""DistilBERT: BERT's post-norm layer under other tensor names, no segments, eps 1e-12.

The masked-LM head (DistilBertForMaskedLM, attn predict): vocab_transform (d, d), the
config's activation, vocab_layer_norm (d,), then vocab_projector (weight tied to the word
embeddings, and its bias (vocab,)).
"""

from __future__ import annotations

from attncli.models.base import T, Table
from attncli.models.bert import Bert, MaskedLMHead
from attncli.models.config import Config
from attncli.models.layers import activation

# our name -> checkpoint name after an optional "distilbert." prefix
L = "transformer.layer.{i}."
TABLE: Table = {
    "wte": ("embeddings.word_embeddings.weight", ("vocab", "d")),
    "wpe": ("embeddings.position_embeddings.weight", ("pos", "d")),  # sinusoidal ones too
    "ln_emb": ("embeddings.LayerNorm.weight", ("d",)),
    "ln_emb_b": ("embeddings.LayerNorm.bias", ("d",)),
    **{f"w_{x}": (f"{L}attention.{x}_lin.weight", ("d", "d"), T) for x in "qkv"},
    **{f"b_{x}": (f"{L}attention.{x}_lin.bias", ("d",)) for x in "qkv"},
    "w_o": (L + "attention.out_lin.weight", ("d", "d"), T),
    "b_o": (L + "attention.out_lin.bias", ("d",)),
    "ln_attn": (L + "sa_layer_norm.weight", ("d",)),
    "ln_attn_b": (L + "sa_layer_norm.bias", ("d",)),
    "w_up": (L + "ffn.lin1.weight", ("ff", "d"), T),
    "b_up": (L + "ffn.lin1.bias", ("ff",)),
    "w_down": (L + "ffn.lin2.weight", ("d", "ff"), T),
    "b_down": (L + "ffn.lin2.bias", ("d",)),
    "ln_mlp": (L + "output_layer_norm.weight", ("d",)),
    "ln_mlp_b": (L + "output_layer_norm.bias", ("d",)),
}


class DistilBert(Bert):
    """distilbert: BERT's embeddings (no segments) and layer, under its own names."""

    model_types = ("distilbert",)
    table = TABLE
    mlm_heads = {"distilbert": MaskedLMHead("vocab_transform", "vocab_layer_norm", None,
                                            "vocab_projector.weight",
                                            ("vocab_projector.bias",))}

    def configure(self, config: Config) -> None:
        """Dimensions from a DistilBertConfig (dim, n_heads, hidden_dim, ...)."""
        self.read_sizes(config, layers=("n_layers",), heads=("n_heads",), width=("dim",),
                        ff=("hidden_dim",))
        self.n_positions = self.max_positions = config.integer("max_position_embeddings")
        self.eps = 1e-12  # fixed in DistilBERT's code, not in its config
        self.act = activation(config, "activation", default="gelu")
        self.pad = None
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "distilbert."))
