"""Explanation -> strict JSON (RFC 8259), schema "attncli.explain/1".

Full float precision, no NaN or Infinity: a masked entry (-inf before the
softmax) is written as null. The schema ships as attncli/explain.schema.json.
"""

from __future__ import annotations

import codecs
import io
import json
import math
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import orjson

from attncli.explain import Explanation
from attncli.masks import mask_kind

if TYPE_CHECKING:  # types only: the commands that write these import the modules themselves
    from attncli.attention_fast import HeadSteps
    from attncli.compare import Comparison
    from attncli.effects import Ablated, Effects, HeadEffect
    from attncli.flow import Gap, HeadNorms, Rollout
    from attncli.heads import HeadPattern, Link, Overview
    from attncli.induction import Probe
    from attncli.lens import Attribution, Lens, Where
    from attncli.predict import Candidate, Predicted
    from attncli.sums import Pair, RowSoftmax
    from attncli.tokens import Token

SCHEMA = "attncli.explain/1"


def _matrix(arr: np.ndarray) -> list[Any]:
    """Nested lists of floats, with null where the value is -inf (a masked entry)."""
    masked = np.isneginf(arr)
    if masked.any():
        cells = arr.astype(object)
        cells[masked] = None
        return cells.tolist()
    return arr.tolist()


def document(ex: Explanation, norms: Sequence[HeadNorms] | None = None) -> dict[str, Any]:
    """The JSON document for an explanation; its matrices stay numpy arrays until written.
    norms (flow.head_norms, one per head, in order) adds each head's norm-based measure."""
    doc: dict[str, Any] = {"schema": SCHEMA, **_texts(ex), "config": ex.config.to_dict(),
                 "embeddings": ex.x}
    for key in ("dims", "qk_dims", "v_dims"):
        if getattr(ex, key):
            doc[key] = list(getattr(ex, key))
    if ex.positions is not None:
        doc["positions"] = ex.positions
    if ex.notes:
        doc["notes"] = [str(note) for note in ex.notes]  # plain str, not Worded
    doc["heads"] = [_head(ex, hs) for hs in ex.heads]
    if norms is not None:
        doc["measure"] = "norm"
        for entry, hn in zip(doc["heads"], norms, strict=True):
            entry.update(_norms(hn))
    if ex.joined is not None:
        j = ex.joined
        doc.update(joined_layer=j.layer, concat=j.concat, w_o=j.w_o)
        if j.b_o is not None:
            doc["b_o"] = j.b_o
        doc["attention_output"] = j.output
    if ex.pair is not None:
        doc["pair"] = _pair(ex.pair)
    if ex.focus:
        doc["focus"] = [_row(hs, row) for hs in ex.heads
                        for row in ex.focus_rows[hs.layer, hs.head]]
    if ex.routes:
        doc["routes"] = [{"layer": r.layer, "experts": r.experts.tolist(), "weights": r.weights}
                         for r in ex.routes]
    return doc


def _row(hs: HeadSteps, row: RowSoftmax) -> dict[str, Any]:
    """One query's softmax, term by term: exp = e^(scaled − shift), weight = exp / sum."""
    doc = {"layer": hs.layer, "head": hs.head, "query": row.query, "scaled": row.scaled,
           "shift": row.shift, "exp": row.exps, "sum": row.total, "weights": row.weights}
    if row.bias is not None:  # the position bias inside scaled, its parts and ALiBi's slope
        doc["bias"] = row.bias
    if row.bias_terms:
        doc["bias_terms"] = dict(row.bias_terms)
    if row.alibi_slope is not None:
        doc["alibi_slope"] = row.alibi_slope
    return doc


