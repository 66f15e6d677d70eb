"""Explanation -> strict JSON (RFC 8259), schema "attncli.explain/1", and the documents of
the other commands (heads, predict, lens, …): what each holds. json_writer.py writes them.

Full float precision, no NaN or Infinity: a masked entry (-inf before the
softmax) is written as null. The schema ships as attncli/explain.schema.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.explain import Explanation
from attncli.json_writer import dumps as dumps  # the commands write through export
from attncli.json_writer import write as write

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
    if hs.steps.mask is None:
        entry["mask_kind"] = "none"  # masks.NONE, without loading the mask rules
    else:
        from attncli.masks import mask_kind

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
    if link.at_distance is not None:  # what the head gives any word that far, on average
        entry["at_distance"] = link.at_distance
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
                "key_token": None if e.key < 0 else ef.tokens[e.key].text, "weight": e.weight,
                "left_out_weight": e.left_out}

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
        "left_out": list(ef.left_out),
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
