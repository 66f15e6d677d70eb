"""One word in two contexts: where it looks in each, and how far its vector moved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.explain import Explanation
from attncli.lookup import find_one

if TYPE_CHECKING:
    from attncli.models.base import Model


@dataclass(frozen=True)
class Comparison:
    """The same word in sentence A and sentence B, through the same weights."""

    word: str
    a: Explanation
    b: Explanation
    index_a: int  # the word's token in A
    index_b: int  # the word's token in B
    head_cosines: list[float]  # per head: cosine of the word's output in A and in B
    cosine: float  # the same, for all heads' outputs joined end to end
    input_cosine: float  # cosine of the word's X in A and in B
    notes: tuple[str, ...] = ()  # which token a repeated word took
    # with a model: the cosine of the word's vector in context (its residual stream, float64)
    # in A and in B, the embeddings entering layer 0, then after each layer, layer 0 first
    embedding_cosine: float | None = None
    layer_cosines: list[float] | None = None


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    """cos(u, v) = u·v / (|u| |v|); defined as 0 when either vector is all zeros.

    Each vector is first divided by its largest entry (which leaves the cosine as it is), so
    finite vectors of any size, 1e300 included, never overflow into NaN."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    top_u, top_v = float(np.abs(u).max(initial=0.0)), float(np.abs(v).max(initial=0.0))
    if top_u == 0 or top_v == 0:
        return 0.0
    u, v = u / top_u, v / top_v
    norm = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(np.clip(np.dot(u, v) / norm, -1.0, 1.0))


def compare(a: Explanation, b: Explanation, word: str, name: str = "the word",
            model: Model | None = None) -> Comparison:
    """Compare the word's attention and output in two explanations made the same way. name:
    what errors and notes call the word (the CLI's option). With model (the one a and b were
    run through), also its vector in context after each layer."""
    (i, note_a), (j, note_b) = find_one(a, word, f"{name} (in TEXT_A)"), find_one(
        b, word, f"{name} (in TEXT_B)")
    outs_a = [hs.steps.output[i] for hs in a.heads]  # each (d_v,)
    outs_b = [hs.steps.output[j] for hs in b.heads]
    stream: list[float] | None = None
    if model is not None:
        hidden_a = model.hidden_states([t.id for t in a.tokens], float64=True)  # (n, d_model)s
        hidden_b = model.hidden_states([t.id for t in b.tokens], float64=True)
        stream = [cosine(u[i], v[j]) for u, v in zip(hidden_a, hidden_b, strict=True)]
    return Comparison(
        word=word,
        a=a,
        b=b,
        index_a=i,
        index_b=j,
        head_cosines=[cosine(u, v) for u, v in zip(outs_a, outs_b, strict=True)],
        cosine=cosine(np.concatenate(outs_a), np.concatenate(outs_b)),
        input_cosine=cosine(a.heads[0].steps.x[i], b.heads[0].steps.x[j]),
        notes=tuple(note for note in (note_a, note_b) if note),
        embedding_cosine=None if stream is None else stream[0],
        layer_cosines=None if stream is None else stream[1:],
    )
