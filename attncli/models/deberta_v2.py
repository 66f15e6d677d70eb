"""DeBERTa-v2 and -v3: BERT's post-norm layer with disentangled attention.

The embeddings are word (+ segment where type_vocab_size > 0, + position unless
position_biased_input is false, as in v3), projected to hidden_size if narrower (embed_proj,
no bias), then LayerNorm-ed. Word order enters each layer through two more terms on the
scores, both from one table of learned distance vectors (encoder.rel_embeddings, LayerNorm-ed
with norm_rel_ebd "layer_norm"):

    c2p[i, j] = q_i · k_r(δ(i, j))        content to position: the query against the key
                                          made from the distance vector of i − j
    p2c[i, j] = k_j · q_r(δ(j, i))        position to content: the key against the query
                                          made from the distance vector of j − i

k_r and q_r are the layer's key and query projections of the table (share_att_key; else its
pos_key_proj and pos_query_proj). δ is i − j, in log buckets beyond position_buckets / 2
(transformers' make_log_bucket_position), moved into the table's 2 · span rows and clamped.
The scores and both terms are divided by √(d_k · (1 + the number of terms)). The terms are
shown as their own labelled steps (Variant.score_terms). A convolution after layer 0
(conv_kernel_size) is refused.

The masked-LM head (DebertaV2ForMaskedLM): legacy (transformers' default)
cls.predictions.transform.dense (hidden -> embedding_size), hidden_act, its LayerNorm, the
tied word embeddings and cls.predictions.bias; or lm_predictions.lm_head (dense, LayerNorm,
bias) at hidden_size.
"""

from __future__ import annotations

import math

import numpy as np

from attncli.attention import Variant
from attncli.errors import AttnError
from attncli.models.base import T, Table
from attncli.models.bert import Bert, MaskedLMHead
from attncli.models.blocks import AttentionWeights, LMHead, Norm
from attncli.models.config import Config
from attncli.models.layers import activation, linear

E = "d_embed"
L = "encoder.layer.{i}."
QKV = (("q", "query_proj"), ("k", "key_proj"), ("v", "value_proj"))
TABLE: Table = {
    "wte": ("embeddings.word_embeddings.weight", ("vocab", E)),
    "wpe": ("embeddings.position_embeddings.weight", ("pos", E)),
    "wtt": ("embeddings.token_type_embeddings.weight", ("n_types", E)),
    "project": ("embeddings.embed_proj.weight", ("d", E), T),
    "ln_emb": ("embeddings.LayerNorm.weight", ("d",)),
    "ln_emb_b": ("embeddings.LayerNorm.bias", ("d",)),
    **{f"w_{x}": (f"{L}attention.self.{name}.weight", ("d", "d"), T) for x, name in QKV},
    **{f"b_{x}": (f"{L}attention.self.{name}.bias", ("d",)) for x, name in QKV},
    "pos_k": (L + "attention.self.pos_key_proj.weight", ("d", "d"), T),
    "pos_k_b": (L + "attention.self.pos_key_proj.bias", ("d",)),
    "pos_q": (L + "attention.self.pos_query_proj.weight", ("d", "d"), T),
    "pos_q_b": (L + "attention.self.pos_query_proj.bias", ("d",)),
    "w_o": (L + "attention.output.dense.weight", ("d", "d"), T),
    "b_o": (L + "attention.output.dense.bias", ("d",)),
    "ln_attn": (L + "attention.output.LayerNorm.weight", ("d",)),
    "ln_attn_b": (L + "attention.output.LayerNorm.bias", ("d",)),
    "w_up": (L + "intermediate.dense.weight", ("ff", "d"), T),
    "b_up": (L + "intermediate.dense.bias", ("ff",)),
    "w_down": (L + "output.dense.weight", ("d", "ff"), T),
    "b_down": (L + "output.dense.bias", ("d",)),
    "ln_mlp": (L + "output.LayerNorm.weight", ("d",)),
    "ln_mlp_b": (L + "output.LayerNorm.bias", ("d",)),
    "rel": ("encoder.rel_embeddings.weight", ("rel_rows", "d")),
    "ln_rel": ("encoder.LayerNorm.weight", ("d",)),
    "ln_rel_b": ("encoder.LayerNorm.bias", ("d",)),
}
TERMS = ("c2p", "p2c")


