"""The per-text record of a corpus.

record_of(model, text) runs the model's layers once (all heads at once, as Model.forward does,
with each layer's weights read once per model and kept) and keeps, for every head, its role
scores (roles.py, through scores.layer_scores), its strongest role, its entropy and its weight
and norm-based share on special tokens. records_of does the same for texts of one length run
together (run_texts), each getting the numbers it gets alone. aggregate.py turns records into
the statistics over the corpus.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from attncli.corpus.scores import STATS, keys_for, layer_scores, norm_shares
from attncli.errors import AttnError
from attncli.models.base import Hooks, Model
from attncli.models.blocks import AttentionWeights, Experts, MLPWeights
from attncli.models.layers import BY_STREAM
from attncli.roles import ROLES
from attncli.tokens import Token, encode

RECORD_SCHEMA = "attncli.corpus.record/1"
TOO_LONG = ("cut", "skip")  # what happens to a text longer than the limit


@dataclass(frozen=True)
class Record:
    """One text's scores: every statistic of STATS for every head, NaN where undefined (a
    text with no repeated token has no duplicate score)."""

    id: str
    tokens: int  # how many tokens were run (after a cut)
    cut: bool  # whether the text was cut to the limit
    model: str  # the model's name, as given
    roles: tuple[tuple[str, ...], ...]  # [layer][head] the head's strongest role on this text
    scores: dict[str, np.ndarray]  # statistic -> (layers, heads) float64

    @property
    def shape(self) -> tuple[int, int]:
        """(layers, heads)."""
        return len(self.roles), len(self.roles[0])


@dataclass(frozen=True)
class Skipped:
    """A text left out: longer than the limit, with too_long "skip"."""

    id: str
    tokens: int


class Weights:
    """A model's attention and MLP weights for every layer, read once (a corpus runs the
    layers many times), and each layer's W_O split by head in float64 for the norm shares."""

    def __init__(self, model: Model) -> None:
        self.attention: list[AttentionWeights] = []
        self.rest: list[MLPWeights] = []
        self.w_o: list[np.ndarray] = []  # (H, head_dim, d_model) float64 per layer
        self.batches = True  # whether texts of one length may run together (run_texts)
        for i in range(model.n_layers):
            attn = model.load_attention(i)
            self.attention.append(attn)
            self.w_o.append(np.asarray(attn.w_o, dtype=np.float64).reshape(
                model.n_heads, -1, attn.w_o.shape[-1]))
            rest = model.load_rest(i)
            self.rest.append(rest)
            # a mixture of experts multiplies the rows routed to an expert together, from
            # every text of a batch: a text's bits would depend on the others
            self.batches &= not isinstance(rest, Experts)


_WEIGHTS: weakref.WeakKeyDictionary[Model, Weights] = weakref.WeakKeyDictionary()


def weights_of(model: Model) -> Weights:
    """The model's Weights, read on first use and kept as long as the model is."""
    if model not in _WEIGHTS:
        _WEIGHTS[model] = Weights(model)
    return _WEIGHTS[model]


def limit_of(model: Model, max_tokens: int) -> int:
    """The most tokens a text may have: max_tokens, or the model's positions if fewer."""
    return min(max_tokens, model.max_positions or max_tokens)


def tokens_of(model: Model, text: str, limit: int) -> tuple[list[Token], bool, int]:
    """The text's tokens, cut to limit if longer: (tokens, whether cut, tokens before the
    cut). A cut keeps the words that fit and lets the tokenizer add its special tokens
    ([SEP], EOS) again, so a cut text ends as a whole one does."""
    source = f"{model.directory or model.name}/tokenizer.json"
    tokens = encode(model.tokenizer, text, source=source)
    whole = len(tokens)
    if whole <= limit:
        return tokens, False, whole
    real = [t for t in tokens if t.end > t.start]
    keep = max(1, limit - (len(tokens) - len(real)))  # room left beside the special tokens
    while keep > 0:
        cut = encode(model.tokenizer, text[:real[keep - 1].end], source=source)
        if len(cut) <= limit:
            return cut, True, whole
        keep -= 1
    raise AttnError(f"a text cannot be cut to {limit} tokens: its special tokens alone are "
                    "more")


