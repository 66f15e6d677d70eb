"""What each head does: role scores, each in [0, 1], from one head's attention matrix.

Pure numpy. Every score is a mean over queries (rows) of the weight the row gives some keys;
a row counts only where it may see those keys (a causal or sliding-window mask hides some),
and a row that may see a single key has no choice and counts in no score. The definitions
follow Clark et al. 2019, "What Does BERT Look At?" (previous/next token, [CLS], [SEP],
punctuation, broad attention by entropy) and TransformerLens's head detector (previous,
duplicate token). A score is None where it is not defined: next token for a causal head,
[SEP]/EOS or punctuation for a text with none, duplicate token for a text with no repeat.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from attncli.tokens import Token

# Each role, in the order tables list them, and what a head with a high score does.
ROLES = {
    "previous": "each token attends to the token before it",
    "next": "each token attends to the token after it",
    "self": "each token attends to itself",
    "first": "every token attends to the first token, [CLS] or BOS where there is one",
    "sep": "every token attends to [SEP]/EOS, the special tokens after the first",
    "punct": "every token attends to punctuation",
    "duplicate": "a repeated token attends to its earlier copies",
    # the score takes the best k ≠ 0, as the fixture scripts' reference does; k = ±1 is the
    # previous or next role, so only |k| ≥ 2 lets offset name a head (role_scores, strongest)
    "offset": ("every token attends to the token k places away, k ≠ 0, though only k = ±2 or "
               "more names a head: k = ±1 is previous or next"),
    "broad": "each token spreads its weight evenly over what it may see",
}
HOLDS = 0.4  # a role's score must reach this for the role to name a head
BROAD_ABOVE = 0.8  # with no role holding, a head this broad (normalised entropy) is "broad"


@dataclass(frozen=True)
class Roles:
    """One head's role scores (a key of ROLES -> score, None where undefined) and the offset
    k that `offset` is the score of (None where no offset applies)."""

    scores: dict[str, float | None]
    k: int | None
    role: str  # the strongest role (strongest()), or "mixed"
    score: float  # its score (for "mixed", the largest score of a role that could name it)


def is_special(token: Token) -> bool:
    """A token the tokenizer adds ([CLS], [SEP], BOS, </s>): it covers no characters."""
    return token.end <= token.start


def is_punctuation(text: str, token: Token) -> bool:
    """Whether the characters the token covers in text, spaces left aside (so a tokenizer's
    space marker, Ġ or ▁, never counts), are all Unicode punctuation (category P*)."""
    body = text[token.start:token.end].strip()
    return bool(body) and all(unicodedata.category(ch).startswith("P") for ch in body)


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def _mean(values: np.ndarray, rows: np.ndarray) -> float | None:
    return _clip(float(np.mean(values[rows]))) if rows.any() else None


def _diagonal(weights: np.ndarray, sees: np.ndarray, choice: np.ndarray, k: int
              ) -> float | None:
    """The mean of A[i, i + k] over the rows with a choice that may see i + k."""
    n, m = weights.shape
    i = np.arange(max(0, -k), min(n, m - k))
    if not i.size:
        return None
    return _mean(weights[i, i + k], choice[i] & sees[i, i + k])


def _on_keys(weights: np.ndarray, sees: np.ndarray, choice: np.ndarray, keys: list[int]
             ) -> float | None:
    """The mean total weight on the keys, over the rows with a choice that may see one."""
    if not keys:
        return None
    return _mean(np.where(sees[:, keys], weights[:, keys], 0.0).sum(axis=1),
                 choice & sees[:, keys].any(axis=1))


def _broad(weights: np.ndarray, sees: np.ndarray, choice: np.ndarray) -> float | None:
    """The mean over rows with a choice of the row's entropy over the keys it may see,
    divided by the log of how many it may see (0 log 0 taken as 0)."""
    p = np.where(sees & (weights > 0), weights, 1.0)  # log 1 = 0 where p is 0 or hidden
    entropy = -np.where(sees, weights, 0.0) * np.log(p)
    counts = sees.sum(axis=1)
    top = np.log(np.maximum(counts, 2))
    return _mean(entropy.sum(axis=1) / top, choice)


def _duplicate(weights: np.ndarray, sees: np.ndarray, choice: np.ndarray,
               tokens: list[Token]) -> float | None:
    """Over the queries (not special tokens) that may see an earlier token with their own id,
    the mean total weight they give those earlier copies."""
    n = len(weights)
    ids = np.array([t.id for t in tokens])
    real = np.array([not is_special(t) for t in tokens])
    earlier = (ids[:, None] == ids[None, :]) & np.tri(n, k=-1, dtype=bool) & sees[:, :n]
    earlier &= real[:, None] & real[None, :]
    rows = choice & earlier.any(axis=1)
    return _mean(np.where(earlier, weights[:, :n], 0.0).sum(axis=1), rows)


def _best_offset(weights: np.ndarray, sees: np.ndarray, choice: np.ndarray
                 ) -> tuple[int | None, float | None]:
    """The offset k ≠ 0 whose diagonal mean (_diagonal) is largest, and that mean; of equal
    means the smaller |k|, then the negative one. Only offsets that at least half the rows
    with a choice may see compete: a far offset is read off a few rows (k = −(n − 1) off the
    last row alone, where a head that parks on the first token would score 1). (None, None)
    when no k applies. Every diagonal at once: each row holds one key of each offset."""
    n, m = weights.shape
    counted = sees & choice[:, None]  # (n, m) the cells the diagonal means read
    offset = np.arange(m)[None, :] - np.arange(n)[:, None]  # (n, m) k = j − i
    size = n + m - 1
    sums = np.bincount(offset[counted] + (n - 1), weights=weights[counted], minlength=size)
    counts = np.bincount(offset[counted] + (n - 1), minlength=size)  # rows seeing i + k
    ks = np.arange(size) - (n - 1)
    ok = (ks != 0) & (counts > 0) & (2 * counts >= int(choice.sum()))
    if not ok.any():
        return None, None
    means = np.divide(sums, counts, out=np.full(size, -1.0), where=ok)
    order = sorted(ks[ok].tolist(), key=lambda k: (-means[k + n - 1], abs(k), k > 0))
    k = int(order[0])
    return k, _diagonal(weights, sees, choice, k)


def offset_score(weights: np.ndarray, k: int, mask: np.ndarray | None = None) -> float | None:
    """One head's mean weight k places from each query (the offset role's score at that k):
    what a head leaning on position alone gives a word that far. weights (n, m), mask as in
    role_scores; None when no row with a choice has a key k away."""
    w = np.asarray(weights, dtype=np.float64)
    sees = np.ones(w.shape, dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    return _diagonal(w, sees, sees.sum(axis=1) >= 2, k)


def _raw(w: np.ndarray, sees: np.ndarray, choice: np.ndarray, tokens: list[Token],
         text: str, cross: bool) -> tuple[dict[str, float | None], int | None]:
    special = [j for j, t in enumerate(tokens) if is_special(t) and j > 0]
    punct = [j for j, t in enumerate(tokens) if is_punctuation(text, t)]
    scores: dict[str, float | None] = dict.fromkeys(ROLES)
    k = None
    if not cross:
        scores["previous"] = _diagonal(w, sees, choice, -1)
        scores["next"] = _diagonal(w, sees, choice, 1)
        scores["self"] = _diagonal(w, sees, choice, 0)
        scores["duplicate"] = _duplicate(w, sees, choice, tokens)
        k, scores["offset"] = _best_offset(w, sees, choice)
    scores["first"] = _on_keys(w, sees, choice, [0])
    scores["sep"] = _on_keys(w, sees, choice, special)
    scores["punct"] = _on_keys(w, sees, choice, punct)
    scores["broad"] = _broad(w, sees, choice)
    return scores, k


def role_scores(weights: np.ndarray, tokens: list[Token], text: str,
                mask: np.ndarray | None = None, cross: bool = False) -> Roles:
    """Every role score of one head, and the role that names it (strongest).

    weights is its (n, m) attention, rows the queries; tokens and text the keys' (for
    self-attention, the queries' too); mask, (n, m) bool, True where a query may not see a
    key. For cross-attention (the keys are another text's) positions are not comparable:
    previous, next, self, offset and duplicate are None.
    """
    w = np.asarray(weights, dtype=np.float64)
    n, m = w.shape
    sees = np.ones((n, m), dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    choice = sees.sum(axis=1) >= 2
    scores, k = _raw(w, sees, choice, tokens, text, cross)
    even = np.where(sees, 1.0 / np.maximum(sees.sum(axis=1, keepdims=True), 1), 0.0)
    base, _ = _raw(even, sees, choice, tokens, text, cross)
    if k is not None:
        # k = ±1 is previous or next, which name the head themselves
        base["offset"] = _diagonal(even, sees, choice, k) if abs(k) >= 2 else None
    role, score = strongest(scores, base)
    return Roles(scores, k, role, score)


def strongest(scores: dict[str, float | None], even: dict[str, float | None]
              ) -> tuple[str, float]:
    """The role that names a head, and its score.

    scores are the head's; even the same scores of a head that spreads each row evenly over
    the keys it may see (their baselines), None where a role may not name the head (offset
    with |k| < 2: k = ±1 is previous or next). A role can name it when its score reaches
    HOLDS. Roles start from different baselines (an even
    spread gives the first token 1/n but punctuation its share of the tokens), so of those
    the one furthest above its baseline wins: the largest (score − u) / (1 − u), u its
    baseline. With none: "broad" when broad reaches BROAD_ABOVE, else "mixed" with the
    largest score of a role.
    """
    lift: dict[str, tuple[float, float]] = {}  # role: (its lift, its score)
    for name in ROLES:
        s, u = scores[name], even[name]
        if name == "broad" or s is None or u is None or s < HOLDS:
            continue
        lift[name] = ((s - u) / (1 - u) if u < 1 else 0.0, s)
    if lift:
        name = max(lift, key=lambda r: lift[r][0])  # ties: ROLES' order
        return name, float(lift[name][1])
    broad = scores["broad"]
    if broad is not None and broad >= BROAD_ABOVE:
        return "broad", broad
    return "mixed", max((s for r, s in scores.items() if s is not None and r != "broad"),
                        default=0.0)
