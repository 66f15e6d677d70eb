"""BART and its kin (bart, mbart, marian, pegasus): one encoder-decoder, four sets of options.

The two stacks and how a decoder block runs (its self-attention over the target, causal, then
its cross-attention over the encoder's output, then the MLP) are seq2seq.py's; what each
family adds is the arithmetic around them:

- the scores are divided by √d_k, as the lesson does, and there is no position bias: word
  order comes from position vectors added to the embeddings, each stack numbering its tokens
  from 0. bart and mbart learn them, and read row position + 2 of {stack}.embed_positions
  (BART's tables keep two rows in front, a fairseq habit); marian and pegasus add fixed
  sinusoids, sines in the first half of the width and cosines in the second, worked out in
  float64 and rounded to float32 as transformers makes them (never read from the checkpoint);
- each token's embedding is multiplied by √d_model first when scale_embedding is set;
- bart and mbart normalise the sum (layernorm_embedding);
- bart and marian are post-norm (each part's output is added to the stream and the sum goes
  through a LayerNorm); mbart and pegasus are pre-norm (each part reads a LayerNorm of the
  stream) and end each stack with a LayerNorm of their own ({stack}.layer_norm);
- every projection and LayerNorm has a bias; the LayerNorms' eps is torch's 1e-5; the MLP is
  fc1, activation_function, fc2.

The LM head (predict, with a target): the decoder's output (after its final LayerNorm, in the
pre-norm families) times the word embeddings (tied, the default) or lm_head.weight (with
tie_word_embeddings false), plus final_logits_bias when the checkpoint stores it (a base
model such as BartModel stores none, and transformers then adds zeros).

The decoder reads decoder_start_token_id, then the target's tokens without the closing one
(seq2seq.py's target_tokens). mbart's config.json may leave the start token out: it is then the
closing token (eos_token_id), which is what mBART's own shift of the labels puts first.

Refused: stacks of different heads or MLP widths (decoder_attention_heads,
decoder_ffn_dim), and a marian whose decoder has its own vocabulary
(share_encoder_decoder_embeddings false, or another decoder_vocab_size).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from attncli.models.base import T, Table
from attncli.models.blocks import Block, LMHead, Norm, PostNorm, PreNorm
from attncli.models.config import MAX_LAYERS, Config
from attncli.models.layers import activation
from attncli.models.seq2seq import EncoderDecoder

L = "{stack}.layers.{i}."  # stack: encoder or decoder; kind: self_attn or encoder_attn
TABLE: Table = {  # names after the "model." prefix, if any
    **{f"w_{x}": (L + "{kind}." + x + "_proj.weight", ("q", "d"), T) for x in "qkv"},
    **{f"b_{x}": (L + "{kind}." + x + "_proj.bias", ("q",)) for x in "qkv"},
    "w_o": (L + "{kind}.out_proj.weight", ("d", "q"), T),
    "b_o": (L + "{kind}.out_proj.bias", ("d",)),
    "ln_attn": (L + "{kind}_layer_norm.weight", ("d",)),
    "ln_attn_b": (L + "{kind}_layer_norm.bias", ("d",)),
    "w_up": (L + "fc1.weight", ("ff", "d"), T),
    "b_up": (L + "fc1.bias", ("ff",)),
    "w_down": (L + "fc2.weight", ("d", "ff"), T),
    "b_down": (L + "fc2.bias", ("d",)),
    "ln_mlp": (L + "final_layer_norm.weight", ("d",)),
    "ln_mlp_b": (L + "final_layer_norm.bias", ("d",)),
    "wte": ("shared.weight", ("vocab", "d")),  # else each stack's embed_tokens (configure)
    "wpe": ("{stack}.embed_positions.weight", ("pos", "d")),  # learned: 2 + max positions
    "ln_embed": ("{stack}.layernorm_embedding.weight", ("d",)),  # bart, mbart
    "ln_embed_b": ("{stack}.layernorm_embedding.bias", ("d",)),
    "stack_norm": ("{stack}.layer_norm.weight", ("d",)),  # each stack's last (pre-norm)
    "stack_norm_b": ("{stack}.layer_norm.bias", ("d",)),
}
ENCODER = {"stack": "encoder", "kind": "self_attn"}
SELF = {"stack": "decoder", "kind": "self_attn"}  # a decoder block's parts
CROSS = {"stack": "decoder", "kind": "encoder_attn"}
OFFSET = 2  # learned positions: position p is row p + 2
EPS = 1e-5  # nn.LayerNorm's, which these families never change
NO_NORM = Norm(np.ones(0, dtype=np.float32))  # an LM head with no final norm (post-norm)


def sinusoids(n: int, d: int) -> np.ndarray:
    """(n, d) float32 position vectors for positions 0..n-1: angle p / 10000^(2⌊j/2⌋ / d) for
    column j, the sines of the even columns' angles first, then the cosines of the odd ones'
    (worked out in float64, rounded to float32)."""
    j = np.arange(d)
    angles = np.arange(n)[:, None] / np.power(10000, 2 * (j // 2) / d)  # (n, d) float64
    half = (d + 1) // 2
    out = np.empty((n, d), dtype=np.float32)
    out[:, :half] = np.sin(angles[:, 0::2])
    out[:, half:] = np.cos(angles[:, 1::2])
    return out


class Bart(EncoderDecoder):
    """bart (facebook/bart-*): post-norm, learned positions 2 rows on, layernorm_embedding;
    the encoder by default, for_target() gives the decoder's self- or cross-attention."""

    model_types = ("bart",)
    table = TABLE
    order = "learned"
    block: Block = PostNorm
    parts: dict[str, dict[str, Any]] = {"encoder": ENCODER, "self": SELF, "cross": CROSS}
    learned_positions = True  # else sinusoids
    embedding_norm = True  # layernorm_embedding after the positions are added
    start_default: int | None = 2  # decoder_start_token_id when config.json leaves it out

    @classmethod
    def predicts(cls) -> tuple[str, ...]:
        return cls.model_types  # a post-norm one's head has no final norm to name

    def configure(self, config: Config) -> None:
        self.read_sizes(config, layers=("encoder_layers",), heads=("encoder_attention_heads",),
                        width=("d_model",), ff=("encoder_ffn_dim",))
        self.n_encoder_layers = self.n_layers
        self.n_decoder_layers = config.integer("decoder_layers", high=MAX_LAYERS)
        heads, ff = config.integer("decoder_attention_heads"), config.integer("decoder_ffn_dim")
        config.check(heads == self.n_heads, f"'decoder_attention_heads' {heads} differs from "
                     f"'encoder_attention_heads' {self.n_heads}: attncli runs two stacks "
                     "with the same heads only")
        config.check(ff == self.d_ff, f"'decoder_ffn_dim' {ff} differs from 'encoder_ffn_dim' "
                     f"{self.d_ff}: attncli runs two stacks with the same MLP width only")
        self.eps = EPS
        self.act = activation(config, "activation_function", default="gelu")
        scaled = config.boolean("scale_embedding", default=False)
        self.embed_scale = math.sqrt(self.d_model) if scaled else 1.0
        self.max_positions = config.integer("max_position_embeddings", default=1024)
        self.n_positions = self.max_positions + OFFSET  # the learned table's rows
        self.eos = config.optional_integer("eos_token_id", low=0)
        default = self.eos if self.start_default is None else self.start_default
        self.start = config.integer("decoder_start_token_id", low=0, high=self.vocab_size - 1,
                                    default=default)
        self.prefix = self.checkpoint.prefix("encoder.layers.0.self_attn.q_proj.weight",
                                             ("", "model."))
        table = dict(TABLE)
        if self.prefix + "shared.weight" not in self.checkpoint:
            table["wte"] = ("{stack}.embed_tokens.weight", ("vocab", "d"))
        drop = ([] if self.learned_positions else ["wpe"]) + \
            ([] if self.embedding_norm else ["ln_embed", "ln_embed_b"]) + \
            ([] if self.block is PreNorm else ["stack_norm", "stack_norm_b"])
        self.table = {k: v for k, v in table.items() if k not in drop}

    # ---- the embeddings of a stack ----

    def positions(self, n: int, dtype: type) -> np.ndarray:
        """(n, d_model) the position vectors of this stack's tokens 0..n-1."""
        if self.learned_positions:
            return self.tensor("wpe", dtype, rows=np.arange(n) + OFFSET, stack=self.stack)
        return sinusoids(n, self.d_model).astype(dtype)

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """The stack's input: each token's embedding × the scale (√d_model, or 1), plus its
        position vector, then layernorm_embedding where the family has it."""
        x = self.tensor("wte", dtype, rows=ids, stack=self.stack)  # (n, d)
        x = x * dtype(self.embed_scale) + self.positions(len(ids), dtype)  # (n, d)
        if self.embedding_norm:
            norm = self.norm_at("ln_embed", dtype, stack=self.stack)
            assert norm is not None
            x = self.normalise(x, norm)
        return x

    # ---- the encoder's output ----

    def encode(self, ids: np.ndarray, dtype: type) -> np.ndarray:
        """The encoder's output for ids, after its final LayerNorm if it has one."""
        h = self.encoder().layers(ids, dtype, self.n_encoder_layers - 1)
        norm = self.norm_at("stack_norm", dtype, stack="encoder")
        return h if norm is None else self.normalise(h, norm)

    # ---- the LM head ----

    def lm_head(self) -> LMHead:
        """The decoder's final LayerNorm (pre-norm families; else none), the word embeddings
        (tied) or lm_head.weight, and final_logits_bias if stored."""
        if self.tied:
            w = self.tensor("wte", np.float32, stack="decoder")  # (vocab, d)
        elif "lm_head.weight" in self.checkpoint:
            w = self.checkpoint.read("lm_head.weight", (self.vocab_size, self.d_model))
        else:
            raise self.no_lm_head("lm_head.weight, with tie_word_embeddings false")
        norm = self.norm_at("stack_norm", np.float32, stack="decoder")
        bias = None
        if "final_logits_bias" in self.checkpoint:
            bias = self.checkpoint.read("final_logits_bias", (1, self.vocab_size))[0]  # (vocab,)
        return LMHead(NO_NORM if norm is None else norm, w, bias)

    def uncapped_logits(self, h: np.ndarray, head: LMHead | None = None) -> np.ndarray:
        """The decoder's output (n, d_model), normalised if the family ends with a norm, times
        the head, plus final_logits_bias: (n, vocab)."""
        head = self.lm_head() if head is None else head
        x = h if head.norm is NO_NORM else self.normalise(h, head.norm)  # (n, d)
        out = x @ head.w.T  # (n, vocab)
        return out if head.b is None else out + head.b