def _pair(p: Pair) -> dict[str, Any]:
    """The pair view's numbers: from q and k to the weight, then the weighted value rows."""
    doc: dict[str, Any] = {
        "from": p.query, "to": p.key, "layer": p.layer, "head": p.head,
        "q": p.q, "k": p.k, "products": p.products, "score": p.score,
        "divisor": p.divisor, "divided": p.divided, "scaled": p.scaled, "masked": p.masked,
        "shift": p.row.shift, "exp": p.row.exps, "exp_sum": p.row.total,
        "weight": p.weight, "weights": p.row.weights,
        "contributions": p.contributions, "output": p.output,
    }
    if p.reason is not None:  # why the mask hides the key
        doc["mask_reason"] = {"kind": p.reason.kind, "distance": p.reason.distance}
        if p.reason.window is not None:
            doc["mask_reason"]["window"] = p.reason.window
    # the model's own steps between the score and the softmax, where it has them
    doc.update((key, value) for key, value in (("scale", p.scale), ("softcap", p.softcap),
                                               ("capped", p.capped), ("bias", p.bias),
                                               ("alibi_slope", p.alibi_slope))
               if value is not None)
    if p.bias_terms:  # the parts of bias, by name (DeBERTa's c2p and p2c)
        doc["bias_terms"] = dict(p.bias_terms)
    return doc


def _texts(ex: Explanation) -> dict[str, Any]:
    """text and tokens; for a decoder (ex is then the target's) the source's, then target and
    target_tokens."""
    if ex.source_tokens is not None and ex.source_text is not None:
        return {"text": ex.source_text, "tokens": _tokens(ex.source_tokens), "target": ex.text,
                "target_tokens": _tokens(ex.tokens)}
    return {"text": ex.text, "tokens": _tokens(ex.tokens)}


def _tokens(tokens: Sequence[Token]) -> list[dict[str, Any]]:
    return [{"text": t.text, "id": t.id, "start": t.start, "end": t.end} for t in tokens]


def _head(ex: Explanation, hs: HeadSteps) -> dict[str, Any]:
    entry: dict[str, Any] = {"layer": hs.layer, "head": hs.head}
    if hs.layer != ex.heads[0].layer:  # a later layer of a real model: its own input
        entry["x"] = hs.steps.x
    entry.update((key, getattr(hs.steps, name)) for key, name in STEP_KEYS.items())
    entry["mask_kind"] = mask_kind(hs.steps)
    if hs.steps.variant.window is not None:
        entry["window"] = hs.steps.variant.window
    if hs.steps.skip_scale and ex.from_model:  # the model's own step 4: no scaling
        entry["scale_skipped"] = True
    if hs.steps.variant.no_position:  # a RoPE model's layer that turns nothing (SmolLM3's NoPE)
        entry["no_position"] = True
    # a real model's extras, so that step 2 can be redone from the document alone
    extras = ((name, getattr(hs.steps.variant if name in VARIANT_KEYS else hs.steps, name))
              for name in EXTRA_KEYS)
    entry.update((name, value) for name, value in extras if value is not None)
    if hs.steps.score_terms:  # the parts score_bias is the sum of, by name
        entry["score_terms"] = dict(hs.steps.score_terms)
    return entry


# each JSON key and the Steps field it holds: the documented key "scaled" holds the logits
STEP_KEYS = {"w_q": "w_q", "w_k": "w_k", "w_v": "w_v", "q": "q", "k": "k", "v": "v",
             "scores": "scores", "scaled": "logits", "weights": "weights", "output": "output"}
EXTRA_KEYS = ("b_q", "b_k", "b_v", "q_unrotated", "k_unrotated", "q_projected", "k_projected",
              "scale", "softcap", "capped", "score_bias", "alibi_slope", "source")
VARIANT_KEYS = ("scale", "softcap", "alibi_slope")  # read off the head's Variant