def log_buckets(relative: np.ndarray, buckets: int, max_position: int) -> np.ndarray:
    """transformers' make_log_bucket_position: distances under buckets / 2 as they are,
    longer ones on a log scale up to max_position (float32, as torch computes it)."""
    sign = np.sign(relative)
    mid = buckets // 2
    near = (relative < mid) & (relative > -mid)
    size = np.where(near, mid - 1, np.abs(relative))  # (n, m) int
    with np.errstate(divide="ignore"):
        ratio = np.log((size / mid).astype(np.float32)) / np.log(np.float32((max_position - 1)
                                                                            / mid))
    far = np.ceil((ratio * np.float32(mid - 1)).astype(np.float32)) + mid
    return np.where(size <= mid, relative, far * sign).astype(np.int64)


def whole_or_none(config: Config, key: str) -> int:
    """A count that config.json may set to -1 (none, or: take the default) as DeBERTa's do."""
    value = config.number(key, low=-1, high=1_000_000, default=-1)
    config.check(float(value).is_integer(), f"'{key}' {value:g} must be a whole number")
    return int(value)


class DebertaV2(Bert):
    """deberta-v2 (DeBERTa-v2 and DeBERTa-v3: DebertaV2Model, DebertaV2ForMaskedLM)."""

    model_types = ("deberta-v2",)
    prefixes = ("", "deberta.")
    order = "relative"
    mlm_heads = {"deberta-v2": MaskedLMHead("cls.predictions.transform.dense",
                                            "cls.predictions.transform.LayerNorm", None,
                                            "cls.predictions.decoder.weight",
                                            ("cls.predictions.bias",
                                             "cls.predictions.decoder.bias"))}

    def configure(self, config: Config) -> None:
        """Sizes, embeddings and the disentangled attention's fields of a DebertaV2Config."""
        self.read_sizes(config)
        self.n_positions = self.max_positions = config.integer("max_position_embeddings")
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-7)
        self.act = activation(config, "hidden_act", default="gelu")
        self.causal, self.pad = False, None
        self.d_embed = config.integer("embedding_size", default=self.d_model)
        self.n_types = config.integer("type_vocab_size", low=0, default=0)
        config.check(config.integer("conv_kernel_size", low=0, default=0) == 0,
                     "'conv_kernel_size' is set: attncli does not run DeBERTa's convolution "
                     "after layer 0")
        config.check(config.boolean("relative_attention", default=False),
                     "'relative_attention' is false: this DeBERTa has no position terms, and "
                     "attncli runs only the disentangled one")
        try:
            kinds = config.strings("pos_att_type")
        except AttnError:  # older configs: "p2c|c2p"
            kinds = config.choice("pos_att_type", options=("p2c|c2p", "c2p|p2c", "c2p",
                                                           "p2c")).split("|")
        config.check(set(kinds) <= set(TERMS), f"'pos_att_type' {kinds}: attncli runs the "
                     "terms c2p and p2c only")
        self.terms = tuple(t for t in TERMS if t in kinds)
        self.share = config.boolean("share_att_key", default=False)
        limit = whole_or_none(config, "max_relative_positions")
        self.max_relative = limit if limit >= 1 else self.n_positions
        self.buckets = whole_or_none(config, "position_buckets")
        config.check(self.buckets <= 0 or (self.buckets >= 2 and self.max_relative - 1
                                           > self.buckets // 2),
                     f"'position_buckets' {self.buckets} needs at least 2 buckets and "
                     f"'max_relative_positions' (or 'max_position_embeddings') above "
                     f"{self.buckets // 2 + 1}: its log buckets divide by both")
        self.span = self.buckets if self.buckets > 0 else self.max_relative
        self.rel_rows = 2 * self.span
        norm_rel = config.optional_choice("norm_rel_ebd", options=("none", "layer_norm"))
        table = dict(TABLE)
        if norm_rel != "layer_norm":
            del table["ln_rel"], table["ln_rel_b"]
        if not config.boolean("position_biased_input", default=True):
            del table["wpe"]
        if self.n_types == 0:
            del table["wtt"]
        self.table = table
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], self.prefixes)
        self.distances: dict[tuple[int, type], np.ndarray] = {}

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Word (+ position, + segment 0) embeddings, projected up if narrower, LayerNorm."""
        h = self.tensor("wte", dtype, rows=ids)  # (n, e)
        if "wpe" in self.table:
            h = h + self.tensor("wpe", dtype, rows=np.arange(len(ids)))
        if "wtt" in self.table:
            h = h + self.tensor("wtt", dtype, rows=np.zeros(1, int))
        if self.d_embed != self.d_model:
            h = linear(h, self.tensor("project", dtype))  # (n, d)
        ln = self.norm_at("ln_emb", dtype)
        assert ln is not None
        return self.normalise(h, ln)

    def relative(self, n: int) -> np.ndarray:
        """(n, n) δ(i, j) = i − j, in log buckets where the config has them."""
        rel = np.arange(n)[:, None] - np.arange(n)[None, :]
        if self.buckets > 0 and self.max_relative > 0:
            rel = log_buckets(rel, self.buckets, self.max_relative)
        return rel

    def distance_table(self, dtype: type) -> np.ndarray:
        """(2 · span, d) the learned distance vectors, after their LayerNorm if any."""
        rel = self.tensor("rel", dtype)[: 2 * self.span]
        ln = self.norm_at("ln_rel", dtype)
        return rel if ln is None else self.normalise(rel, ln)

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """The scale 1 / √(d_k · (1 + terms)) and the position terms c2p and p2c, per head."""
        dtype, hd, heads = x.dtype.type, self.head_dim, self.n_heads
        scale = dtype(math.sqrt(hd * (1 + len(self.terms))))  # float32 in transformers too
        if not self.terms:
            return Variant(scale=1.0 / float(scale))
        rel = self.distance_table(dtype)  # (2 span, d)

        def split(t: np.ndarray) -> np.ndarray:  # (..., rows, H · hd) -> (..., H, rows, hd)
            return np.ascontiguousarray(np.swapaxes(t.reshape(*t.shape[:-1], heads, hd), -2, -3))

        def pick(scores: np.ndarray, at: np.ndarray) -> np.ndarray:  # (..., n, 2 span) -> n, n
            return np.take_along_axis(scores, np.broadcast_to(at, (*scores.shape[:-1], n)), -1)

        def project(kind: str, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
            if self.share:
                return split(linear(rel, w, b))
            return split(linear(rel, self.tensor(kind, dtype, i), self.tensor(kind + "_b", dtype,
                                                                             i)))

        delta = self.relative(n)  # (n, n)
        top = 2 * self.span - 1
        terms: list[tuple[str, np.ndarray]] = []
        if "c2p" in self.terms:
            q = split(linear(x, attn.w_q, attn.b_q))  # (..., H, n, hd)
            pos_k = project("pos_k", attn.w_k, attn.b_k)  # (H, 2 span, hd)
            at = np.clip(delta + self.span, 0, top)  # (n, n)
            c2p = pick(q @ pos_k.transpose(0, 2, 1), at)
            terms.append(("c2p", c2p / scale))
        if "p2c" in self.terms:
            k = split(linear(x, attn.w_k, attn.b_k))  # (..., H, n, hd)
            pos_q = project("pos_q", attn.w_q, attn.b_q)  # (H, 2 span, hd)
            at = np.clip(-delta + self.span, 0, top)  # (n, n), row: the key
            p2c = pick(k @ pos_q.transpose(0, 2, 1), at)
            terms.append(("p2c", np.ascontiguousarray(np.swapaxes(p2c, -1, -2)) / scale))
        bias = terms[0][1] if len(terms) == 1 else terms[0][1] + terms[1][1]
        return Variant(scale=1.0 / float(scale), score_bias=bias, score_terms=tuple(terms))

    def matrices(self) -> tuple[int, int]:
        return 4 + len(self.terms), 3 + len(self.terms)  # the bias and each term, per head

    def score_bias_bytes(self, last: int, item: int) -> tuple[int, int]:
        """A layer's bias and terms, (heads, n, n) each, with the products they are read from
        (each (heads, n, 2 span), counted per pair as at most 2 more)."""
        return 0, self.n_heads * item * (1 + 2 * len(self.terms)) + 16

    def head_width(self) -> int:
        """The legacy head maps back to embedding_size; the newer one stays at hidden_size."""
        return self.d_model if self.new_head() else self.d_embed

    def new_head(self) -> bool:
        return "lm_predictions.lm_head.dense.weight" in self.checkpoint

    def lm_head(self) -> LMHead:
        """The legacy head (Bert's, narrowed to embedding_size), or lm_predictions.lm_head:
        dense, hidden_act, LayerNorm, the tied word embeddings and its bias."""
        if not self.new_head():
            return super().lm_head()
        read, d, v = self.checkpoint.read, self.d_model, self.vocab_size
        name = "lm_predictions.lm_head."
        return LMHead(Norm(read(name + "LayerNorm.weight", (d,)), read(name + "LayerNorm.bias",
                                                                        (d,))),
                      w=self.tensor("wte", np.float32), b=read(name + "bias", (v,)),
                      w_in=read(name + "dense.weight", (d, d)).T, b_in=read(name + "dense.bias",
                                                                             (d,)),
                      act=self.act)
