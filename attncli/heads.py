"""Every head at a glance: which head links one word to another, and what each head does.

Pure numpy over an Explanation's heads; `attn heads` renders it or dumps it as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attncli.errors import AttnError
from attncli.explain import Explanation
from attncli.lookup import find_one

# What a head mostly does, judged by where its weight goes on average.
PATTERNS = {
    "self": "each token attends to itself",
    "previous": "each token attends to the token before it",
    "next": "each token attends to the token after it",
    "first": "every token attends to the first token",
    "last": "every token attends to the last token",
    "mixed": "no single pattern holds most of the weight",
}
MIXED_BELOW = 0.4  # a pattern must hold at least this much of the average weight to name it


@dataclass(frozen=True)
class Link:
    """One attention weight: in head (layer, head), query token `src` gives `weight` to `dst`."""

    layer: int
    head: int
    src: int
    dst: int
    weight: float


@dataclass(frozen=True)
class HeadPattern:
    """A head's strongest pattern, how much weight it holds, and its strongest word link."""

    layer: int
    head: int
    pattern: str  # a key of PATTERNS
    score: float  # the average weight that pattern holds
    link: Link | None  # the largest weight between two different, real (non-special) tokens


@dataclass(frozen=True)
class Overview:
    """The grid of layers × heads for one explanation."""

    ex: Explanation
    layers: list[int]  # the grid's rows
    heads: list[int]  # the grid's columns
    grid: np.ndarray | None  # (layers, heads) weight from src to dst, with a pair
    src: int | None
    dst: int | None
    top: list[Link]  # the heads that link src to dst most, or the strongest links overall
    patterns: list[list[HeadPattern]]  # [layer][head]
    notes: tuple[str, ...] = ()  # e.g. which of a repeated word --from or --to took


def pattern(weights: np.ndarray) -> tuple[str, float]:
    """Name what a head's (n, n) weights mostly do, and the average weight that holds."""
    n = len(weights)
    scores = {
        "self": float(np.mean(np.diag(weights))),
        "first": float(np.mean(weights[:, 0])),
        "last": float(np.mean(weights[:, -1])),
    }
    if n > 1:
        scores["previous"] = float(np.mean(np.diag(weights, k=-1)))
        scores["next"] = float(np.mean(np.diag(weights, k=1)))
    name = max(scores, key=lambda k: scores[k])
    return (name, scores[name]) if scores[name] >= MIXED_BELOW else ("mixed", scores[name])


def overview(ex: Explanation, src_word: str | None = None, dst_word: str | None = None,
             top: int = 5) -> Overview:
    """Summarise every head of an explanation, for one word pair or in general."""
    if (src_word is None) != (dst_word is None):
        raise AttnError("--from and --to go together")
    layers = sorted({hs.layer for hs in ex.heads})
    heads = sorted({hs.head for hs in ex.heads})
    row, col = {v: i for i, v in enumerate(layers)}, {v: i for i, v in enumerate(heads)}
    real = [i for i, t in enumerate(ex.tokens) if t.end > t.start]  # not [CLS], BOS…
    patterns: list[list[HeadPattern]] = [[] for _ in layers]
    links: list[Link] = []
    for hs in ex.heads:
        w = hs.steps.weights  # (n, n)
        name, score = pattern(w)
        best = None
        if len(real) > 1:
            sub = w[np.ix_(real, real)].copy()
            np.fill_diagonal(sub, -1.0)  # a token attending to itself is not a link
            i, j = np.unravel_index(int(np.argmax(sub)), sub.shape)
            best = Link(hs.layer, hs.head, real[i], real[j], float(sub[i, j]))
            links.append(best)
        patterns[row[hs.layer]].append(HeadPattern(hs.layer, hs.head, name, score, best))
    if src_word is None:
        links.sort(key=lambda link: -link.weight)
        return Overview(ex, layers, heads, None, None, None, links[:top], patterns)

    (src, note_src), (dst, note_dst) = find_one(ex, src_word, "--from"), find_one(ex, dst_word,
                                                                                 "--to")
    grid = np.zeros((len(layers), len(heads)))  # (layers, heads)
    for hs in ex.heads:
        grid[row[hs.layer], col[hs.head]] = hs.steps.weights[src, dst]
    order = sorted(ex.heads, key=lambda hs: -hs.steps.weights[src, dst])[:top]
    best = [Link(hs.layer, hs.head, src, dst, float(hs.steps.weights[src, dst])) for hs in order]
    notes = tuple(note for note in (note_src, note_dst) if note)
    return Overview(ex, layers, heads, grid, src, dst, best, patterns, notes)
