"""Explanation -> strict JSON (RFC 8259), schema "attncli.explain/1".

Full float precision, no NaN or Infinity: a masked entry (-inf before the
softmax) is written as null. The schema ships as attncli/explain.schema.json.
"""

from __future__ import annotations

import json

import numpy as np

from attncli.explain import Explanation

SCHEMA = "attncli.explain/1"


def _matrix(arr: np.ndarray) -> list:
    """Nested lists of floats, with null where the value is -inf (a masked entry)."""
    if np.isneginf(arr).any():
        return np.where(np.isneginf(arr), None, arr).tolist()
    return arr.tolist()


def to_dict(ex: Explanation) -> dict:
    """The JSON document for an explanation, as plain Python objects."""
    doc: dict = {
        "schema": SCHEMA,
        "text": ex.text,
        "tokens": [{"text": t.text, "id": t.id, "start": t.start, "end": t.end} for t in ex.tokens],
        "config": ex.config,
        "embeddings": _matrix(ex.x),
    }
    if ex.dims:
        doc["dims"] = list(ex.dims)
    if ex.positions is not None:
        doc["positions"] = _matrix(ex.positions)
    if ex.notes:
        doc["notes"] = list(ex.notes)
    doc["heads"] = [_head(ex, hs) for hs in ex.heads]
    return doc


def _head(ex: Explanation, hs) -> dict:
    entry = {"layer": hs.layer, "head": hs.head}
    if hs.layer != ex.heads[0].layer:  # a later layer of a real model: its own input
        entry["x"] = _matrix(hs.steps.x)
    entry.update((name, _matrix(getattr(hs.steps, name))) for name in STEP_KEYS)
    return entry


STEP_KEYS = ("w_q", "w_k", "w_v", "q", "k", "v", "scores", "scaled", "weights", "output")


def dumps(doc: dict) -> str:
    """Serialise strictly: a NaN or infinity that slipped through is a bug, not output."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False)


HEADS_SCHEMA = "attncli.heads/1"


def _link(link) -> dict:
    return {"layer": link.layer, "head": link.head, "from": link.src, "to": link.dst,
            "weight": link.weight}


def heads_to_dict(ov) -> dict:
    """The JSON document for `attn heads`: the grid and the heads that stand out."""
    ex = ov.ex
    doc: dict = {
        "schema": HEADS_SCHEMA,
        "text": ex.text,
        "tokens": [{"text": t.text, "id": t.id, "start": t.start, "end": t.end} for t in ex.tokens],
        "config": ex.config,
        "layers": ov.layers,
        "heads": ov.heads,
    }
    if ov.grid is not None:
        doc["from"], doc["to"] = ov.src, ov.dst
        doc["grid"] = ov.grid.tolist()
    doc["patterns"] = [[{"layer": p.layer, "head": p.head, "pattern": p.pattern,
                         "score": p.score, "link": _link(p.link) if p.link else None}
                        for p in row] for row in ov.patterns]
    doc["top"] = [_link(link) for link in ov.top]
    return doc


COMPARE_SCHEMA = "attncli.compare/1"


def compare_to_dict(cmp) -> dict:
    """The JSON document for `attn compare`."""

    def side(ex, i) -> dict:
        return {
            "text": ex.text,
            "tokens": [{"text": t.text, "id": t.id, "start": t.start, "end": t.end}
                       for t in ex.tokens],
            "index": i,
            "heads": [{"layer": hs.layer, "head": hs.head,
                       "weights": hs.steps.weights[i].tolist(),
                       "output": hs.steps.output[i].tolist()} for hs in ex.heads],
        }

    return {
        "schema": COMPARE_SCHEMA,
        "word": cmp.word,
        "config": cmp.a.config,
        "a": side(cmp.a, cmp.index_a),
        "b": side(cmp.b, cmp.index_b),
        "head_cosines": cmp.head_cosines,
        "cosine": cmp.cosine,
        "input_cosine": cmp.input_cosine,
    }
