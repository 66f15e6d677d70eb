"""T5: an encoder-decoder whose only sense of word order is a bias on the scores.

The two stacks, and how a decoder block runs, are seq2seq.py's. Every block normalises its
input (an RMSNorm without mean or bias) before each part and adds the part's output to the
residual stream.

The scores are not divided by √d_k (the scale is 1), and self-attention adds a learned bias
that depends only on how far the key is from the query, in buckets: exact for small
distances, logarithmic up to relative_attention_max_distance. Block 0 of each stack holds the
table (buckets × heads); every block of that stack reuses it (umt5: every block has its own
table, and uses it). Cross-attention has no bias.

The tensors (T5Model / T5ForConditionalGeneration) are in TABLE; a block's parts are its
layer.0 (self-attention), in the decoder layer.1 (cross-attention), and its last layer (the
MLP: wi, or gated wi_0 and wi_1).

The LM head (predict, with a target): the decoder's final_layer_norm, then lm_head.weight, or
the shared embeddings when the checkpoint stores no separate head (tied). When the head is tied
the normed output is first scaled by d_model ** -0.5, as original t5 was trained (t5-v1_1,
mt5 and umt5 untie it and do not scale). As transformers 5 does, the scale follows
config.json's scale_decoder_outputs if it is there, else its tie_word_embeddings (t5 and
umt5: true when left out); mt5's head is never scaled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from attncli.attention import Variant, causal_mask
from attncli.models.base import T, Table
from attncli.models.blocks import LMHead, Norm
from attncli.models.config import MAX_LAYERS, Config, as_config
from attncli.models.layers import ACTIVATIONS, HeldNorm, held_rms_norm
from attncli.models.seq2seq import EncoderDecoder

B = "{stack}.block.{i}.layer.{part}."  # stack: encoder or decoder; part: its number in a block
TABLE: Table = {  # q: inner = num_heads · d_kv, which need not equal d_model
    **{f"w_{x}": (B + "{kind}." + x + ".weight", ("q", "d"), T) for x in "qkv"},
    "w_o": (B + "{kind}.o.weight", ("d", "q"), T),
    "ln_attn": (B + "layer_norm.weight", ("d",)),
    "bias": ("{stack}.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight",
             ("buckets", "n_heads")),  # block 0's serves every block (umt5: each its own)
    "w_gate": (B + "DenseReluDense.wi_0.weight", ("ff", "d"), T),  # gated MLPs
    "w_up": (B + "DenseReluDense.wi_1.weight", ("ff", "d"), T),  # gated; else wi
    "w_down": (B + "DenseReluDense.wo.weight", ("d", "ff"), T),
    "ln_mlp": (B + "layer_norm.weight", ("d",)),
    "encoder_norm": ("encoder.final_layer_norm.weight", ("d",)),
    "final_norm": ("decoder.final_layer_norm.weight", ("d",)),  # before the LM head
}
ENCODER = {"stack": "encoder", "part": 0, "kind": "SelfAttention"}
SELF = {"stack": "decoder", "part": 0, "kind": "SelfAttention"}  # a decoder block's parts
CROSS = {"stack": "decoder", "part": 1, "kind": "EncDecAttention"}


def t5_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """T5's LayerNorm: x / rms(x), no mean taken away and no bias; the mean square is taken in
    float32 whatever x is (as transformers does), the division in x's dtype."""
    variance = np.square(x.astype(np.float32)).mean(-1, keepdims=True)  # (n, 1)
    inverse = np.float32(1) / np.sqrt(variance + np.float32(eps))
    return w * (x * inverse.astype(x.dtype))


def relative_buckets(queries: int, keys: int, buckets: int, max_distance: int,
                     bidirectional: bool) -> np.ndarray:
    """(queries, keys) int bucket of each key's distance from its query (key − query).

    Bidirectional (the encoder): half the buckets for keys after the query, half for keys
    before. Otherwise (the decoder) only keys before count; later ones share bucket 0. Within
    a half, the first max_exact = half / 2 distances get a bucket each, and larger distances
    share logarithmically wider buckets up to max_distance; beyond it, the last bucket."""
    relative = np.arange(keys)[None, :] - np.arange(queries)[:, None]  # (queries, keys)
    out = np.zeros_like(relative)
    if bidirectional:
        buckets //= 2
        out += (relative > 0) * buckets
        distance = np.abs(relative)
    else:
        distance = -np.minimum(relative, 0)
    max_exact = buckets // 2
    with np.errstate(divide="ignore"):  # log(0) for the exact ones, never used
        far = np.log(distance.astype(np.float32) / np.float32(max_exact))
    far = far / np.float32(math.log(max_distance / max_exact)) * np.float32(buckets - max_exact)
    far = max_exact + np.where(distance < max_exact, 0, far).astype(np.int64)  # truncated
    far = np.minimum(far, buckets - 1)
    return out + np.where(distance < max_exact, distance, far)