class MBart(Bart):
    """mbart (facebook/mbart-large-50, -cc25): pre-norm, with a final LayerNorm on each stack."""

    model_types = ("mbart",)
    block = PreNorm
    start_default = None  # the closing token (see the module's docstring)


class Marian(Bart):
    """marian (Helsinki-NLP/opus-mt-*): post-norm, sinusoidal positions, no
    layernorm_embedding."""

    model_types = ("marian",)
    order = "sinusoidal"
    learned_positions = False
    embedding_norm = False
    start_default = 58100  # MarianConfig's (its pad token)

    def configure(self, config: Config) -> None:
        """Bart's, and a decoder vocabulary of its own refused."""
        super().configure(config)
        shared = config.boolean("share_encoder_decoder_embeddings", default=True)
        config.check(shared, "'share_encoder_decoder_embeddings' false: a decoder with its own "
                     "vocabulary is not supported")
        size = config.optional_integer("decoder_vocab_size")
        config.check(size in (None, self.vocab_size), f"'decoder_vocab_size' {size} differs "
                     f"from 'vocab_size' {self.vocab_size}: a decoder with its own vocabulary "
                     "is not supported")


class Pegasus(Bart):
    """pegasus (google/pegasus-*): pre-norm with final LayerNorms, sinusoidal positions, no
    layernorm_embedding."""

    model_types = ("pegasus",)
    order = "sinusoidal"
    block = PreNorm
    learned_positions = False
    embedding_norm = False
    start_default = 0  # PegasusConfig's (its pad token)
