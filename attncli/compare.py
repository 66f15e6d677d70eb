"""One word in two contexts: where it looks in each, and how far its vector moved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.errors import AttnError, RoleError
from attncli.explain import Explanation
from attncli.lookup import LISTED, find_one
from attncli.safe_text import visible

if TYPE_CHECKING:
    from attncli.models.base import Model


@dataclass(frozen=True)
class Toward:
    """How near the word came to another word's value vector, before and after attention.

    Attention makes the word's output a weighted sum of value vectors, so the more it attends
    to a word, the nearer its output points to that word's value. All heads' vectors are
    joined end to end, as for Comparison.cosine."""

    word: str  # the other word, as named
    side: str  # "a" or "b": the sentence whose token gives the value (A when both hold it)
    index: int  # that token
    value_a: float  # cosine of that value with the word's own value in A (before attention)
    output_a: float  # … with the word's output in A (after attention)
    value_b: float  # the same two in B
    output_b: float


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
    toward: tuple[Toward, ...] = ()  # other words' values the output is measured against

    def nearest(self, side: str) -> tuple[list[str], float]:
        """The toward words whose value the output in side ("a" or "b") is nearest (all that
        tie), and that cosine."""
        cosines = [getattr(t, f"output_{side}") for t in self.toward]
        top = max(cosines)
        return [t.word for t, c in zip(self.toward, cosines, strict=True) if c == top], top


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


def compare(a: Explanation, b: Explanation, word: str, model: Model | None = None,
            toward: Sequence[str] = ()) -> Comparison:
    """Compare the word's attention and output in two explanations made the same way. With
    model (the one a and b were run through), also its vector in context after each layer.
    toward: other words (each in A or B) whose value vectors the word's value and output are
    measured against. Errors and notes name the words' roles: word_a, word_b and toward."""
    (i, note_a), (j, note_b) = find_one(a, word, "word_a"), find_one(b, word, "word_b")
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
        toward=tuple(_toward(a, b, i, j, other) for other in toward),
    )


def _joined(ex: Explanation, row: str, i: int) -> np.ndarray:
    """Token i's row of "v" or "output", every head's joined end to end."""
    return np.concatenate([getattr(hs.steps, row)[i] for hs in ex.heads])  # (heads·d_v,)


def _toward(a: Explanation, b: Explanation, i: int, j: int, other: str) -> Toward:
    for side, ex in (("a", a), ("b", b)):
        try:
            k, _ = find_one(ex, other, "toward")
        except AttnError:
            continue
        value = _joined(ex, "v", k)
        return Toward(word=other, side=side, index=k,
                      value_a=cosine(_joined(a, "v", i), value),
                      output_a=cosine(_joined(a, "output", i), value),
                      value_b=cosine(_joined(b, "v", j), value),
                      output_b=cosine(_joined(b, "output", j), value))
    listed_a, listed_b = _listed(a), _listed(b)
    raise RoleError(lambda n: f"{n('toward')} {visible(other)!r} names no token of either "
                              f"sentence (A: {listed_a}; B: {listed_b})")


def _listed(ex: Explanation) -> str:
    more = f", … ({len(ex.labels) - LISTED} more)" if len(ex.labels) > LISTED else ""
    return ", ".join(visible(label.strip()) for label in ex.labels[:LISTED]) + more
