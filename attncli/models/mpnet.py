"""MPNet (all-mpnet-base-v2): BERT's post-norm layer plus a learned relative-position bias.

The embeddings are RoBERTa's without segments (word + position, positions counted from
padding_idx + 1, with padding_idx fixed at 1 in MPNet's code), then a LayerNorm. Every layer
divides q·k by √d_k as BERT does and then adds a bias that depends only on how far the key
stands from the query: the encoder's one table, relative_attention_bias (buckets × heads),
looked up through T5's bidirectional buckets, which MPNet computes with 32 buckets and a
maximum distance of 128 whatever config.json says. All layers share that one table.

The masked-LM head (MPNetForMaskedLM, attn predict): lm_head.dense, gelu,
lm_head.layer_norm, then lm_head.decoder (tied to the word embeddings) and lm_head.bias.
"""

from __future__ import annotations

import numpy as np

from attncli.attention import Variant
from attncli.models.base import T, Table
from attncli.models.bert import ROBERTA_HEAD, Bert
from attncli.models.blocks import AttentionWeights
from attncli.models.config import Config
from attncli.models.layers import activation
from attncli.models.t5 import relative_buckets

BUCKETS, MAX_DISTANCE = 32, 128  # fixed in MPNetEncoder.compute_position_bias
PAD = 1  # MPNetEmbeddings.padding_idx, fixed in its code
L = "encoder.layer.{i}."
TABLE: Table = {
    "wte": ("embeddings.word_embeddings.weight", ("vocab", "d")),
    "wpe": ("embeddings.position_embeddings.weight", ("pos", "d")),
    "ln_emb": ("embeddings.LayerNorm.weight", ("d",)),
    "ln_emb_b": ("embeddings.LayerNorm.bias", ("d",)),
    **{f"w_{x}": (f"{L}attention.attn.{x}.weight", ("d", "d"), T) for x in "qkv"},
    **{f"b_{x}": (f"{L}attention.attn.{x}.bias", ("d",)) for x in "qkv"},
    "w_o": (L + "attention.attn.o.weight", ("d", "d"), T),
    "b_o": (L + "attention.attn.o.bias", ("d",)),
    "ln_attn": (L + "attention.LayerNorm.weight", ("d",)),  # after the residual add
    "ln_attn_b": (L + "attention.LayerNorm.bias", ("d",)),
    "w_up": (L + "intermediate.dense.weight", ("ff", "d"), T),
    "b_up": (L + "intermediate.dense.bias", ("ff",)),
    "w_down": (L + "output.dense.weight", ("d", "ff"), T),
    "b_down": (L + "output.dense.bias", ("d",)),
    "ln_mlp": (L + "output.LayerNorm.weight", ("d",)),
    "ln_mlp_b": (L + "output.LayerNorm.bias", ("d",)),
    "bias": ("encoder.relative_attention_bias.weight", ("buckets", "n_heads")),
}


class MPNet(Bert):
    """mpnet (MPNetModel, MPNetForMaskedLM)."""

    model_types = ("mpnet",)
    table = TABLE
    prefixes = ("", "mpnet.")
    mlm_heads = {"mpnet": ROBERTA_HEAD}
    order = "learned+relative"  # position vectors, and the bias on the scores

    def configure(self, config: Config) -> None:
        """Dimensions from an MPNetConfig, and its bias table's size."""
        self.read_sizes(config)
        self.n_positions = config.integer("max_position_embeddings", low=PAD + 2)
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-12)
        self.act = activation(config, "hidden_act", default="gelu")
        # MPNet looks buckets 0..31 up whatever the table's size: a smaller table cannot run
        self.buckets = config.integer("relative_attention_num_buckets", low=BUCKETS,
                                      default=BUCKETS)
        self.pad = PAD
        self.max_positions = self.n_positions - (PAD + 1)
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], self.prefixes)
        self.biases: dict[tuple[int, type], np.ndarray] = {}  # (n, dtype) -> (heads, n, n)

    def position_bias(self, n: int, dtype: type) -> np.ndarray:
        """(heads, n, n) the learned bias of each key's distance from its query."""
        if (n, dtype) not in self.biases:  # one table for every layer: made once per run
            table = self.tensor("bias", dtype)  # (buckets, heads)
            which = relative_buckets(n, n, BUCKETS, MAX_DISTANCE, bidirectional=True)
            self.biases[n, dtype] = np.ascontiguousarray(table[which].transpose(2, 0, 1))
        return self.biases[n, dtype]

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """BERT's steps, with the shared position bias added to the scaled scores."""
        return Variant(score_bias=self.position_bias(n, x.dtype.type))

    def matrices(self) -> tuple[int, int]:
        return 4, 3  # a head shown keeps its score bias, in float64, beside its matrices

    def score_bias_bytes(self, last: int, item: int) -> tuple[int, int]:
        """The one (heads, n, n) bias, kept for the run; making it holds the bucket arrays."""
        return self.n_heads * item, 5 * 8 + self.n_heads * item
