"""ALiBi (Press et al. 2022): no position vectors, a bias on each score by distance instead.

Head h adds slope_h · (key − query) to every scaled score: 0 for the token itself, lower the
further back the key stands, so each head prefers near keys, some (large slopes) far more
than others. BLOOM and MPT add slope_h · key position (MPT: minus the last position) instead,
which differs from slope_h · (key − query) by the same number along a whole row: the softmax
gives the same weights, and attncli shows the distance form, the one the paper teaches.
"""

from __future__ import annotations

import math

import numpy as np

from attncli.attention import Variant


def bloom_slopes(heads: int) -> np.ndarray:
    """(heads,) float32 slopes as BLOOM makes them: for the nearest power of two p below
    heads, 2^(-8/p), its square, … (p of them); the rest from 2p's series, every other one."""
    p = 2 ** math.floor(math.log2(heads))
    base = np.float64(np.float32(2 ** (-(2 ** -(math.log2(p) - 3)))))
    slopes = base ** np.arange(1, p + 1, dtype=np.float64)  # float32 pow, rounded once
    if p != heads:
        extra = np.float64(np.float32(2 ** (-(2 ** -(math.log2(2 * p) - 3)))))
        rest = min(p, heads - p)
        slopes = np.concatenate([slopes, extra ** np.arange(1, 1 + 2 * rest, 2,
                                                           dtype=np.float64)])
    return slopes.astype(np.float32)


def mpt_slopes(heads: int, bias_max: float = 8.0) -> np.ndarray:
    """(heads,) float32 slopes as MPT makes them: 1 / 2^(i · bias_max / p) for i = 1…p, p the
    power of two at or above heads; with fewer heads, the odd ones then the even ones."""
    p = 2 ** math.ceil(math.log2(heads))
    base = (np.arange(1, p + 1, dtype=np.float32) * np.float32(bias_max / p)).astype(np.float32)
    slopes = (np.float32(1.0) / np.power(np.float32(2), base)).astype(np.float32)
    if p != heads:
        slopes = np.concatenate([slopes[1::2], slopes[::2]])[:heads]
    return slopes


def alibi_variant(slopes: np.ndarray, n: int, dtype: type, mask: np.ndarray | None,
                  scale: float | None = None) -> Variant:
    """A layer's Variant: each head's bias slope · (key − query) over n tokens, in dtype, with
    the slopes kept beside it (each head's view shows its own), and the causal mask."""
    # (n, n) the key's position minus the query's
    distance: np.ndarray = (np.arange(n)[None, :] - np.arange(n)[:, None]).astype(dtype)
    bias = np.asarray(slopes, dtype=dtype)[:, None, None] * distance  # (heads, n, n)
    return Variant(scale=scale, score_bias=bias, alibi_slope=np.asarray(slopes), mask=mask)
