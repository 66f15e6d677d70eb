"""BERT, RoBERTa and XLM-RoBERTa: post-norm encoders with learned absolute positions.

The attention input x of layer i is the previous layer's output (for layer 0,
the embeddings after their LayerNorm): BERT normalises after each block. With is_decoder
(BertLMHeadModel, RobertaForCausalLM) every layer is masked causally, as in transformers.
Checkpoints converted from TF BERT name a LayerNorm's weight and bias gamma and beta.

The masked-LM heads (attn predict), without the prefix, each a MaskedLMHead:

    bert:    cls.predictions.transform.dense (d, d) T, (d,); hidden_act;
             cls.predictions.transform.LayerNorm (d,); cls.predictions.decoder.weight
             (vocab, d), or the word embeddings (tied); cls.predictions.bias (vocab,)
    roberta, xlm-roberta: lm_head.dense (d, d) T, (d,); gelu; lm_head.layer_norm (d,);
             lm_head.decoder.weight (vocab, d) or the word embeddings; lm_head.bias (vocab,)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from attncli.models.base import Model, T, Table
from attncli.models.blocks import Activation, LMHead, Norm, PostNorm
from attncli.models.config import Config
from attncli.models.layers import activation, gelu


class MaskedLMHead(NamedTuple):
    """Where a masked LM's head is stored (names after no prefix): dense, the activation
    (None: the config's), a LayerNorm, then the decoder (its weight, or the tied word
    embeddings) and its bias (the first of biases the checkpoint has)."""

    dense: str  # a Linear, stored (width, d)
    norm: str  # a LayerNorm (width,)
    act: Activation | None
    decoder: str  # (vocab, width)
    biases: tuple[str, ...]  # (vocab,)


ROBERTA_HEAD = MaskedLMHead("lm_head.dense", "lm_head.layer_norm", gelu, "lm_head.decoder.weight",
                            ("lm_head.bias", "lm_head.decoder.bias"))

# our name -> checkpoint name after an optional "bert." / "roberta." prefix
L = "encoder.layer.{i}."
QKV = (("q", "query"), ("k", "key"), ("v", "value"))
TABLE: Table = {
    "wte": ("embeddings.word_embeddings.weight", ("vocab", "d")),
    "wpe": ("embeddings.position_embeddings.weight", ("pos", "d")),
    "wtt": ("embeddings.token_type_embeddings.weight", ("n_types", "d")),
    "ln_emb": ("embeddings.LayerNorm.weight", ("d",)),
    "ln_emb_b": ("embeddings.LayerNorm.bias", ("d",)),
    **{f"w_{x}": (f"{L}attention.self.{name}.weight", ("d", "d"), T) for x, name in QKV},
    **{f"b_{x}": (f"{L}attention.self.{name}.bias", ("d",)) for x, name in QKV},
    "w_o": (L + "attention.output.dense.weight", ("d", "d"), T),
    "b_o": (L + "attention.output.dense.bias", ("d",)),
    "ln_attn": (L + "attention.output.LayerNorm.weight", ("d",)),  # after the residual add
    "ln_attn_b": (L + "attention.output.LayerNorm.bias", ("d",)),
    "w_up": (L + "intermediate.dense.weight", ("ff", "d"), T),
    "b_up": (L + "intermediate.dense.bias", ("ff",)),
    "w_down": (L + "output.dense.weight", ("d", "ff"), T),
    "b_down": (L + "output.dense.bias", ("d",)),
    "ln_mlp": (L + "output.LayerNorm.weight", ("d",)),
    "ln_mlp_b": (L + "output.LayerNorm.bias", ("d",)),
}
TF_NAMES = {".weight": ".gamma", ".bias": ".beta"}  # a LayerNorm's, in TF BERT checkpoints


class Bert(Model):
    """bert, roberta and xlm-roberta (RoBERTa's architecture under its own model_type, same
    weight names and "roberta." prefix); both RoBERTas number positions from padding_idx + 1."""

    model_types: tuple[str, ...] = ("bert", "roberta", "xlm-roberta")
    table = TABLE
    block = PostNorm
    prefixes: tuple[str, ...] = ("", "bert.", "roberta.")  # before the tensor names, if any
    # model_type -> its masked-LM head
    mlm_heads: dict[str, MaskedLMHead] = {
        "bert": MaskedLMHead("cls.predictions.transform.dense",
                             "cls.predictions.transform.LayerNorm", None,
                             "cls.predictions.decoder.weight",
                             ("cls.predictions.bias", "cls.predictions.decoder.bias")),
        "roberta": ROBERTA_HEAD, "xlm-roberta": ROBERTA_HEAD}

    def configure(self, config: Config) -> None:
        """Dimensions from a BertConfig / RobertaConfig."""
        self.read_sizes(config)
        self.n_positions = config.integer("max_position_embeddings")
        self.n_types = config.integer("type_vocab_size", default=2)
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-12)
        self.act = activation(config, "hidden_act", default="gelu")
        # is_decoder (BertLMHeadModel, RobertaForCausalLM, ElectraForCausalLM): each token sees
        # only itself and the tokens before it, as transformers masks it
        self.causal = config.boolean("is_decoder", default=False)
        config.check(not config.boolean("add_cross_attention", default=False),
                     "'add_cross_attention' is set: this is the decoder half of an "
                     "encoder-decoder pair, whose cross-attention over an encoder's output "
                     "attncli does not run")
        config.choice("position_embedding_type", options=("absolute",), default="absolute")
        # RoBERTa's position of token t is padding_idx + 1 + t: the first rows are never used,
        # and at least one must be left
        self.pad = (config.integer("pad_token_id", low=0, default=1)
                    if self.model_type in ("roberta", "xlm-roberta") else None)
        config.check(self.pad is None or self.pad + 2 <= self.n_positions,
                     f"'max_position_embeddings' {self.n_positions} leaves no position after "
                     f"'pad_token_id' {self.pad} (RoBERTa's positions start after it)")
        self.max_positions = self.n_positions - (0 if self.pad is None else self.pad + 1)
        self.prefix = self.checkpoint.prefix("embeddings.word_embeddings.weight", self.prefixes)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """(n,) position ids: 0..n-1, or RoBERTa's count of non-pad tokens + padding_idx."""
        if self.pad is None:
            return np.arange(len(ids))
        real = ids != self.pad  # (n,) padding keeps position padding_idx
        return np.cumsum(real) * real + self.pad

    def tensor_name(self, name: str) -> str:
        """The prefixed name; a LayerNorm's gamma or beta where the checkpoint has no
        weight or bias."""
        return self.tf_name(self.prefix + name)

    def tf_name(self, name: str) -> str:
        """name, or its TF BERT form (gamma, beta) if only that is in the checkpoint."""
        for new, old in TF_NAMES.items():
            if (name.endswith(new) and name not in self.checkpoint
                    and name[:-len(new)] + old in self.checkpoint):
                return name[:-len(new)] + old
        return name

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Word + segment (where the table has them) + position embeddings, then LayerNorm."""
        h = self.tensor("wte", dtype, rows=ids)  # (n, d)
        if "wtt" in self.table:
            h = h + self.tensor("wtt", dtype, rows=np.zeros(1, int))  # (1, d) segment 0
        h = h + self.tensor("wpe", dtype, rows=self.positions(ids))  # (n, d): transformers' order
        ln = self.norm_at("ln_emb", dtype)
        assert ln is not None
        return self.normalise(h, ln)  # (n, d)

    @classmethod
    def predicts(cls) -> tuple[str, ...]:
        return tuple(t for t in cls.model_types if t in cls.mlm_heads)

    def lm_head(self) -> LMHead:
        """The family's masked-LM head (mlm_heads): dense, activation, LayerNorm, then the
        decoder (tied to the word embeddings) and its bias."""
        if self.model_type not in self.mlm_heads:
            return super().lm_head()
        head = self.mlm_heads[self.model_type]
        act = self.act if head.act is None else head.act
        d, e, v = self.d_model, self.d_embed, self.vocab_size  # dense maps d to e
        read, ckpt = self.checkpoint.read, self.checkpoint
        if head.dense + ".weight" not in ckpt:
            raise self.no_lm_head(f"{head.dense}.weight")
        decoder = (head.decoder if head.decoder in ckpt
                   else self.prefix + "embeddings.word_embeddings.weight")
        bias = next((b for b in head.biases if b in ckpt), head.biases[0])
        return LMHead(Norm(read(self.tf_name(head.norm + ".weight"), (e,)),
                           read(self.tf_name(head.norm + ".bias"), (e,))),
                      w=read(decoder, (v, e)), b=read(bias, (v,)),  # (vocab, e), (vocab,)
                      w_in=read(head.dense + ".weight", (e, d)).T,  # (d, e)
                      b_in=read(head.dense + ".bias", (e,)), act=act)
