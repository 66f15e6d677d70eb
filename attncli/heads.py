"""Every head at a glance: which head links one word to another, and what each head does.

Pure numpy over an Explanation's heads; `attn heads` renders it or dumps it as JSON.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from attncli.attention import Steps
from attncli.attention_fast import HeadSteps
from attncli.errors import RoleError
from attncli.explain import Explanation
from attncli.lookup import find_one
from attncli.roles import ROLES, Roles, offset_score, role_scores
from attncli.sinks import SINK_ROW, Sink, attention_sink, baseline
from attncli.tokens import Token

# What a head mostly does, judged by where its weight goes on average.
PATTERNS = {
    "self": "each token attends to itself",
    "previous": "each token attends to the token before it",
    "next": "each token attends to the token after it",
    "first": "every token attends to the first token",
    "last": "every token attends to the last token",
    "sink": ("a token with nothing useful to find parks its weight on a special or first "
             "token: an attention sink"),
    "mixed": "no single pattern holds most of the weight",
}
MIXED_BELOW = 0.4  # a pattern must hold at least this much of the average weight to name it
POSITIONAL = ("self", "previous", "next")  # head patterns set by position, not by the words
# What one query's row does, for a link from it (link_kind): position, a sink, or the words.
KINDS = {
    "positional": "its head attends by position (pattern self, previous or next), or the "
                  "row's largest weight falls on the query itself or a neighbouring token",
    "sink": "the row gives more than half its weight to the first or a special token",
    "content": "neither: the row looks past its neighbours at the words themselves",
}
MEANING_ABOVE = 0.1  # a content link must rise this far above its baseline to teach meaning


@dataclass(frozen=True)
class Link:
    """One attention weight: in head (layer, head), query token `src` gives `weight` to `dst`.

    `baseline`, with a word pair, is what `dst` gets on average from every query that may see
    it in that head: a weight near it says nothing in particular about `src`.
    """

    layer: int
    head: int
    src: int
    dst: int
    weight: float
    baseline: float | None = None
    pattern: str | None = None  # the head's pattern (a key of PATTERNS), where judged
    kind: str | None = None  # what src's row does (a key of KINDS), where judged
    role: str | None = None  # the head's strongest role (roles.ROLES or "mixed"), where judged
    # the head's mean weight dst − src places from each query (roles.offset_score), where
    # judged in self-attention: what position alone gives a word that far
    at_distance: float | None = None

    @property
    def specificity(self) -> float:
        """How far the weight rises above its baseline (the weight, without a baseline)."""
        return self.weight - (self.baseline or 0.0)



@dataclass(frozen=True)
class HeadPattern:
    """A head's strongest pattern, how much weight it holds, and its strongest word link."""

    layer: int
    head: int
    pattern: str  # a key of PATTERNS
    score: float  # the average weight that pattern holds
    link: Link | None  # the largest weight between two different, real (non-special) words
    sink: Sink | None  # the token it parks on, when pattern is "sink"
    roles: Roles  # every role score, and the strongest role (roles.py)


@dataclass(frozen=True)
class Overview:
    """The grid of layers × heads for one explanation."""

    ex: Explanation
    layers: list[int]  # the grid's rows
    heads: list[int]  # the grid's columns
    grid: np.ndarray | None  # (layers, heads) weight from src to dst, with a pair
    src: int | None
    dst: int | None
    top: list[Link]  # with a pair, the heads whose weight rises most above its baseline;
    # without, each head's most specific content link between two different words, most
    # specific first (positional and sink rows left out: see link_kind)
    patterns: list[list[HeadPattern]]  # [layer][head]
    notes: tuple[str, ...] = ()  # e.g. which of a repeated word the query or key took
    baseline: np.ndarray | None = None  # (layers, heads) what dst gets on average, with a pair

    @property
    def sink_tokens(self) -> list[tuple[int, int]]:
        """(token, heads) for each token the sinks park on: most heads first, then by token."""
        counts = Counter(p.sink.token for row in self.patterns for p in row
                         if p.sink is not None)
        return sorted(counts.items(), key=lambda c: (-c[1], c[0]))


