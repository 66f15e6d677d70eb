"""Why step 4 divides by √d_k, as an experiment: for random queries and keys, the spread of
q·k grows like √d_k, and the softmax of such scores puts nearly all of a row on one key;
divided by √d_k, the spread is back to about 1 whatever d_k is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attncli.attention import softmax

D_KS = (4, 64, 512)  # the sizes the lesson compares: a toy head, a real head, a wide one
ROWS = 512  # queries drawn for each d_k
KEYS = 8  # keys in each query's row, each drawn for that query alone


@dataclass(frozen=True)
class Spread:
    """q·k for random q and k (every entry drawn from N(0, 1)), for one d_k."""

    d_k: int
    raw_std: float  # the standard deviation of the ROWS × KEYS dot products q·k
    scaled_std: float  # the same, of q·k / √d_k
    raw_top: float  # a row's largest softmax weight, averaged over the rows, of q·k
    scaled_top: float  # the same, of q·k / √d_k

    @property
    def root(self) -> float:
        """√d_k, what raw_std grows like."""
        return float(np.sqrt(self.d_k))


def score_spread(d_ks: Sequence[int] = D_KS, seed: int = 0, rows: int = ROWS,
                 keys: int = KEYS) -> list[Spread]:
    """Draw, for each d_k, `rows` queries and `keys` keys for each of them, and measure the
    scores before and after the division by √d_k."""
    rng = np.random.default_rng(seed)
    out = []
    for d_k in d_ks:
        q = rng.standard_normal((rows, d_k))  # (rows, d_k)
        k = rng.standard_normal((rows, keys, d_k))  # (rows, keys, d_k): each query's own keys
        scores = np.einsum("rd,rkd->rk", q, k)  # (rows, keys) q·k
        scaled = scores / np.sqrt(d_k)  # (rows, keys)
        out.append(Spread(d_k, float(scores.std()), float(scaled.std()),
                          float(softmax(scores).max(axis=1).mean()),
                          float(softmax(scaled).max(axis=1).mean())))
    return out