def feed_forward_kind(config: Config | Mapping[str, Any], default: str
                      ) -> tuple[bool, Callable[[np.ndarray], np.ndarray]]:
    """Whether the MLP is gated, and its activation, as transformers' T5Config resolves them.

    feed_forward_proj is "ACT" or "gated-ACT" (default: the family's). The activation is
    dense_act_fn if config.json sets it, else ACT, except that "gated-gelu" means gelu_new (the
    tanh approximation), as t5-v1_1, T0 and mt5 were trained with; is_gated_act, if set,
    overrides the "gated-" prefix (transformers sets config.json's keys after parsing)."""
    config = as_config(config)
    names = sorted(ACTIVATIONS)
    proj = config.choice("feed_forward_proj", options=[*names, *(f"gated-{n}" for n in names)],
                         default=default)
    parts = proj.split("-")
    gated = config.boolean("is_gated_act", default=parts[0] == "gated")
    dense = config.optional_choice("dense_act_fn", options=names)
    if dense is not None:
        return gated, ACTIVATIONS[dense]
    return gated, ACTIVATIONS["gelu_new" if proj == "gated-gelu" else parts[-1]]


class T5(EncoderDecoder):
    """t5 (and flan-t5, t5-v1_1, T0 under model_type t5): the encoder by default; for_target()
    gives the decoder's self- or cross-attention over a target text."""

    model_types = ("t5",)
    table = TABLE  # each model adds its word embeddings' name (configure)
    order = "relative"
    parts: dict[str, dict[str, Any]] = {"encoder": ENCODER, "self": SELF, "cross": CROSS}
    feed_forward_proj = "relu"  # the MLP when config.json does not say (T5Config's default)

    def configure(self, config: Config) -> None:
        config.integer("d_kv")  # required: a head's width need not be d_model / num_heads
        self.read_sizes(config, layers=("num_layers",), heads=("num_heads",), width=("d_model",),
                        ff=("d_ff",), head_dim="d_kv")
        self.n_encoder_layers = self.n_layers
        self.n_decoder_layers = config.integer("num_decoder_layers", high=MAX_LAYERS,
                                               default=self.n_layers)
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-6)
        # the encoder splits the buckets in two halves, each with half of its buckets exact:
        # at least 4, so that each half has one exact bucket
        self.buckets = config.integer("relative_attention_num_buckets", low=4, default=32)
        # older config.json files (t5-small's, t5-v1_1's, mt5's) leave out the distance; it
        # must lie beyond the decoder's exact buckets (half of them), where the log ones start
        self.max_distance = config.integer("relative_attention_max_distance",
                                           low=self.buckets // 2 + 1, default=128)
        self.gated, self.act = feed_forward_kind(config, self.feed_forward_proj)
        self.start = config.integer("decoder_start_token_id", low=0, high=self.vocab_size - 1,
                                    default=0)
        self.eos = config.optional_integer("eos_token_id", low=0)
        wte = "shared.weight" if "shared.weight" in self.checkpoint else \
            "encoder.embed_tokens.weight"
        self.table = {**TABLE, "wte": (wte, ("vocab", "d"))}
        if not self.gated:
            del self.table["w_gate"]
            self.table["w_up"] = (B + "DenseReluDense.wi.weight", ("ff", "d"), T)
        # (stack, n, dtype, table's block) -> that stack's position bias
        self.biases: dict[tuple[str, int, type, int], np.ndarray] = {}
        self.head_scaled = self.read_head_scale(config)

    def read_head_scale(self, config: Config) -> bool:
        """Whether the LM head's input is scaled by d_model ** -0.5 (the module's docstring)."""
        return config.boolean("scale_decoder_outputs", default=config.boolean(
            "tie_word_embeddings", default=self.tied_by_default))

    def lm_head(self) -> LMHead:
        """The decoder's final norm and the LM head: lm_head.weight, else the shared
        embeddings (tied); refused for a checkpoint saved without its head (T5Model)."""
        if not any(a.endswith("ForConditionalGeneration") for a in self.architectures) \
                and "lm_head.weight" not in self.checkpoint:
            raise self.no_lm_head("lm_head.weight, or shared.weight tied in a "
                                  "…ForConditionalGeneration")
        norm = self.norm_at("final_norm", np.float32)
        assert norm is not None
        return LMHead(norm, self.head_weight(self.d_model))

    def head_weight(self, width: int) -> np.ndarray:
        """lm_head.weight (vocab, width), or the shared embeddings when there is none."""
        if "lm_head.weight" in self.checkpoint:
            return self.checkpoint.read("lm_head.weight", (self.vocab_size, width))
        return self.tensor("wte", np.float32)  # (vocab, width)

    def uncapped_logits(self, h: np.ndarray, head: LMHead | None = None) -> np.ndarray:
        """The decoder's output (n, d_model) through its final norm, the scale if the head
        has one, and the LM head: (n, vocab)."""
        head = self.lm_head() if head is None else head
        x = self.normalise(h, head.norm)  # (n, d)
        if self.head_scaled:
            x = x * x.dtype.type(self.d_model ** -0.5)
        return x @ head.w.T  # (n, vocab)

    # ---- what differs from the lesson ----

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        return t5_norm(x, norm.w, self.eps)

    def held_norm(self, x: np.ndarray, norm: Norm) -> HeldNorm:
        """T5's RMS LayerNorm at x, its 1 / RMS held."""
        return held_rms_norm(x, norm.w, self.eps)

    def table_block(self, i: int) -> int:
        """The block whose bias table block i uses: block 0 (umt5: its own)."""
        return 0

    def position_bias(self, stack: str, queries: int, keys: int, i: int, dtype: type
                      ) -> np.ndarray:
        """(heads, queries, keys) the learned bias of each distance in block i."""
        table = self.tensor("bias", dtype, self.table_block(i), stack=stack)  # (buckets, H)
        which = relative_buckets(queries, keys, self.buckets, self.max_distance,
                                 bidirectional=stack == "encoder")  # (queries, keys)
        return np.ascontiguousarray(table[which].transpose(2, 0, 1))

    def cross_variant(self) -> Variant:
        """Cross-attention's departure from the lesson: scale 1, and no bias or mask."""
        return Variant(scale=1.0)

    def own_variant(self, n: int, i: int, dtype: type) -> Variant:
        """Block i's self-attention, over n tokens in dtype."""
        key = (self.stack, n, dtype, self.table_block(i))
        if key not in self.biases:  # a cache of what the checkpoint holds, shared by views
            self.biases[key] = self.position_bias(self.stack, n, n, i, dtype)
        return Variant(scale=1.0, score_bias=self.biases[key],
                       mask=causal_mask(n) if self.stack == "decoder" else None)

    # ---- what a run holds ----

    def matrices(self) -> tuple[int, int]:
        return 4, 3  # a head shown keeps its score bias, in float64, beside its matrices

    def tables(self, layers: int) -> int:
        """How many bias tables the first layers of a stack use (umt5: one each)."""
        return len({self.table_block(i) for i in range(layers)})

    def score_bias_bytes(self, last: int, item: int) -> tuple[int, int]:
        """Each table's (heads, n, m) bias, kept for the run in the run's dtype; making one
        holds relative_buckets' int64 and float32 arrays and the bias gathered before its
        copy."""
        return self.tables(last + 1) * self.n_heads * item, 5 * 8 + self.n_heads * item

    def encode(self, ids: np.ndarray, dtype: type) -> np.ndarray:
        """The encoder's output for ids, after its final norm: (n_source, d)."""
        h = self.encoder().layers(ids, dtype, self.n_encoder_layers - 1)
        return t5_norm(h, self.tensor("encoder_norm", dtype), self.eps)


class MT5(T5):
    """mt5: T5's computation under its own model_type (MT5Config), whose MLP is gated-gelu
    unless config.json says otherwise."""

    model_types = ("mt5",)
    feed_forward_proj = "gated-gelu"

    def read_head_scale(self, config: Config) -> bool:
        return False  # MT5ForConditionalGeneration never scales its head's input


class UMT5(T5):
    """umt5: mt5 with a relative-position bias table in every self-attention block, each block
    using its own; its head is scaled as t5's (scale_decoder_outputs, else tied)."""

    model_types = ("umt5",)
    feed_forward_proj = "gated-gelu"

    def table_block(self, i: int) -> int:
        return i

