"""The key/value cache on one head, step by step: the numbers `attn demo`'s cache part shows.

A sentence is fed one token at a time, as a decoder generates. Step t works out only the new
token's query, key and value (its row of X times W_Q, W_K and W_V), appends the key and the
value to the cache, and lets the query attend over every key in the cache. No mask is needed
there: the cache holds only the tokens at or before t.

To check it, each step also works out everything afresh (causal self-attention over tokens
0..t, every row), and once more without the mask, to show what the mask is for. The checks
are numbers (largest absolute differences), never assumptions. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attncli.attention import Steps, Variant, attend, self_attention


@dataclass(frozen=True)
class CacheStep:
    """One step: the new token's rows, the cache after it, and the fresh runs to check by."""

    position: int  # t, from 0: where the new token is
    q: np.ndarray  # (d_k,)  x_t @ W_Q: used in this step's row only, never kept
    k: np.ndarray  # (d_k,)  x_t @ W_K: appended to the cache
    v: np.ndarray  # (d_v,)  x_t @ W_V: appended to the cache
    keys: np.ndarray  # (t + 1, d_k) the cache's keys after appending k
    values: np.ndarray  # (t + 1, d_v) the cache's values after appending v
    scores: np.ndarray  # (t + 1,) q @ keys.T
    logits: np.ndarray  # (t + 1,) scores / √d_k
    weights: np.ndarray  # (t + 1,) softmax(logits): the new token's row
    output: np.ndarray  # (d_v,) weights @ values
    fresh: Steps  # every row of tokens 0..t worked out again, with the causal mask
    unmasked: Steps  # the same without the mask, as an encoder would

    @property
    def n(self) -> int:
        """Tokens so far."""
        return self.position + 1

    @property
    def cache_vs_fresh(self) -> float:
        """Largest difference between the cache and the fresh run's K and V."""
        return max(_gap(self.keys, self.fresh.k), _gap(self.values, self.fresh.v))

    @property
    def row_vs_fresh(self) -> float:
        """Largest difference between the step's row (weights and output) and the fresh run's
        last row."""
        return max(_gap(self.weights, self.fresh.weights[-1]),
                   _gap(self.output, self.fresh.output[-1]))


@dataclass(frozen=True)
class CacheWalk:
    """Every step of feeding a sentence to one causal head through a key/value cache."""

    labels: list[str]
    steps: list[CacheStep]

    def kept(self, t: int) -> float:
        """Largest difference between the cache's earlier rows at step t and the rows step
        t - 1 left there (0 for t = 0: nothing was there)."""
        if t == 0:
            return 0.0
        before, now = self.steps[t - 1], self.steps[t]
        return max(_gap(now.keys[:t], before.keys), _gap(now.values[:t], before.values))

    def earlier_rows_moved(self, t: int) -> float:
        """Largest change, from step t - 1's fresh run to step t's, of any earlier row's
        weights (the new column included, which the earlier rows did not have) and outputs:
        what adding token t did to the rows before it, with the causal mask."""
        return _moved(self.steps[t - 1].fresh, self.steps[t].fresh) if t else 0.0

    def unmasked_moved(self, t: int) -> float:
        """The same without the mask: how far adding token t moves the earlier rows."""
        return _moved(self.steps[t - 1].unmasked, self.steps[t].unmasked) if t else 0.0

    def stacked(self) -> np.ndarray:
        """(n, n) each step's row, one under another, 0 where a row had no key yet."""
        n = len(self.steps)
        out = np.zeros((n, n))
        for s in self.steps:
            out[s.position, :s.n] = s.weights
        return out

    def steps_vs_fresh(self) -> float:
        """Largest difference between the rows the steps made and the last fresh run's."""
        return _gap(self.stacked(), self.steps[-1].fresh.weights)

    def work(self) -> list[tuple[int, int, int, int, int]]:
        """Per step: tokens so far; rows of Q (and of K, V) worked out with the cache and
        afresh; dot products q·k with the cache and afresh. Read from the arrays made."""
        return [(s.n, s.q[None, :].shape[0], s.fresh.q.shape[0], s.scores.size,
                 s.fresh.scores.size) for s in self.steps]


def walk(labels: list[str], x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray,
         w_v: np.ndarray) -> CacheWalk:
    """Feed x's rows (n, d_model) one at a time through one causal head, over a cache."""
    x = np.asarray(x, dtype=np.float64)
    w_q, w_k, w_v = (np.asarray(w, dtype=np.float64) for w in (w_q, w_k, w_v))
    d_k, d_v = w_q.shape[1], w_v.shape[1]
    keys, values = np.zeros((0, d_k)), np.zeros((0, d_v))  # the cache: (t, d_k), (t, d_v)
    steps = []
    for t in range(len(x)):
        # 2) only the new token's row is projected
        q, k, v = x[t] @ w_q, x[t] @ w_k, x[t] @ w_v  # (d_k,), (d_k,), (d_v,)
        keys, values = np.vstack([keys, k]), np.vstack([values, v])  # append
        # 3) to 5) one query row over every key so far
        scores, logits, weights, output, _, _ = attend(q[None, :], keys, values)
        fresh = self_attention(x[:t + 1], w_q, w_k, w_v, variant=Variant(causal=True))
        unmasked = self_attention(x[:t + 1], w_q, w_k, w_v)
        steps.append(CacheStep(t, q, k, v, keys, values, scores[0], logits[0], weights[0],
                               output[0], fresh, unmasked))
    return CacheWalk(list(labels), steps)


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _moved(before: Steps, after: Steps) -> float:
    """Largest change of the rows before has, from before to after (weights, with after's
    new column against 0, and outputs)."""
    t = before.weights.shape[0]
    grown = np.zeros((t, t + 1))
    grown[:, :t] = before.weights
    return max(_gap(after.weights[:t], grown), _gap(after.output[:t], before.output))
