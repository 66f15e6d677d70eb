"""Every head's per-text scores at once: role scores, entropy and the share on special tokens.

roles.role_scores scores one head; a corpus scores every head of every text, so this is its
batched form over a layer's heads (H, n, m), with the same definitions and the same helpers:
the masks, the rows with a choice and the keys each score reads are worked out once per text,
and the tests check it equals role_scores head by head. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attncli.heads import sink_candidates
from attncli.roles import (
    ROLES,
    Roles,
    _diagonal,
    _raw,
    is_punctuation,
    is_special,
    strongest,
)
from attncli.tokens import Token

# the per-text statistics a record holds for each head, beside the role scores
EXTRA = {
    "entropy": "the mean over rows with a choice of the row's entropy, in nats, over the keys "
               "it may see",
    "special_weight": "the mean total attention weight on the first token and the special "
                      "tokens ([CLS], [SEP], BOS: those covering no characters)",
    "special_norm": "the same, in norm-based shares ‖α f(x)‖ (Kobayashi et al. 2020)",
}
STATS = (*ROLES, *EXTRA)  # every statistic a record holds, in order


@dataclass(frozen=True)
class Keys:
    """What one text's scores read, worked out once for a mask: who may see what, the rows
    with a choice, the special, punctuation and sink-candidate keys, the earlier copies."""

    sees: np.ndarray  # (n, m) bool, True where a query may see a key
    choice: np.ndarray  # (n,) bool, rows that may see two keys or more
    special: list[int]  # special tokens after the first ("sep")
    punct: list[int]
    sinks: list[int]  # the first token and the special ones (heads.sink_candidates)
    earlier: np.ndarray | None  # (n, n) bool: a real token's earlier copies it may see
    even: dict[str, float | None]  # the scores of a head spreading each row evenly
    even_weights: np.ndarray  # (n, m) that head's weights


def keys_for(tokens: list[Token], text: str, mask: np.ndarray | None, n: int, m: int,
             cross: bool = False) -> Keys:
    """The Keys of a text of n queries over m keys under mask (True: may not see)."""
    sees = np.ones((n, m), dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    choice = sees.sum(axis=1) >= 2
    special = [j for j, t in enumerate(tokens) if is_special(t) and j > 0]
    punct = [j for j, t in enumerate(tokens) if is_punctuation(text, t)]
    earlier = None
    if not cross:
        ids = np.array([t.id for t in tokens])
        real = np.array([not is_special(t) for t in tokens])
        earlier = (ids[:, None] == ids[None, :]) & np.tri(n, k=-1, dtype=bool) & sees[:, :n]
        earlier &= real[:, None] & real[None, :]
    even_w = np.where(sees, 1.0 / np.maximum(sees.sum(axis=1, keepdims=True), 1), 0.0)
    even, _ = _raw(even_w, sees, choice, tokens, text, cross)
    return Keys(sees, choice, special, punct, sink_candidates(tokens), earlier, even, even_w)


def _means(values: np.ndarray, rows: np.ndarray) -> list[float | None]:
    """Each head's mean of values (H, n) over rows, clipped to [0, 1]; None without rows."""
    if not rows.any():
        return [None] * len(values)
    means = np.mean(values[:, rows], axis=1)
    low = np.where(means > 0.0, means, 0.0)  # roles._clip, min(1, max(0, x)), to the bit
    return np.where(low < 1.0, low, 1.0).tolist()


def _diagonals(w: np.ndarray, keys: Keys, k: int) -> list[float | None]:
    """Each head's mean of A[i, i + k] over the rows with a choice that may see i + k."""
    n, m = w.shape[1:]
    i = np.arange(max(0, -k), min(n, m - k))
    if not i.size:
        return [None] * len(w)
    return _means(w[:, i, i + k], keys.choice[i] & keys.sees[i, i + k])


def _on_keys(w: np.ndarray, keys: Keys, which: list[int]) -> list[float | None]:
    """Each head's mean total weight on the keys, over the rows with a choice seeing one."""
    if not which:
        return [None] * len(w)
    seen = keys.sees[:, which]  # (n, k)
    return _means(np.where(seen, w[:, :, which], 0.0).sum(axis=2),
                  keys.choice & seen.any(axis=1))


def _entropy(w: np.ndarray, keys: Keys) -> tuple[list[float | None], list[float | None]]:
    """Each head's broad score and its mean entropy in nats (0 log 0 taken as 0)."""
    sees = keys.sees[None]
    p = np.where(sees & (w > 0), w, 1.0)  # log 1 = 0 where p is 0 or hidden
    rows = (-np.where(sees, w, 0.0) * np.log(p)).sum(axis=2)  # (H, n)
    top = np.log(np.maximum(keys.sees.sum(axis=1), 2))  # (n,)
    if not keys.choice.any():
        return [None] * len(w), [None] * len(w)
    nats = [float(x) for x in np.mean(rows[:, keys.choice], axis=1)]
    return _means(rows / top, keys.choice), list(nats)


