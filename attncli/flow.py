"""What an attention weight leaves out, and how attention carries information across layers.

Two analyses over an Explanation's heads, in numpy:

- the norm-based measure (Kobayashi et al. 2020, "Attention is Not Only a Weight: Analyzing
  Transformers with Vector Norms"): ‖α_ij · f(x_j)‖, where f(x_j) = (x_j W_V + b_V) · W_O^h,
  W_O^h being the rows of W_O that take this head's output. It is what key j actually sends
  into the layer's output through the head; the bias of W_O is left out (it sends the same
  vector whatever the weights are).
- attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"):
  Â_l = 0.5 · (mean over heads of A_l) + 0.5 · I, rows renormalised; the rollout to layer l
  is Â_l · Â_(l−1) · … · Â_0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from attncli.attention_fast import Kept
from attncli.errors import AttnError
from attncli.explain import Explanation

# A sentence says "attention weight is not importance" for a key only when its weight share
# is at least GAP_POINTS above its norm share and at least GAP_RATIO times it.
GAP_POINTS = 0.2
GAP_RATIO = 2.0

Projection = Callable[[int], tuple[np.ndarray, np.ndarray | None]]  # layer -> (W_O, b_O)


# ---- weight against norm ----


def sent(v: np.ndarray, w_o_rows: np.ndarray) -> np.ndarray:
    """f(x_j) for every key j: (m, d_v) value rows (x W_V + b_V) @ (d_v, d_model) rows of W_O
    that take this head's output -> (m, d_model)."""
    return np.asarray(v, dtype=np.float64) @ np.asarray(w_o_rows, dtype=np.float64)


def weighted_norms(weights: np.ndarray, v: np.ndarray, w_o_rows: np.ndarray) -> np.ndarray:
    """(n, m) ‖α_ij · f(x_j)‖ for a head's (n, m) weights: α_ij · ‖f(x_j)‖, since α_ij ≥ 0."""
    lengths = np.linalg.norm(sent(v, w_o_rows), axis=1)  # (m,)
    return np.asarray(weights, dtype=np.float64) * lengths[None, :]


def shares(norms: np.ndarray) -> np.ndarray:
    """Each row of norms divided by its sum, so that it reads like a row of weights: the
    norm-based share ‖α_ij f(x_j)‖ / Σ_j ‖α_ij f(x_j)‖. A row of zeros stays zeros."""
    totals = norms.sum(axis=1, keepdims=True)  # (n, 1)
    return np.divide(norms, totals, out=np.zeros_like(norms), where=totals > 0)


def head_rows(w_o: np.ndarray, head: int, d_v: int, heads: int) -> np.ndarray:
    """The (d_v, d_model) rows of a layer's W_O that take one query head's output: the heads'
    outputs sit side by side in head order before W_O (step 6), so head h's are rows
    h·d_v to (h+1)·d_v. With grouped-query attention the value head is shared, W_O's rows
    are still the query head's own."""
    if w_o.shape[0] != heads * d_v:
        raise AttnError(f"W_O has {w_o.shape[0]} rows, not {heads} heads × {d_v} value "
                        "dimensions; the norm-based measure cannot split it by head")
    return w_o[head * d_v:(head + 1) * d_v]


def head_norms(ex: Explanation, projection: Projection | None = None) -> list[HeadNorms]:
    """The norm-based measure of every head of ex, in its order. projection gives a layer's
    W_O (a model's output_projection); without it, the W_O that joined ex's heads (seeded
    or file weights)."""
    if projection is None:
        if ex.joined is None:
            raise AttnError("these weights have no W_O (one head, and no w_o in the file): the "
                            "norm-based measure needs the output projection; use two heads "
                            "or more, or a weights file with w_o")
        joined = ex.joined
        projection = lambda _layer: (joined.w_o, joined.b_o)  # noqa: E731 - one layer
    out, cache = [], {}
    for hs in ex.heads:
        s = hs.steps
        if isinstance(s, Kept):
            raise AttnError("the norm-based measure needs every query's row of weights")
        if hs.layer not in cache:
            cache[hs.layer] = np.asarray(projection(hs.layer)[0], dtype=np.float64)
        rows = head_rows(cache[hs.layer], hs.head, s.v.shape[1], ex.config.heads)
        lengths = np.linalg.norm(sent(s.v, rows), axis=1)  # (m,)
        norms = s.weights * lengths[None, :]  # (n, m)
        row_shares = shares(norms)
        gap = head_gap(hs.layer, hs.head, s.weights, row_shares, s.mask)
        out.append(HeadNorms(hs.layer, hs.head, lengths, norms, row_shares,
                             gap if notable(gap) else None))
    return out


@dataclass(frozen=True)
class Gap:
    """Where a key's share of a head's weight most exceeds its share of the norm: both the
    averages over the queries that may see the key."""

    layer: int
    head: int
    token: int
    weight: float
    norm: float


