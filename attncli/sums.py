"""The sums a learner would do by hand, for one query: its row through the softmax term by
term (e^x, the row's sum, each share), and one query-key pair from q·k to weight × value.
They read one head's steps; explain.with_pair and explain.with_focus add them to an
Explanation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attncli.attention import Steps
from attncli.attention_fast import HeadSteps, row_of
from attncli.masks import MaskReason, reason, row_kinds

EXP_SHIFT_ABOVE = 10.0  # past e^10 the exponentials get too long to read
EXP_SHIFT_BELOW = -2.0  # below e^-2 even the largest would show as a few zeros and a digit


@dataclass(frozen=True)
class RowSoftmax:
    """Step 4b for one query's row, as done by hand: e^x of each entry, the sum, each share.

    When the row's largest entry m is above EXP_SHIFT_ABOVE or below EXP_SHIFT_BELOW, every
    entry is first moved by m (e^(x − m)): the shares are the same, and the numbers stay
    readable (the largest is 1, and they never all round to 0).
    """

    query: int
    scaled: np.ndarray  # (n,) the row the softmax takes (capped, + bias), -inf where masked
    shift: float  # 0, or the row's largest entry
    exps: np.ndarray  # (n,) e^(x − shift), 0 where masked
    total: float  # the sum of exps
    weights: np.ndarray  # (n,) exps / total
    masked: np.ndarray  # (n,) bool, True where this query may not see the key
    mask_kinds: tuple[str, ...] = ()  # why keys are hidden from it (masks.row_kinds)
    window: int | None = None  # the head's sliding window, if it has one
    # the head's position bias in this row, already inside scaled (T5, MPNet, ALiBi, DeBERTa),
    # its named parts (DeBERTa's c2p and p2c) and ALiBi's slope; None / () without one
    bias: np.ndarray | None = None  # (n,)
    bias_terms: tuple[tuple[str, np.ndarray], ...] = ()  # each (n,)
    alibi_slope: float | None = None
    capped: bool = False  # the head soft-caps its scores (Gemma 2): scaled is after the cap

    @property
    def weights_total(self) -> float:
        """The shares added up: 1, as the table's last row shows (0 for a row with no key)."""
        return float(self.weights.sum())


def slope(steps: Steps) -> float | None:
    """The head's ALiBi slope, if it has one."""
    value = steps.variant.alibi_slope
    return None if value is None else float(value)


def row_softmax(steps: Steps, i: int) -> RowSoftmax:
    """Work out row i's softmax term by term."""
    row = steps.logits[row_of(steps, i)]  # (n,)
    masked = (np.zeros(len(row), dtype=bool) if steps.mask is None
              else np.asarray(steps.mask[row_of(steps, i)], dtype=bool))
    visible_max = float(row[~masked].max()) if (~masked).any() else 0.0
    readable = EXP_SHIFT_BELOW <= visible_max <= EXP_SHIFT_ABOVE
    shift = 0.0 if readable else visible_max
    exps = np.where(masked, 0.0, np.exp(np.where(masked, 0.0, row - shift)))  # (n,)
    total = float(exps.sum())
    weights = exps / total if total > 0 else np.zeros_like(exps)
    at = row_of(steps, i)
    return RowSoftmax(i, row, shift, exps, total, weights, masked,
                      tuple(row_kinds(steps, i)), steps.variant.window,
                      None if steps.score_bias is None else steps.score_bias[at],
                      tuple((name, t[at]) for name, t in steps.score_terms),
                      slope(steps), steps.capped is not None)


@dataclass(frozen=True)
class Pair:
    """One query and one key worked out by hand: why the query gives the key its weight."""

    layer: int
    head: int
    query: int  # the query's token index
    key: int  # the key's token index
    q: np.ndarray  # (d_k,) the query token's q
    k: np.ndarray  # (d_k,) the key token's k
    products: np.ndarray  # (d_k,) q * k, dimension by dimension; they add up to score
    score: float  # q · k, the same number as scores[query, key]
    divisor: float  # √d_k, or 1 / the model's own scale
    divided: float  # score / divisor
    scale: float | None  # the model's own scale, when it is not 1/√d_k
    skip_scale: bool  # step 4 left the score undivided (divisor 1)
    softcap: float | None  # the model's soft cap, if it has one
    capped: float | None  # softcap · tanh(divided / softcap); None without a cap or when masked
    bias: float | None  # the model's position bias for this pair; None without one or when masked
    alibi_slope: float | None  # ALiBi's slope: bias = alibi_slope × (key − query)
    bias_terms: tuple[tuple[str, float], ...]  # the named parts bias is the sum of (c2p, p2c)
    scaled: float | None  # what the softmax sees (divided, capped, + bias); None where masked
    masked: bool
    reason: MaskReason | None  # why the mask hides the key from the query; None if it does not
    row: RowSoftmax  # the query's whole row through the softmax
    weight: float  # weights[query, key], the key's share of the row
    values: np.ndarray  # (n, d_v) every key's value row
    contributions: np.ndarray  # (n, d_v) weights[query, j] * v_j, one row per key j
    output: np.ndarray  # (d_v,) the sum of contributions: the query's output

    def largest(self, keep: int) -> tuple[np.ndarray, np.ndarray, float]:
        """The `keep` dimensions with the largest |product| (in dimension order), the others,
        and what the others add up to: score = products[shown].sum() + rest."""
        ranked = np.argsort(-np.abs(self.products), kind="stable")
        shown, others = np.sort(ranked[:keep]), np.sort(ranked[keep:])
        return shown, others, float(self.products[others].sum())


def pair(hs: HeadSteps, query: int, key: int) -> Pair:
    """Steps 3 to 5 for one query-key pair, every product and share kept."""
    s = hs.steps
    products = s.q[query] * s.k[key]  # (d_k,)
    row = row_softmax(s, query)
    masked = bool(row.masked[key])
    at = row_of(s, query)  # the query's row in the matrices (query itself unless some were kept)
    contributions = s.weights[at][:, None] * s.v  # (n, d_v)
    return Pair(
        layer=hs.layer, head=hs.head, query=query, key=key, q=s.q[query], k=s.k[key],
        products=products, score=float(s.scores[at, key]), divisor=s.divisor,
        divided=float(s.scores[at, key]) / s.divisor, scale=s.variant.scale,
        skip_scale=s.skip_scale, softcap=s.variant.softcap,
        capped=None if masked or s.capped is None else float(s.capped[at, key]),
        bias=None if masked or s.score_bias is None else float(s.score_bias[at, key]),
        alibi_slope=slope(s),
        bias_terms=() if masked else tuple((name, float(t[at, key])) for name, t in s.score_terms),
        scaled=None if masked else float(s.logits[at, key]), masked=masked,
        reason=reason(s, query, key), row=row,
        weight=float(s.weights[at, key]), values=s.v, contributions=contributions,
        output=s.output[at],
    )
