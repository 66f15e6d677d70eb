"""Explanation -> strict JSON (RFC 8259), schema "attncli.explain/1".

Full float precision, no NaN or Infinity: a masked entry (-inf before the
softmax) is written as null. The schema ships as attncli/explain.schema.json.
"""

from __future__ import annotations

import io
import json
import unicodedata
from typing import TextIO

import numpy as np

from attncli.explain import Explanation

SCHEMA = "attncli.explain/1"


def _matrix(arr: np.ndarray) -> list:
    """Nested lists of floats, with null where the value is -inf (a masked entry)."""
    if np.isneginf(arr).any():
        return np.where(np.isneginf(arr), None, arr).tolist()
    return arr.tolist()


def document(ex: Explanation) -> dict:
    """The JSON document for an explanation; its matrices stay numpy arrays until written."""
    doc: dict = {"schema": SCHEMA, **_texts(ex), "config": ex.config.to_dict(),
                 "embeddings": ex.x}
    for key in ("dims", "qk_dims", "v_dims"):
        if getattr(ex, key):
            doc[key] = list(getattr(ex, key))
    if ex.positions is not None:
        doc["positions"] = ex.positions
    if ex.notes:
        doc["notes"] = list(ex.notes)
    doc["heads"] = [_head(ex, hs) for hs in ex.heads]
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
    return doc


def _row(hs, row) -> dict:
    """One query's softmax, term by term: exp = e^(scaled − shift), weight = exp / sum."""
    return {"layer": hs.layer, "head": hs.head, "query": row.query, "scaled": row.scaled,
            "shift": row.shift, "exp": row.exps, "sum": row.total, "weights": row.weights}


def _pair(p) -> dict:
    """The pair view's numbers: from q and k to the weight, then the weighted value rows."""
    doc = {
        "from": p.src, "to": p.dst, "layer": p.layer, "head": p.head,
        "q": p.q, "k": p.k, "products": p.products, "score": p.score,
        "divisor": p.divisor, "divided": p.divided, "scaled": p.scaled, "masked": p.masked,
        "shift": p.row.shift, "exp": p.row.exps, "exp_sum": p.row.total,
        "weight": p.weight, "weights": p.row.weights,
        "contributions": p.contributions, "output": p.output,
    }
    # the model's own steps between the score and the softmax, where it has them
    doc.update((key, value) for key, value in (("scale", p.scale), ("softcap", p.softcap),
                                               ("capped", p.capped), ("bias", p.bias))
               if value is not None)
    return doc


def _texts(ex: Explanation) -> dict:
    """text and tokens; for a decoder (ex is then the target's) the source's, then target and
    target_tokens."""
    if ex.source_tokens is not None and ex.source_text is not None:
        return {"text": ex.source_text, "tokens": _tokens(ex.source_tokens), "target": ex.text,
                "target_tokens": _tokens(ex.tokens)}
    return {"text": ex.text, "tokens": _tokens(ex.tokens)}


def _tokens(tokens) -> list[dict]:
    return [{"text": t.text, "id": t.id, "start": t.start, "end": t.end} for t in tokens]


def _head(ex: Explanation, hs) -> dict:
    entry = {"layer": hs.layer, "head": hs.head}
    if hs.layer != ex.heads[0].layer:  # a later layer of a real model: its own input
        entry["x"] = hs.steps.x
    entry.update((name, getattr(hs.steps, name)) for name in STEP_KEYS)
    # a real model's extras, so that step 2 can be redone from the document alone
    entry.update((name, getattr(hs.steps, name)) for name in EXTRA_KEYS
                 if getattr(hs.steps, name) is not None)
    return entry


STEP_KEYS = ("w_q", "w_k", "w_v", "q", "k", "v", "scores", "scaled", "weights", "output")
EXTRA_KEYS = ("b_q", "b_k", "b_v", "q_unrotated", "k_unrotated", "q_projected", "k_projected",
              "scale", "softcap", "capped", "score_bias", "source")


def to_dict(ex: Explanation) -> dict:
    """The JSON document for an explanation, as plain Python objects."""
    return _plain(document(ex))