def column_means(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(m,) each column's mean over the rows that may see it (True in mask: may not); 0.0
    where none may."""
    if mask is None:
        return values.mean(axis=0)
    sees = ~mask
    counts = sees.sum(axis=0)
    sums = np.where(sees, values, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.zeros(len(counts)), where=counts > 0)


@dataclass(frozen=True)
class HeadNorms:
    """One head's norm-based measure: what each key sends through it, weighted and not."""

    layer: int
    head: int
    value_norms: np.ndarray  # (m,) ‖f(x_j)‖ for each key j
    norms: np.ndarray  # (n, m) ‖α_ij f(x_j)‖
    shares: np.ndarray  # (n, m) each row of norms divided by its sum
    gap: Gap | None = None  # the key whose weight most exceeds its norm share, if notable


def head_gap(layer: int, head: int, weights: np.ndarray, norm_shares: np.ndarray,
             mask: np.ndarray | None = None) -> Gap:
    """The key whose average weight in a head most exceeds its average norm share (both over
    the queries that may see it), however small the gap."""
    weight = column_means(weights, mask)  # (m,)
    norm = column_means(norm_shares, mask)
    j = int(np.argmax(weight - norm))
    return Gap(layer, head, j, float(weight[j]), float(norm[j]))


def notable(gap: Gap | None) -> bool:
    """Whether a gap is worth a sentence: the weight at least GAP_POINTS above the norm share
    and at least GAP_RATIO times it."""
    return (gap is not None and gap.weight - gap.norm >= GAP_POINTS
            and gap.weight >= GAP_RATIO * gap.norm)


def largest_gap(norms: Sequence[HeadNorms]) -> Gap | None:
    """Over every head, the largest notable gap between weight and norm share (typically a
    sink: [CLS], [SEP], BOS); None if no head has one."""
    return max((hn.gap for hn in norms if hn.gap is not None),
               key=lambda g: g.weight - g.norm, default=None)


def with_shares(ex: Explanation, norms: Sequence[HeadNorms]) -> Explanation:
    """ex with each head's weights replaced by its norm shares, so that the heads overview
    (patterns, sinks, word pairs) reads the norm-based measure instead of the weights."""
    from dataclasses import replace

    heads = [replace(hs, steps=replace(hs.steps, weights=hn.shares))
             for hs, hn in zip(ex.heads, norms, strict=True)]
    return replace(ex, heads=heads, sinks={})


# ---- attention rollout ----


def residual_mix(mean: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Â = 0.5 · A + 0.5 · I, each row divided by its sum: the residual connection added to a
    layer's (n, n) head-averaged weights A. Where mask is True (a key the query may not see)
    Â is 0, as A is."""
    mixed = 0.5 * np.asarray(mean, dtype=np.float64) + 0.5 * np.eye(len(mean))
    if mask is not None:
        mixed = np.where(mask, 0.0, mixed)
    return mixed / mixed.sum(axis=1, keepdims=True)


def rollout(means: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None
            ) -> np.ndarray:
    """(L, n, n): [l] is the rollout to layer l, Â_l · Â_(l−1) · … · Â_0, from each layer's
    (n, n) head-averaged weights (layer 0 first) and its mask."""
    masks = [None] * len(means) if masks is None else masks
    out, rolled = [], None
    for mean, mask in zip(means, masks, strict=True):
        mixed = residual_mix(mean, mask)  # (n, n)
        rolled = mixed if rolled is None else mixed @ rolled  # layer l's on the left
        out.append(rolled)
    return np.stack(out)


@dataclass(frozen=True)
class Rollout:
    """Attention rollout for one query: how much of each input token reaches it, layer by
    layer."""

    query: int
    layers: list[int]  # 0 to L
    matrices: np.ndarray  # (L + 1, n, n) [l]: the rollout to layer l, every query's row
    rows: np.ndarray  # (L + 1, n) the query's row of each
    note: str | None = None  # which of a repeated word the query is

    @property
    def last(self) -> np.ndarray:
        """(n,) the query's row at the last layer."""
        return self.rows[-1]


def rollout_of(ex: Explanation, query: int, note: str | None = None) -> Rollout:
    """The rollout of ex's heads for one query token. It needs every head of every layer from
    0 up to the last shown (the mean over heads is over all of them) and a square attention
    (self-attention, not cross)."""
    if ex.cross:
        raise AttnError("rollout follows self-attention from layer to layer; cross-attention's "
                        "keys are another text's tokens")
    layers = sorted({hs.layer for hs in ex.heads})
    if layers != list(range(len(layers))):
        raise AttnError(f"rollout needs every layer from 0 to {layers[-1]}; the layers shown "
                        f"are {', '.join(map(str, layers))}")
    by_layer: dict[int, list] = {}
    for hs in ex.heads:
        if isinstance(hs.steps, Kept):
            raise AttnError("rollout needs every query's row of weights")
        by_layer.setdefault(hs.layer, []).append(hs.steps)
    n = len(ex.tokens)
    if any(len(steps) != ex.config.heads for steps in by_layer.values()):
        raise AttnError(f"rollout averages all {ex.config.heads} heads of each layer; only "
                        f"{len(by_layer[layers[0]])} are shown")
    from attncli.files import check_memory

    check_memory(2 * len(layers) * n * n * 8, f"the rollout of {len(layers)} layers × "
                                              f"{n}×{n} tokens")
    means = [np.mean([s.weights for s in by_layer[i]], axis=0) for i in layers]  # (n, n) each
    masks = [by_layer[i][0].mask for i in layers]
    matrices = rollout(means, masks)
    return Rollout(query, layers, matrices, matrices[:, query, :].copy(), note)