def _best_offsets(w: np.ndarray, keys: Keys) -> list[tuple[int | None, float | None]]:
    """roles._best_offset for every head of w (H, n, m) at once: each head's offset k ≠ 0
    with the largest diagonal mean, of the k that at least half the rows with a choice may
    see (ties: the smaller |k|, then the negative), and that mean."""
    h, n, m = w.shape
    counted = keys.sees & keys.choice[:, None]  # (n, m) the cells the diagonal means read
    where = (np.arange(m)[None, :] - np.arange(n)[:, None])[counted] + (n - 1)  # (K,) k + n - 1
    size = n + m - 1
    counts = np.bincount(where, minlength=size)  # rows seeing i + k, for each k
    ks = np.arange(size) - (n - 1)
    ok = (ks != 0) & (counts > 0) & (2 * counts >= int(keys.choice.sum()))
    if not ok.any():
        return [(None, None)] * h
    onehot = np.zeros((len(where), size))
    onehot[np.arange(len(where)), where] = 1.0
    sums = w[:, counted] @ onehot  # (H, size) each diagonal's sum, every head at once
    order = sorted(np.flatnonzero(ok).tolist(), key=lambda c: (abs(ks[c]), ks[c] > 0))
    best = np.argmax(sums[:, order] / counts[order], axis=1)  # the first of equal means
    chosen = [int(ks[order[b]]) for b in best]
    score: dict[int, list[float | None]] = {}
    for k in set(chosen):  # each k's diagonal mean, for the heads that chose it
        score[k] = _diagonals(w, keys, k)
    return [(k, score[k][i]) for i, k in enumerate(chosen)]


def layer_scores(weights: np.ndarray, keys: Keys, norm_shares: np.ndarray | None = None,
                 cross: bool = False) -> list[tuple[Roles, dict[str, float | None]]]:
    """For each head of a layer's (H, n, m) weights: its Roles (as roles.role_scores gives
    them) and its EXTRA statistics (special_norm from norm_shares (H, n, m), if given)."""
    w = np.asarray(weights, dtype=np.float64)
    h = len(w)
    cols: dict[str, list[float | None]] = {}
    offsets: list[tuple[int | None, float | None]] = [(None, None)] * h
    if not cross:
        cols["previous"] = _diagonals(w, keys, -1)
        cols["next"] = _diagonals(w, keys, 1)
        cols["self"] = _diagonals(w, keys, 0)
        assert keys.earlier is not None
        earlier = keys.earlier
        cols["duplicate"] = _means(np.where(earlier, w[:, :, :len(earlier)], 0.0).sum(axis=2),
                                   keys.choice & earlier.any(axis=1))
        offsets = _best_offsets(w, keys)
    cols["first"] = _on_keys(w, keys, [0])
    cols["sep"] = _on_keys(w, keys, keys.special)
    cols["punct"] = _on_keys(w, keys, keys.punct)
    cols["broad"], entropy = _entropy(w, keys)
    special_w = _on_keys(w, keys, keys.sinks)
    special_n = (_on_keys(np.asarray(norm_shares, dtype=np.float64), keys, keys.sinks)
                 if norm_shares is not None else [None] * h)
    out = []
    evens: dict[int, dict[str, float | None]] = {}  # an offset k: the even head's scores
    for i in range(h):
        scores: dict[str, float | None] = {r: cols[r][i] if r in cols else None for r in ROLES}
        k, scores["offset"] = offsets[i]
        even = keys.even
        if k is not None:  # k = ±1 is previous or next, which name the head themselves
            if k not in evens:
                evens[k] = {**keys.even, "offset": _diagonal(
                    keys.even_weights, keys.sees, keys.choice, k) if abs(k) >= 2 else None}
            even = evens[k]
        role, score = strongest(scores, even)
        out.append((Roles(scores, k, role, score),
                    {"entropy": entropy[i], "special_weight": special_w[i],
                     "special_norm": special_n[i]}))
    return out


def norm_shares(weights: np.ndarray, v: np.ndarray, w_o: np.ndarray) -> np.ndarray:
    """([b,] H, n, m) each head's norm-based shares, flow.shares of flow.weighted_norms, for
    every head at once: weights ([b,] H, n, m), v the layer's values ([b,] n_kv_heads, m,
    head_dim), w_o its W_O (H·head_dim, d_model), or split by head (H, head_dim, d_model);
    a query head reads its group's value head. Each text of a batch b is worked out by
    itself (a product per head and text), as it would be alone."""
    h, hd = weights.shape[-3], v.shape[-1]
    values = np.repeat(np.asarray(v, dtype=np.float64), h // v.shape[-3],
                       axis=-3)  # ([b,] H, m, hd)
    rows = np.asarray(w_o, dtype=np.float64).reshape(h, hd, -1)  # (H, hd, d_model)
    lengths = np.linalg.norm(values @ rows, axis=-1)  # ([b,] H, m) ‖f(x_j)‖, as flow.sent
    norms = np.asarray(weights, dtype=np.float64) * lengths[..., None, :]  # ([b,] H, n, m)
    totals = norms.sum(axis=-1, keepdims=True)
    return np.divide(norms, totals, out=np.zeros_like(norms), where=totals > 0)