@dataclass(frozen=True)
class Ready:
    """A text tokenized and checked, waiting for its run."""

    id: str
    text: str
    tokens: list[Token]
    ids: np.ndarray  # (n,) its token ids
    cut: bool


def ready_of(model: Model, text: str, id: str, max_tokens: int, too_long: str = "cut"
             ) -> Ready | Skipped:
    """A text's tokens, cut to the limit (or Skipped, for a text over it with too_long
    "skip"); AttnError for a text the model cannot run."""
    from attncli.explain import check_text

    check_text(text)
    tokens, cut, whole = tokens_of(model, text, limit_of(model, max_tokens))
    if cut and too_long == "skip":
        return Skipped(id, whole)
    return Ready(id, text, tokens, model.check_ids([t.id for t in tokens]), cut)


@dataclass(frozen=True)
class Run:
    """The attention of texts of one length run together: per layer, the weights (b, H, n,
    n) float32, the values (b, n_kv_heads, n, head_dim) and the mask (None: sees all)."""

    weights: list[np.ndarray]
    values: list[np.ndarray]
    masks: list[np.ndarray | None]


def run_texts(model: Model, ids: np.ndarray) -> Run:
    """Every layer's heads for texts of one length, ids (b, n), as one batch of streams: a
    row of a product, a norm or an activation is worked out by itself, and each text's
    attention by itself, so a text's numbers do not depend on the others run beside it
    (the tests check they equal Model.forward's, bit for bit). One text runs as a stream
    (n, d_model), as Model.forward runs it; so does each text of a model whose weights
    forbid a batch (Weights.batches)."""
    if len(ids) > 1 and not weights_of(model).batches:
        runs = [run_texts(model, row[None]) for row in ids]
        layers = range(model.n_layers)
        return Run([np.concatenate([r.weights[i] for r in runs]) for i in layers],
                   [np.concatenate([r.values[i] for r in runs]) for i in layers], runs[0].masks)
    if len(ids) > 1:
        token = BY_STREAM.set(True)
        try:
            return _run_texts(model, ids)
        finally:
            BY_STREAM.reset(token)
    return _run_texts(model, ids)


def _run_texts(model: Model, ids: np.ndarray) -> Run:
    w = weights_of(model)
    one = len(ids) == 1
    h = model.embed(ids[0], np.float32) if one else np.stack(
        [model.embed(row, np.float32) for row in ids])  # ([b,] n, d_model)
    values: list[np.ndarray] = []
    hooks = Hooks(keys_values=lambda _i, _k, v: values.append(v))
    weights: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for i in range(model.n_layers):
        attn = w.attention[i]
        h, x, variant = model.layer_input(i, h, attn)  # ([b,] n, d_model)
        z = model.all_heads(x, attn, variant, i, hooks, weights)
        masks.append(variant.mask)
        if i + 1 < model.n_layers:  # the last layer's output is never needed
            h = model.finish(i, h, z, attn, w.rest[i])
    if one:
        return Run([a[None] for a in weights], [v[None] for v in values], masks)
    return Run(weights, values, masks)


