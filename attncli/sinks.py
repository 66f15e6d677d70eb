"""Attention sinks: a token most of a head's rows park their weight on, and the baseline a
token's weight is read against.

Pure numpy over one head's attention matrix. The terminal view of `attn explain` names each
head's sink; `attn heads` and `attn generate` read the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attncli.tokens import Token

SINK_ROW = 0.5  # a row parks on a token when it gives it more than this much of its weight


@dataclass(frozen=True)
class Sink:
    """An attention sink: most rows of a head park their weight on one token.

    `token` is its index; `rows` of the `of` rows (queries) that had a choice give it more
    than half their weight; `share` is the average weight it gets from the queries that may
    see it (the baseline of that token).
    """

    token: int
    rows: int
    of: int
    share: float


def baseline(weights: np.ndarray, dst: int, mask: np.ndarray | None = None) -> float:
    """The average weight token `dst` gets from every query that may see it.

    weights is a head's (n, n) attention (rows are queries); mask, (n, n) bool, is True where
    a query may not see a key (a causal model hides `dst` from the queries before it). A head
    in which every query looks at `dst` has a high baseline: its weight from any one word
    says little about that word. 0.0 if no query may see `dst`.
    """
    column = weights[:, dst]
    if mask is not None:
        column = column[~mask[:, dst]]
    return float(np.mean(column)) if column.size else 0.0


def attention_sink(weights: np.ndarray, tokens: list[Token],
                   mask: np.ndarray | None = None) -> Sink | None:
    """The token a head parks its weight on, if it has one: an attention sink.

    weights is the head's (n, n) attention, rows are queries; tokens its n tokens; mask, as in
    `baseline`, True where a query may not see a key. The candidates are the first token and
    the special tokens ([CLS], [SEP], BOS…: those that cover no characters of the text,
    end <= start). A candidate is a sink when at least half of the rows that have a choice
    (that may see two keys or more: not a decoder's first row) and may see it (a sliding
    window hides it from rows far after it) give it more than 50% of their weight; of several,
    the one more rows park on (then the larger share, then the earlier token). None when there
    is no sink, or no row has a choice (a single token).
    """
    free = np.ones(len(weights), dtype=bool) if mask is None else (~mask).sum(axis=1) > 1
    if len(weights) < 2 or not free.any():
        return None  # no row could have looked anywhere else
    best: Sink | None = None
    for i, t in enumerate(tokens):
        if i > 0 and t.end > t.start:  # neither the first token nor a special one
            continue
        # the rows that had a choice and may see this token (a sliding window hides it from
        # later rows: they cannot park on it, and do not count against it)
        sees = free if mask is None else free & ~mask[:, i]
        of = int(np.count_nonzero(sees))
        rows = int(np.count_nonzero(weights[sees, i] > SINK_ROW))
        if of == 0 or 2 * rows < of:
            continue
        found = Sink(i, rows, of, baseline(weights, i, mask))
        if best is None or (found.rows, found.share) > (best.rows, best.share):
            best = found
    return best
