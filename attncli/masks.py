"""Why the mask hides a key from a query: the later token (causal), the sliding window (too
far back), or the model's own mask. Pure functions of one head's Steps, so that every view
and the JSON give the same reason for the same entry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attncli.attention import Steps, causal_mask

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
    if steps.mask is None or not steps.mask[steps.at(i), j]:
        return None
    if steps.source is None and j > i:
        return MaskReason(CAUSAL, i, j)
    window = steps.sliding_window
    if window is not None and i - j >= window:
        return MaskReason(SLIDING_WINDOW, i, j, window)
    return MaskReason(MODEL, i, j)


def row_kinds(steps: Steps, i: int) -> list[str]:
    """The kinds of reason that hide keys from query i, in ORDER; empty when it sees every key."""
    if steps.mask is None:
        return []
    return _kinds(steps, np.array([i]), np.asarray(steps.mask)[steps.at(i)][None, :])


def kinds(steps: Steps) -> list[str]:
    """The kinds of reason that hide some key in the rows steps holds."""
    if steps.mask is None:
        return []
    rows = np.arange(len(steps.q)) if steps.rows is None else steps.rows
    return _kinds(steps, rows, np.asarray(steps.mask))


def _kinds(steps: Steps, rows: np.ndarray, hidden: np.ndarray) -> list[str]:
    """reason()'s kinds over the queries `rows`, whose mask rows are hidden (r, m), at once."""
    back = rows[:, None] - np.arange(hidden.shape[1])  # (r, m) how far back each key is
    later = hidden & (back < 0) if steps.source is None else np.zeros_like(hidden)
    window = steps.sliding_window
    slid = hidden & ~later & (back >= window) if window is not None else np.zeros_like(hidden)
    other = hidden & ~later & ~slid
    return [k for k, found in ((CAUSAL, later), (SLIDING_WINDOW, slid), (MODEL, other))
            if found.any()]


def mask_kind(steps: Steps) -> str:
    """The head's mask: NONE, SLIDING_WINDOW (causal too, and its window), CAUSAL, or MODEL
    when it is neither (a mask by another rule)."""
    if steps.mask is None:
        return NONE
    if steps.sliding_window is not None:
        return SLIDING_WINDOW
    rows = np.arange(len(steps.q)) if steps.rows is None else steps.rows
    if steps.source is None and np.array_equal(steps.mask, causal_mask(len(steps.k), rows)):
        return CAUSAL
    return MODEL