def records_of(model: Model, texts: list[Ready]) -> list[Record]:
    """The records of texts of one length, run together (run_texts): every layer's heads in
    the run's float32, scored in float64."""
    run = run_texts(model, np.stack([t.ids for t in texts]))
    w_o = weights_of(model).w_o
    # the layers under one mask are scored together, their heads one after another
    tags: dict[bytes | None, list[int]] = {}
    for i, mask in enumerate(run.masks):
        tags.setdefault(None if mask is None else np.packbits(mask).tobytes(), []).append(i)
    h, n = model.n_heads, len(texts[0].ids)
    out = []
    for j, t in enumerate(texts):
        roles = np.empty((model.n_layers, h), dtype=object)
        scores = {s: np.full((model.n_layers, h), np.nan) for s in STATS}
        for layers in tags.values():
            keys = keys_for(t.tokens, t.text, run.masks[layers[0]], n, n)
            a = np.concatenate([run.weights[i][j] for i in layers])  # (len(layers) * H, n, n)
            norm = np.concatenate([norm_shares(run.weights[i][j], run.values[i][j], w_o[i])
                                   for i in layers])
            for k, (found, extra) in enumerate(layer_scores(a, keys, norm)):
                at = layers[k // h], k % h
                roles[at] = found.role
                for name, value in (*found.scores.items(), *extra.items()):
                    scores[name][at] = np.nan if value is None else value
        out.append(Record(t.id, n, t.cut, model.name,
                          tuple(tuple(row) for row in roles.tolist()), scores))
    return out


def record_of(model: Model, text: str, id: str, max_tokens: int, too_long: str = "cut"
              ) -> Record | Skipped:
    """The record of one text (or Skipped, for a text over the limit with too_long "skip"):
    every layer's heads, all at once in the run's float32, scored in float64."""
    found = ready_of(model, text, id, max_tokens, too_long)
    return found if isinstance(found, Skipped) else records_of(model, [found])[0]


# ---- to and from JSON ----


def to_dict(record: Record) -> dict[str, Any]:
    """A record as one JSON object (NaN as null); floats round-trip exactly."""
    return {"schema": RECORD_SCHEMA, "id": record.id, "tokens": record.tokens,
            "cut": record.cut, "model": record.model, "roles": [list(r) for r in record.roles],
            "scores": {name: [[None if math.isnan(v) else v for v in row]
                              for row in arr.tolist()] for name, arr in record.scores.items()}}


def from_dict(doc: object) -> Record:
    """A record read back from to_dict's object; AttnError naming what is wrong."""
    if not isinstance(doc, dict):
        raise AttnError("not a JSON object")
    if doc.get("schema") != RECORD_SCHEMA:
        raise AttnError(f"schema is {doc.get('schema')!r}, not {RECORD_SCHEMA!r}")
    rid, tokens, cut, model = doc.get("id"), doc.get("tokens"), doc.get("cut"), doc.get("model")
    if not isinstance(rid, str) or not isinstance(model, str) or not isinstance(cut, bool):
        raise AttnError("id and model must be strings, cut true or false")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        raise AttnError("tokens must be a positive whole number")
    roles = doc.get("roles")
    if (not isinstance(roles, list) or not roles or not all(
            isinstance(r, list) and r and len(r) == len(roles[0]) for r in roles)):
        raise AttnError("roles must be layers × heads of role names")
    known = {*ROLES, "mixed"}
    if not all(isinstance(x, str) and x in known for r in roles for x in r):
        raise AttnError(f"a role is not one of {', '.join(sorted(known))}")
    shape = (len(roles), len(roles[0]))
    raw = doc.get("scores")
    if not isinstance(raw, dict) or set(raw) != set(STATS):
        raise AttnError(f"scores must hold exactly {', '.join(STATS)}")
    scores = {}
    for name in STATS:
        rows = raw[name]
        if (not isinstance(rows, list) or len(rows) != shape[0] or not all(
                isinstance(r, list) and len(r) == shape[1] for r in rows)):
            raise AttnError(f"scores.{name} must be {shape[0]} layers × {shape[1]} heads")
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                 and math.isfinite(v)) for r in rows for v in r):
            raise AttnError(f"scores.{name} holds something other than numbers and null")
        scores[name] = np.array([[np.nan if v is None else float(v) for v in r] for r in rows],
                                dtype=np.float64)
    return Record(rid, tokens, cut, model, tuple(tuple(r) for r in roles), scores)
