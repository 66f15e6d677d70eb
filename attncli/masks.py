"""Why the mask hides a key from a query: the later token (causal), the sliding window (too
far back), or the model's own mask. Pure functions of one head's Steps, so that every view
and the JSON give the same reason for the same entry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attncli.attention import Steps
from attncli.attention_fast import BLOCK, causal_rows, row_of, rows_of

CAUSAL = "causal"  # the key comes after the query
SLIDING_WINDOW = "sliding_window"  # the key is `window` or more places before the query
MODEL = "model"  # the model's own mask, by no rule above
NONE = "none"  # a head without a mask
ORDER = (CAUSAL, SLIDING_WINDOW, MODEL)  # the order in which reasons are listed


@dataclass(frozen=True)
class MaskReason:
    """Why key `key` is hidden from query `query`."""

    kind: str  # CAUSAL, SLIDING_WINDOW or MODEL
    query: int
    key: int
    window: int | None = None  # the layer's sliding window, for SLIDING_WINDOW

    @property
    def distance(self) -> int:
        """How many places before the query the key stands (negative: after it)."""
        return self.query - self.key


def reason(steps: Steps, i: int, j: int) -> MaskReason | None:
    """Why query i may not see key j in this head, or None when it may."""
    if steps.mask is None or not steps.mask[row_of(steps, i), j]:
        return None
    if steps.source is None and j > i:
        return MaskReason(CAUSAL, i, j)
    window = steps.variant.window
    if window is not None and i - j >= window:
        return MaskReason(SLIDING_WINDOW, i, j, window)
    return MaskReason(MODEL, i, j)


def row_kinds(steps: Steps, i: int) -> list[str]:
    """The kinds of reason that hide keys from query i, in ORDER; empty when it sees every key."""
    if steps.mask is None:
        return []
    return _kinds(steps, np.array([i]), np.asarray(steps.mask)[row_of(steps, i)][None, :])


def kinds(steps: Steps, first: int | None = None) -> list[str]:
    """The kinds of reason that hide some key in the rows steps holds (only the first
    `first` of them, when given: what a table draws)."""
    if steps.mask is None:
        return []
    rows = rows_of(steps)[:first]
    return _kinds(steps, rows, np.asarray(steps.mask)[: len(rows)])


def _kinds(steps: Steps, rows: np.ndarray, hidden: np.ndarray) -> list[str]:
    """reason()'s kinds over the queries `rows`, whose mask rows are hidden (r, m), a block of
    rows at a time (bool blocks only: memory stays small for a long text)."""
    found: set[str] = set()
    keys = np.arange(hidden.shape[1])  # (m,)
    window = steps.variant.window
    for start in range(0, len(rows), BLOCK):
        block, at = hidden[start:start + BLOCK], rows[start:start + BLOCK, None]  # (b, m), (b, 1)
        later = block & (keys > at) if steps.source is None else np.zeros_like(block)
        slid = (block & ~later & (keys <= at - window) if window is not None
                else np.zeros_like(block))
        found.update(k for k, hit in ((CAUSAL, later), (SLIDING_WINDOW, slid),
                                      (MODEL, block & ~later & ~slid)) if hit.any())
    return [k for k in ORDER if k in found]


def mask_kind(steps: Steps) -> str:
    """The head's mask: NONE, SLIDING_WINDOW (causal too, and its window), CAUSAL, or MODEL
    when it is neither (a mask by another rule)."""
    if steps.mask is None:
        return NONE
    if steps.variant.window is not None:
        return SLIDING_WINDOW
    if steps.source is not None:
        return MODEL
    rows = rows_of(steps)
    same = all(np.array_equal(steps.mask[start:start + BLOCK],
                              causal_rows(len(steps.k), rows[start:start + BLOCK]))
               for start in range(0, len(rows), BLOCK))
    return CAUSAL if same else MODEL