def pair_grid(ex: Explanation, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """(layers, heads) the weight src gives dst in each head shown, and dst's baseline there
    (what it gets on average from every query that may see it); rows and columns in order."""
    layers = sorted({hs.layer for hs in ex.heads})
    heads = sorted({hs.head for hs in ex.heads})
    row, col = {v: i for i, v in enumerate(layers)}, {v: i for i, v in enumerate(heads)}
    grid = np.zeros((len(layers), len(heads)))
    base = np.zeros((len(layers), len(heads)))
    for hs in ex.heads:
        grid[row[hs.layer], col[hs.head]] = hs.steps.weights[src, dst]
        base[row[hs.layer], col[hs.head]] = baseline(hs.steps.weights, dst, hs.steps.mask)
    return grid, base


def sink_candidates(tokens: list[Token]) -> list[int]:
    """Where a sink can park: the first token and the special ones ([CLS], [SEP], BOS…: those
    that cover no characters of the text)."""
    return [i for i, t in enumerate(tokens) if i == 0 or t.end <= t.start]


def link_kind(row: np.ndarray, src: int, sinks: list[int], head_pattern: str,
              cross: bool = False, head_role: str | None = None) -> str:
    """What query src's row of weights does, as a key of KINDS: whether a link from it can
    teach what the words mean.

    row is the query's (m,) weights in one head; sinks the keys a sink can park on
    (sink_candidates); head_pattern the head's pattern (pattern(), or "sink"). In order:
    "positional" when the head's pattern is self, previous or next, "sink" when the row gives
    one sink candidate more than SINK_ROW, "positional" when the row's largest weight falls on
    src itself or a neighbour (src − 1, src + 1: a [SEP] after the last word too); else
    "content". head_role, the head's strongest role (roles.py), counts as the pattern does:
    a previous, next or self head is positional. (Not a fixed-offset head: in a short text
    a head that links words by meaning can hold its weight k places away.) A sink head's row
    that does not park is content: it found something. For cross-attention (the keys are
    another text's) the positions are not comparable, so only the sink test applies.
    """
    if not cross and (head_pattern in POSITIONAL or head_role in POSITIONAL):
        return "positional"
    if sinks and float(np.max(row[sinks])) > SINK_ROW:
        return "sink"
    if not cross and abs(int(np.argmax(row)) - src) <= 1:
        return "positional"
    return "content"


def row_kinds(weights: np.ndarray, sinks: list[int], head_pattern: str,
              cross: bool = False, head_role: str | None = None) -> np.ndarray:
    """link_kind for every row of a head's (n, m) weights at once, row i's query being token
    i: (n,) object array of KINDS keys."""
    n = len(weights)
    kinds = np.full(n, "content", dtype=object)
    if not cross:  # the largest weight on the query itself or a neighbour
        kinds[np.abs(np.argmax(weights, axis=1) - np.arange(n)) <= 1] = "positional"
    if sinks:  # more than SINK_ROW on one sink candidate: it comes before the row's largest
        kinds[weights[:, sinks].max(axis=1) > SINK_ROW] = "sink"
    if not cross and (head_pattern in POSITIONAL or head_role in POSITIONAL):
        kinds[:] = "positional"
    return kinds


def baselines(weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(m,) baseline() of every key at once: each column's mean over the queries that may see
    it (0.0 where none may)."""
    if mask is None:
        return weights.mean(axis=0)
    sees = ~mask  # (n, m)
    counts = sees.sum(axis=0)  # (m,)
    sums = np.where(sees, weights, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.zeros(len(counts)), where=counts > 0)


def pair_links(ex: Explanation, src: int, dst: int) -> list[Link]:
    """Each head's link from src to dst, in the heads' order: weight, dst's baseline, the
    head's pattern and what src's row does there (link_kind)."""
    sinks = sink_candidates(ex.keys.tokens)
    links = []
    for hs in ex.heads:
        w = hs.steps.weights  # (n, m)
        name = _head_pattern(ex, hs, w)[0]
        role = head_roles(ex, hs).role
        links.append(Link(hs.layer, hs.head, src, dst, float(w[src, dst]),
                          baseline(w, dst, hs.steps.mask), name,
                          link_kind(w[src], src, sinks, name, ex.cross, role), role))
    return links


def teachable(links: list[Link]) -> Link | None:
    """The content link (link_kind) that rises furthest above its baseline, if it rises at
    least MEANING_ABOVE: a link that says something about the words, not their places. None
    when every strong link is positional or parks on a sink."""
    best = max((link for link in links if link.kind == "content"),
               key=lambda link: link.specificity, default=None)
    return best if best is not None and best.specificity >= MEANING_ABOVE else None


def pattern_counts(ov: Overview) -> list[tuple[str, int]]:
    """(pattern, heads) for each pattern the heads show, most heads first, then PATTERNS'
    order."""
    counts = Counter(p.pattern for row in ov.patterns for p in row)
    order = list(PATTERNS)
    return sorted(counts.items(), key=lambda c: (-c[1], order.index(c[0])))


def pattern(weights: np.ndarray, cross: bool = False) -> tuple[str, float]:
    """Name what a head's (n, n) weights mostly do, and the average weight that holds. For
    cross-attention ((n, m): the keys are another text's tokens) only first and last apply."""
    n = len(weights)
    scores = {
        "first": float(np.mean(weights[:, 0])),
        "last": float(np.mean(weights[:, -1])),
    }
    if not cross:
        scores["self"] = float(np.mean(np.diag(weights)))
    if n > 1 and not cross:
        scores["previous"] = float(np.mean(np.diag(weights, k=-1)))
        scores["next"] = float(np.mean(np.diag(weights, k=1)))
    name = max(scores, key=lambda k: scores[k])
    return (name, scores[name]) if scores[name] >= MIXED_BELOW else ("mixed", scores[name])


def same_word(text: str, a: Token, b: Token) -> bool:
    """Whether two tokens are pieces of one whitespace-delimited word of text.

    They are when the stretch from the earlier token's first character to the later one's
    last, leading and trailing spaces left aside, holds no whitespace: BERT's "didn", "'"
    and "t" are one word ("didn't"); GPT-2's " animal" and " did" are not. A special token
    ([CLS]: no characters) or a token of only whitespace is no piece of any word.
    """
    for t in (a, b):
        if t.end <= t.start or not text[t.start:t.end].strip():
            return False
    start, end = min(a.start, b.start), max(a.end, b.end)
    stretch = text[start:end].strip()
    return not any(ch.isspace() for ch in stretch)


def word_ids(text: str, tokens: list[Token]) -> np.ndarray:
    """One number per token, equal for tokens that are pieces of one word (see same_word).

    The number is how much whitespace of text lies before the token's first non-space
    character; a special or whitespace-only token, or one with whitespace inside, gets a
    negative number of its own. Fast for long texts: `same_word` for every pair at once.
    """
    spaces = np.concatenate([[0], np.cumsum([ch.isspace() for ch in text], dtype=np.int64)])
    ids = np.empty(len(tokens), dtype=np.int64)
    for i, t in enumerate(tokens):
        piece = text[t.start:t.end]
        core_start = t.start + len(piece) - len(piece.lstrip())
        core_end = t.start + len(piece.rstrip())
        whole = t.end > t.start and core_end > core_start
        if whole and spaces[core_start] == spaces[core_end]:  # no whitespace inside
            ids[i] = spaces[core_start]
        else:
            ids[i] = -1 - i
    return ids


def _head_pattern(ex: Explanation, hs: HeadSteps, weights: np.ndarray
                  ) -> tuple[str, float, Sink | None]:
    name, score = pattern(weights, cross=ex.cross)
    sink = attention_sink(weights, ex.keys.tokens, hs.steps.mask)
    # a sink on the first or last token is that pattern told more exactly; it gives way only
    # to a pattern (self, previous…) that holds more of the average weight
    if sink is not None and sink.share >= score - 1e-12:
        return "sink", sink.share, sink
    return name, score, None


def head_roles(ex: Explanation, hs: HeadSteps) -> Roles:
    """One head's role scores (roles.role_scores) over the keys' tokens, its mask respected."""
    return role_scores(hs.steps.weights, ex.keys.tokens, ex.keys.text, hs.steps.mask, ex.cross)


def by_role(ov: Overview, role: str) -> list[HeadPattern]:
    """The heads whose strongest role is `role` (a key of ROLES), highest score first, then
    in grid order."""
    check_role(role)
    found = [p for row in ov.patterns for p in row if p.roles.role == role]
    return sorted(found, key=lambda p: -p.roles.score)


def check_role(role: str) -> None:
    """Refuse a role that is not a key of ROLES, naming them all."""
    if role not in ROLES:
        raise RoleError(lambda names: f"{names('role')}: unknown role {role!r} (roles: "
                        f"{', '.join(ROLES)})")


def best_for(ov: Overview, role: str) -> HeadPattern | None:
    """The head with the highest score for `role` (None if no head has one)."""
    scored = [(score, p) for row in ov.patterns for p in row
              if (score := p.roles.scores[role]) is not None]
    best = max(scored, key=lambda sp: sp[0], default=None)
    return None if best is None else best[1]


def role_counts(ov: Overview) -> list[tuple[str, int]]:
    """(role, heads) for each strongest role the heads show, most heads first, then ROLES'
    order ("mixed" last)."""
    counts = Counter(p.roles.role for row in ov.patterns for p in row)
    order = [*ROLES, "mixed"]
    return sorted(counts.items(), key=lambda c: (-c[1], order.index(c[0])))


def _most_specific(ex: Explanation, steps: Steps, name: str, real: list[int], keys: list[int],
                   apart: np.ndarray, sinks: list[int], role: str | None = None
                   ) -> Link | None:
    """One head's content link between two different words that rises furthest above its
    baseline (layer and head left 0 for the caller to set); None if every row is positional
    or a sink."""
    w = steps.weights  # (n, m)
    content = row_kinds(w, sinks, name, ex.cross, role)[real] == "content"  # (real,)
    if not (apart & content[:, None]).any():
        return None
    base = baselines(w, steps.mask)  # (m,)
    spec = np.where(apart & content[:, None], w[np.ix_(real, keys)] - base[keys], -np.inf)
    i, j = np.unravel_index(int(np.argmax(spec)), spec.shape)
    src, dst = real[i], keys[j]
    at_distance = None if ex.cross else offset_score(w, dst - src, steps.mask)
    return Link(0, 0, src, dst, float(w[src, dst]), float(base[dst]), name, "content", role,
                at_distance)


def overview(ex: Explanation, src_word: str | None = None, dst_word: str | None = None,
             top: int = 5) -> Overview:
    """Summarise every head of an explanation, for one word pair or in general. Errors and
    notes name the two words by their roles, query and key."""
    if (src_word is None) != (dst_word is None):
        raise RoleError(lambda n: f"{n('query')} and {n('key')} go together")
    layers = sorted({hs.layer for hs in ex.heads})
    heads = sorted({hs.head for hs in ex.heads})
    row = {v: i for i, v in enumerate(layers)}
    real = [i for i, t in enumerate(ex.tokens) if t.end > t.start]  # not [CLS], BOS…
    keys = [j for j, t in enumerate(ex.keys.tokens) if t.end > t.start]
    if ex.cross:  # a target word and a source word are always two words
        apart = np.ones((len(real), len(keys)), dtype=bool)
    else:
        words = word_ids(ex.text, ex.tokens)[real]  # "didn", "'", "t": one word, so no link
        apart = words[:, None] != words[None, :]  # (real, real) True between different words
    sinks = sink_candidates(ex.keys.tokens)
    patterns: list[list[HeadPattern]] = [[] for _ in layers]
    links: list[Link] = []
    for hs in ex.heads:
        w = hs.steps.weights  # (n, n)
        name, score, sink = _head_pattern(ex, hs, w)
        roles = head_roles(ex, hs)
        best = None
        if apart.any():
            sub = np.where(apart, w[np.ix_(real, keys)], -1.0)  # itself is never apart
            i, j = np.unravel_index(int(np.argmax(sub)), sub.shape)
            best = Link(hs.layer, hs.head, real[i], keys[j], float(sub[i, j]))
            found = _most_specific(ex, hs.steps, name, real, keys, apart, sinks, roles.role)
            if found is not None:
                links.append(replace(found, layer=hs.layer, head=hs.head))
        patterns[row[hs.layer]].append(HeadPattern(hs.layer, hs.head, name, score, best, sink,
                                                   roles))
    if src_word is None or dst_word is None:  # both, checked above
        links.sort(key=lambda link: -link.specificity)
        return Overview(ex, layers, heads, None, None, None, links[:top], patterns)

    (src, note_src) = find_one(ex, src_word, "query")
    (dst, note_dst) = find_one(ex.keys, dst_word, "key")  # a source word, for cross-attention
    grid, base = pair_grid(ex, src, dst)  # (layers, heads) each
    pair = pair_links(ex, src, dst)
    # the most specific links first: a head in which every query looks at dst links nothing
    # to it in particular, however large its weight
    pair.sort(key=lambda link: -link.specificity)
    notes = tuple(note for note in (note_src, note_dst) if note)
    return Overview(ex, layers, heads, grid, src, dst, pair[:top], patterns, notes, base)