def to_dict(ex: Explanation) -> dict[str, Any]:
    """The JSON document for an explanation, as plain Python objects."""
    return _plain(document(ex))


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return _matrix(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def write(doc: object, out: TextIO) -> None:
    """Write doc as strict JSON (RFC 8259), block by block, so memory stays flat for long
    inputs.

    The text is orjson's: compact (no spaces), floats in their shortest float64 round-trip
    form, the same as orjson.dumps(to_dict(…)) would give, but for the strings' hidden
    characters, escaped as _text says. A masked entry (-inf in an array) is null; a NaN or
    infinity anywhere else is a bug, raised as ValueError rather than written. Arrays go
    through orjson a block of rows at a time (about BLOCK numbers), as float64 (a float32
    array's numbers are written as the float64 they widen to, so they come back bit-exact).
    On a UTF-8 text stream with a binary buffer (sys.stdout) the bytes go to the buffer;
    otherwise the text is written.
    """
    sink = _Sink(out)
    _write(doc, sink)
    sink.flush()


BLOCK = 1 << 15  # numbers per orjson call: about 0.7 MB of text
FLUSH = 1 << 20  # bytes gathered before they are handed to the output
DIRECT = 1 << 16  # a piece this long (an array's block) is handed on as it is, not gathered
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


class _Sink:
    """Gathers the document's small pieces and hands them on in pieces of about FLUSH bytes;
    a piece of DIRECT bytes or more (a block of an array's numbers) goes straight on after
    them, without being copied into the gathered ones."""

    raw: Callable[[bytes | bytearray | memoryview], object]

    def __init__(self, out: TextIO) -> None:
        self.buf = bytearray()
        binary = getattr(out, "buffer", None)
        encoding = getattr(out, "encoding", None)
        if binary is not None and encoding and codecs.lookup(encoding).name == "utf-8":
            out.flush()  # whatever the text layer holds goes first
            self.raw = binary.write
        else:  # a StringIO, or a stream in another encoding: it encodes, as it always did
            self.raw = lambda data: out.write(str(data, "utf-8"))

    def write(self, data: bytes | memoryview) -> None:
        if len(data) >= DIRECT:  # an array's block: straight through, after what came before
            self.flush()
            self.raw(data)
            return
        self.buf += data
        if len(self.buf) >= FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.raw(self.buf)
            self.buf = bytearray()


def _write(value: object, sink: _Sink) -> None:
    if isinstance(value, np.ndarray):
        _array(value, sink)
    elif isinstance(value, dict):
        sink.write(b"{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                sink.write(b",")
            sink.write(_key(key))
            _write(item, sink)
        sink.write(b"}")
    elif isinstance(value, (list, tuple)):
        if not any(isinstance(v, _NESTED) for v in value):  # numbers, booleans and null
            sink.write(_scalar(value))
            return
        sink.write(b"[")
        for i, item in enumerate(value):
            if i:
                sink.write(b",")
            _write(item, sink)
        sink.write(b"]")
    elif isinstance(value, str):
        sink.write(_text(value))
    else:
        sink.write(_scalar(value))


_NESTED = (np.ndarray, dict, list, tuple, str)


def _array(arr: np.ndarray, sink: _Sink) -> None:
    """An array as nested JSON lists, BLOCK numbers at a time, -inf (masked) as null."""
    kind = arr.dtype.kind
    if kind not in "fiub":  # not numbers (an object array): element by element
        _write(arr.tolist(), sink)
        return
    if arr.ndim == 0:
        sink.write(_scalar(arr.item()))
        return
    step = max(1, BLOCK // max(1, arr[0].size)) if len(arr) else 1
    sink.write(b"[")
    for start in range(0, len(arr), step):
        block = arr[start:start + step]
        if kind == "f":
            block = np.ascontiguousarray(block, dtype=np.float64)  # float32 -> its float64
            if not np.isfinite(block).all():
                _masked_only(block)
        elif not (block.flags.c_contiguous and block.dtype.isnative):
            block = np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("="))
        if start:
            sink.write(b",")
        sink.write(memoryview(orjson.dumps(block, option=_NUMPY))[1:-1])
    sink.write(b"]")


def _masked_only(block: np.ndarray) -> None:
    """-inf is a masked entry, which orjson writes as null; NaN or +inf is a bug."""
    if np.isnan(block).any() or np.isposinf(block).any():
        raise ValueError("a NaN or infinity is not valid JSON (RFC 8259): not written")


def _scalar(value: object) -> bytes:
    """A number, boolean or null, or a flat list of them: NaN and ±infinity are refused."""
    if isinstance(value, (list, tuple)):
        value = [_finite(v) for v in value]
    else:
        value = _finite(value)
    try:
        return orjson.dumps(value, option=_NUMPY)
    except TypeError:  # orjson stops at 64-bit integers (a --seed may be larger)
        if isinstance(value, list):
            return b"[" + b",".join(_scalar(v) for v in value) + b"]"
        if isinstance(value, int):
            return str(int(value)).encode()
        raise


def _finite(value: object) -> object:
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError("a NaN or infinity is not valid JSON (RFC 8259): not written")
        return float(value)  # a numpy float32 as the float64 it is, never its float32 digits
    return value


_KEYS: dict[str, bytes] = {}


def _key(key: object) -> bytes:
    """'"key":', remembered: a document repeats a few keys many times."""
    found = _KEYS.get(key) if isinstance(key, str) else None
    if found is None:
        found = _text(str(key)) + b":"
        if len(_KEYS) < 4096 and isinstance(key, str):
            _KEYS[key] = found
    return found


def _text(value: str) -> bytes:
    """A JSON string: the text kept as it is, except that every control, format and bidi
    character (C1 controls, U+202E …) is written as \\uXXXX, still valid JSON but never raw on
    a terminal. The zero-width joiner stays: it joins emoji."""
    try:
        dumped = orjson.dumps(value)
    except TypeError:  # a lone surrogate, which UTF-8 cannot hold: escaped below
        dumped = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if dumped.isascii():
        return dumped
    return "".join(_escape(ch) if ord(ch) >= 0x80 and ch != "\u200d"
                   and unicodedata.category(ch) in _HIDDEN else ch
                   for ch in dumped.decode("utf-8", "surrogatepass")).encode()


def _escape(ch: str) -> str:
    """One character as JSON's \\uXXXX; beyond U+FFFF, as its two UTF-16 surrogates."""
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


_HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def dumps(doc: object) -> str:
    """Serialise strictly: a NaN or infinity that slipped through is a bug, not output."""
    buf = io.StringIO()
    write(doc, buf)
    return buf.getvalue()


HEADS_SCHEMA = "attncli.heads/1"


def _link(link: Link) -> dict[str, Any]:
    entry: dict[str, Any] = {"layer": link.layer, "head": link.head, "from": link.src,
                             "to": link.dst, "weight": link.weight}
    if link.baseline is not None:  # what "to" gets on average, and how far the weight rises
        entry["baseline"] = link.baseline
        entry["specificity"] = link.specificity
    if link.pattern is not None:  # the head's pattern, and what "from"'s row does there
        entry["pattern"], entry["kind"] = link.pattern, link.kind
    if link.role is not None:  # the head's strongest role
        entry["role"] = link.role
    return entry


def _pattern(p: HeadPattern) -> dict[str, Any]:
    entry: dict[str, Any] = {"layer": p.layer, "head": p.head, "pattern": p.pattern,
                             "score": p.score, "link": _link(p.link) if p.link else None}
    if p.sink is not None:  # the token an attention sink parks on
        entry["sink"] = {"token": p.sink.token, "rows": p.sink.rows, "of": p.sink.of,
                         "share": p.sink.share}
    # every role score (None where undefined) and the strongest
    entry["role"], entry["role_score"] = p.roles.role, p.roles.score
    entry["roles"] = dict(p.roles.scores)
    entry["offset_k"] = p.roles.k
    return entry


def _norms(hn: HeadNorms) -> dict[str, Any]:
    """One head's norm-based measure: ‖f(x_j)‖, ‖α_ij f(x_j)‖ and each row's shares."""
    return {"value_norms": hn.value_norms, "norms": hn.norms, "norm_shares": hn.shares}


def heads_to_dict(ov: Overview, role: str | None = None,
                  listed: Sequence[HeadPattern] | None = None, *,
                  norms: Sequence[HeadNorms] | None = None, gap: Gap | None = None,
                  rollout: Rollout | None = None, weights: Explanation | None = None
                  ) -> dict[str, Any]:
    """The JSON document for `attn heads`: the grid and the heads that stand out; with role
    (`--role`), the heads listed for it (heads.by_role). With norms
    (the grid then reads norm shares), each head's measure beside its weights (from weights,
    the explanation before the shares replaced them) and the largest gap between the two;
    with rollout, the rollout of one query."""
    ex = ov.ex
    doc: dict[str, Any] = {
        "schema": HEADS_SCHEMA,
        **_texts(ex),
        "config": ex.config.to_dict(),
        "layers": ov.layers,
        "heads": ov.heads,
    }
    if ov.grid is not None:
        assert ov.baseline is not None  # heads.overview sets the two together
        doc["from"], doc["to"] = ov.src, ov.dst
        doc["grid"] = ov.grid.tolist()
        doc["baseline"] = ov.baseline.tolist()  # layers × heads, what "to" gets on average
    doc["patterns"] = [[_pattern(p) for p in row] for row in ov.patterns]
    doc["top"] = [_link(link) for link in ov.top]
    if role is not None and listed is not None:
        doc["role"] = {"name": role, "heads": [
            {"layer": p.layer, "head": p.head, "score": p.roles.score,
             **({"offset_k": p.roles.k} if role == "offset" else {})} for p in listed]}
    if ov.notes:
        doc["notes"] = [str(note) for note in ov.notes]
    if norms is not None and weights is not None:
        doc["measure"] = "norm"
        doc["norms"] = [{"layer": hs.layer, "head": hs.head, "weights": hs.steps.weights.tolist(),
                         **{k: v.tolist() for k, v in _norms(hn).items()}}
                        for hs, hn in zip(weights.heads, norms, strict=True)]
        doc["gap"] = None if gap is None else {
            "layer": gap.layer, "head": gap.head, "token": gap.token, "weight": gap.weight,
            "norm": gap.norm}
    if rollout is not None:
        doc["rollout"] = {"query": rollout.query, "layers": rollout.layers,
                          "rows": rollout.rows.tolist(), "matrices": rollout.matrices.tolist()}
        if rollout.note:  # which of a repeated word was taken
            doc["rollout"]["note"] = str(rollout.note)
    return doc


INDUCTION_SCHEMA = "attncli.induction/1"


def induction_to_dict(probe: Probe) -> dict[str, Any]:
    """The JSON document for `attn heads --induction`: the sequence, the three score grids
    (layers × heads) and every head ranked by induction score."""
    def scores(layer: int, head: int) -> dict[str, Any]:
        return {"layer": layer, "head": head,
                **{name: float(getattr(probe, name)[layer, head])
                   for name in ("induction", "duplicate", "previous")}}

    return {
        "schema": INDUCTION_SCHEMA,
        "model": probe.model,
        "length": probe.length,
        "seed": probe.seed,
        "ids": probe.ids,
        "tokens": probe.tokens,
        "start": probe.start,  # where R's first copy begins in ids
        "second": probe.second,  # where its second copy begins
        "causal": probe.causal,
        "induction": probe.induction.tolist(),
        "duplicate": probe.duplicate.tolist(),
        "previous": probe.previous.tolist(),
        "ranked": [scores(layer, head) for layer, head in probe.ranked()],
    }


COMPARE_SCHEMA = "attncli.compare/1"


def compare_to_dict(cmp: Comparison) -> dict[str, Any]:
    """The JSON document for `attn compare`."""

    def side(ex: Explanation, i: int) -> dict[str, Any]:
        return {
            "text": ex.text,
            "tokens": _tokens(ex.tokens),
            "index": i,
            "heads": [{"layer": hs.layer, "head": hs.head,
                       "weights": hs.steps.weights[i].tolist(),
                       "output": hs.steps.output[i].tolist()} for hs in ex.heads],
        }

    return {
        "schema": COMPARE_SCHEMA,
        "word": cmp.word,
        "config": cmp.a.config.to_dict(),
        "a": side(cmp.a, cmp.index_a),
        "b": side(cmp.b, cmp.index_b),
        "head_cosines": cmp.head_cosines,
        "cosine": cmp.cosine,
        "input_cosine": cmp.input_cosine,
        **({"notes": [str(note) for note in cmp.notes]} if cmp.notes else {}),
        # with a model: its vector in context, the embeddings, then after layer 0, 1, …
        **({"embedding_cosine": cmp.embedding_cosine, "layer_cosines": cmp.layer_cosines}
           if cmp.layer_cosines is not None else {}),
        **({"toward": [{"word": t.word, "in": t.side, "index": t.index, "value_a": t.value_a,
                        "output_a": t.output_a, "value_b": t.value_b, "output_b": t.output_b}
                       for t in cmp.toward]} if cmp.toward else {}),
    }


PREDICT_SCHEMA = "attncli.predict/1"


def predict_to_dict(pr: Predicted) -> dict[str, Any]:
    """The JSON document for `attn predict`: the top tokens at each predicting position and,
    per layer, the head that attends most from it."""
    return {
        "schema": PREDICT_SCHEMA,
        "text": pr.text,
        "model": pr.model,
        "model_type": pr.model_type,
        "kind": pr.kind,
        "tokens": _tokens(pr.tokens if pr.source_tokens is None else pr.source_tokens),
        **({} if pr.target is None else {"target": {"text": pr.target,
                                                    "tokens": _tokens(pr.tokens)}}),
        "positions": pr.positions,
        "predictions": [{"position": p.position, "top": [
            {"token": c.token, "id": c.id, "probability": c.probability, "logit": c.logit}
            for c in p.top]} for p in pr.predictions],
        "heads": [{"position": h.position, "layer": h.layer, "head": h.head, "key": h.key,
                   "key_token": pr.tokens[h.key].text, "weight": h.weight} for h in pr.heads],
    }


EFFECT_SCHEMA = "attncli.effect/1"


def ablation_to_dict(ab: Ablated) -> dict[str, Any]:
    """`attn predict --ablate`: predict's document, and the same positions with the heads
    knocked out, each token with its probability before (in the run as the model makes it)."""
    out = predict_to_dict(ab.clean)
    out["ablation"] = {
        "heads": [list(pair) for pair in ab.heads],
        "mode": ab.mode,
        "predictions": [{"position": p.position, "top": [
            {"token": c.token, "id": c.id, "probability": c.probability, "logit": c.logit,
             "probability_before": before} for c, before in zip(p.top, befores, strict=True)]}
            for p, befores in zip(ab.predictions, ab.before, strict=True)],
        "probability_after": [list(after) for after in ab.after],
    }
    return out


def effects_to_dict(ef: Effects) -> dict[str, Any]:
    """`attn heads --effect`: every head's effect on the prediction, as a grid and ranked."""

    def head(e: HeadEffect) -> dict[str, Any]:
        return {"layer": e.layer, "head": e.head, "effect": e.effect,
                "key": None if e.key < 0 else e.key,
                "key_token": None if e.key < 0 else ef.tokens[e.key].text, "weight": e.weight}

    return {
        "schema": EFFECT_SCHEMA,
        "text": ef.text,
        "corrupt": ef.corrupt_text,
        "model": ef.model,
        "model_type": ef.model_type,
        "kind": ef.kind,
        "tokens": [{"text": t.text, "id": t.id, "start": t.start, "end": t.end}
                   for t in ef.tokens],
        "position": ef.position,
        "target": {"token": ef.target_token, "id": ef.target},
        "vs": None if ef.vs is None else {"token": ef.vs_token, "id": ef.vs},
        "mode": ef.mode,
        "measure": ef.measure,
        "clean": ef.clean,
        "corrupted": ef.corrupted,
        "grid": ef.grid.tolist(),
        "ranked": [head(e) for e in ef.ranked],
        "most_weight": head(ef.most_weight),
    }
LENS_SCHEMA = "attncli.lens/1"
ATTRIBUTE_SCHEMA = "attncli.attribute/1"


def _read_at(text: str, tokens: list[Token], where: Where) -> dict[str, Any]:
    """The keys lens and attribute share: the text, its tokens and the position read."""
    return {"text": text,
            "tokens": [{"text": t.text, "id": t.id, "start": t.start, "end": t.end}
                       for t in tokens],
            "position": where.position, "kind": where.kind,
            **({"notes": [str(note) for note in where.notes]} if where.notes else {})}


def _candidate(c: Candidate) -> dict[str, Any]:
    return {"token": c.token, "id": c.id, "probability": c.probability, "logit": c.logit}


def lens_to_dict(ln: Lens) -> dict[str, Any]:
    """The JSON document for `attn lens`: the top tokens after each layer."""
    return {"schema": LENS_SCHEMA, "model": ln.model, "model_type": ln.model_type,
            **_read_at(ln.text, ln.tokens, ln.where),
            "layers": [{"layer": r.layer, "final_probability": float(p),
                        "top": [_candidate(c) for c in r.top]}
                       for r, p in zip(ln.rows, ln.final, strict=True)]}


def attribute_to_dict(at: Attribution) -> dict[str, Any]:
    """The JSON document for `attn attribute`: every part's share of the target's logit."""
    return {"schema": ATTRIBUTE_SCHEMA, "model": at.model, "model_type": at.model_type,
            **_read_at(at.text, at.tokens, at.where),
            "target": _candidate(at.target), "top_id": at.top_id,
            "heads": at.heads.tolist(),
            "parts": [{"kind": p.kind, "layer": p.layer, "head": p.head, "value": p.value}
                      for p in at.parts],
            "sum": at.total, "logit": at.logit, "difference": at.difference,
            "softcap": at.softcap}