def _plain(obj):
    if isinstance(obj, np.ndarray):
        return _matrix(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def write(doc, out: TextIO) -> None:
    """Write doc as strict JSON, matrices row by row, so memory stays flat for long inputs.

    The text is the same as json.dumps(to_dict(…)) would give: floats in their shortest
    round-trip form, -inf (masked) as null, and a NaN or infinity anywhere else is a bug,
    raised as ValueError rather than written.
    """
    if isinstance(doc, np.ndarray):
        out.write("[")
        for i, row in enumerate(doc):
            if i:
                out.write(", ")
            if np.isfinite(row).all():
                out.write(str(row.tolist()))  # list repr of floats is valid JSON, and fast
            else:
                out.write(json.dumps(_matrix(row), allow_nan=False))
        out.write("]")
    elif isinstance(doc, dict):
        out.write("{")
        for i, (key, value) in enumerate(doc.items()):
            out.write(("" if i == 0 else ", ") + _text(str(key)) + ": ")
            write(value, out)
        out.write("}")
    elif isinstance(doc, list) and any(isinstance(v, (dict, list, np.ndarray)) for v in doc):
        out.write("[")
        for i, value in enumerate(doc):
            if i:
                out.write(", ")
            write(value, out)
        out.write("]")
    else:
        out.write(_text(doc) if isinstance(doc, str) else _scalars(doc))


def _text(value: str) -> str:
    """A JSON string: the text kept as it is, except that every control, format and bidi
    character (C1 controls, U+202E …) is written as \\uXXXX, still valid JSON but never raw on
    a terminal. The zero-width joiner stays: it joins emoji."""
    dumped = json.dumps(value, ensure_ascii=False)
    if dumped.isascii():
        return dumped
    return "".join(f"\\u{ord(ch):04x}" if ord(ch) >= 0x80 and ch != "\u200d"
                   and unicodedata.category(ch) in _HIDDEN else ch for ch in dumped)


_HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _scalars(value) -> str:
    """Numbers, booleans, null and lists of them (their strings escaped as _text does)."""
    if isinstance(value, list) and any(isinstance(v, str) for v in value):
        return "[" + ", ".join(_text(v) if isinstance(v, str) else _scalars(v)
                               for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def dumps(doc) -> str:
    """Serialise strictly: a NaN or infinity that slipped through is a bug, not output."""
    buf = io.StringIO()
    write(doc, buf)
    return buf.getvalue()


HEADS_SCHEMA = "attncli.heads/1"


def _link(link) -> dict:
    entry = {"layer": link.layer, "head": link.head, "from": link.src, "to": link.dst,
             "weight": link.weight}
    if link.baseline is not None:  # with a word pair: what "to" gets on average
        entry["baseline"] = link.baseline
    return entry


def _pattern(p) -> dict:
    entry = {"layer": p.layer, "head": p.head, "pattern": p.pattern, "score": p.score,
             "link": _link(p.link) if p.link else None}
    if p.sink is not None:  # the token an attention sink parks on
        entry["sink"] = {"token": p.sink.token, "rows": p.sink.rows, "of": p.sink.of,
                         "share": p.sink.share}
    return entry


def heads_to_dict(ov) -> dict:
    """The JSON document for `attn heads`: the grid and the heads that stand out."""
    ex = ov.ex
    doc: dict = {
        "schema": HEADS_SCHEMA,
        **_texts(ex),
        "config": ex.config.to_dict(),
        "layers": ov.layers,
        "heads": ov.heads,
    }
    if ov.grid is not None:
        doc["from"], doc["to"] = ov.src, ov.dst
        doc["grid"] = ov.grid.tolist()
        doc["baseline"] = ov.baseline.tolist()  # layers × heads, what "to" gets on average
    doc["patterns"] = [[_pattern(p) for p in row] for row in ov.patterns]
    doc["top"] = [_link(link) for link in ov.top]
    if ov.notes:
        doc["notes"] = list(ov.notes)
    return doc


COMPARE_SCHEMA = "attncli.compare/1"


def compare_to_dict(cmp) -> dict:
    """The JSON document for `attn compare`."""

    def side(ex, i) -> dict:
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
        **({"notes": list(cmp.notes)} if cmp.notes else {}),
    }


PREDICT_SCHEMA = "attncli.predict/1"


def predict_to_dict(pr) -> dict:
    """The JSON document for `attn predict`: the top tokens at each predicting position and,
    per layer, the head that attends most from it."""
    return {
        "schema": PREDICT_SCHEMA,
        "text": pr.text,
        "model": pr.model,
        "model_type": pr.model_type,
        "kind": pr.kind,
        "tokens": [{"text": t.text, "id": t.id, "start": t.start, "end": t.end}
                   for t in pr.tokens],
        "positions": pr.positions,
        "predictions": [{"position": p.position, "top": [
            {"token": c.token, "id": c.id, "probability": c.probability, "logit": c.logit}
            for c in p.top]} for p in pr.predictions],
        "heads": [{"position": h.position, "layer": h.layer, "head": h.head, "key": h.key,
                   "key_token": pr.tokens[h.key].text, "weight": h.weight} for h in pr.heads],
    }
