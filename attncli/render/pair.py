"""The pair view (explain --from/--to) and the softmax of one row worked out by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.console import RenderableType
from rich.rule import Rule
from rich.text import Text

from attncli.explain import Explanation
from attncli.render.common import dims as _dims
from attncli.render.common import hidden_because, masked_legend
from attncli.render.common import key_word as _key
from attncli.render.common import step as _step
from attncli.render.common import word as _word
from attncli.render.widgets import UNROUNDED, Flow, Matrix, number, rounded, shows

if TYPE_CHECKING:
    from attncli.sums import Pair, RowSoftmax

MAX_PRODUCTS = 12  # a longer q·k shows its largest products and adds up the rest in one row


def softmax_sums(ex: Explanation, row: RowSoftmax, precision: int,
                 key: int | None = None) -> list[RenderableType]:
    """Step 4b for one row, by hand: each e^x, the row's sum, and each share of it."""
    p = precision + 2  # e^x and shares need two more decimals than the matrices to add up
    who = _word(ex, row.query)
    x = "x" if row.shift == 0 else f"(x − {number(row.shift, precision)})"
    x_name = "capped x" if row.capped else "scaled x"  # what the softmax takes
    text = (f"For “{who}”: e^{x} of each {'soft-capped' if row.capped else 'scaled'} score, "
            f"then each one divided by their sum, {number(row.total, p)}.")
    if row.shift:
        text += (f" Every entry is first moved by the row's largest, "
                 f"{number(row.shift, precision)}, so that e^x stays readable; the shares do "
                 "not change.")
    # the position bias inside scaled x, where the head has one: its parts, then the whole
    bias = [(name, t) for name, t in row.bias_terms]
    if row.bias is not None:
        bias.append(("ALiBi bias" if row.alibi_slope is not None else "bias", row.bias))
        text += (f" Each {x_name} already includes the {bias[-1][0]} shown beside it"
                 + (f" (slope {row.alibi_slope:.6g} × (key − query))"
                    if row.alibi_slope is not None else "") + ".")
    columns = [name for name, _ in bias] + [x_name, f"e^{x}" if row.shift == 0
                                            else "e^(x−m)", "÷ sum = weight"]
    values = np.stack([*(t for _, t in bias), row.scaled, row.exps, row.weights],
                      axis=1)  # (n, columns)
    total = np.array([[np.nan] * (len(bias) + 1) + [row.total, row.weights_total]])
    matrix = Matrix(f"Softmax of “{who}”'s row", [*ex.key_labels, "sum"], columns,
                    np.concatenate([values, total]), p, corner="key",
                    masked=np.concatenate([np.stack([row.masked] * len(columns), axis=1),
                                           np.zeros((1, len(columns)), dtype=bool)]),
                    highlight=key)
    parts: list[RenderableType] = [_step(f"Step 4b by hand · softmax of “{who}”'s row", text),
                                   matrix]
    if key is not None and not row.masked[key]:
        parts.append(Text(f"weight of “{_key(ex, key)}” = {number(row.exps[key], p)} / "
                          f"{number(row.total, p)} = {number(row.weights[key], p)}",
                          style="bold"))
    if row.masked.any():
        parts.append(Text(masked_legend(row.mask_kinds, row.window, "; left out of the sum."),
                          style="dim"))
    if not softmax_redoes(row, precision):
        parts.append(Text(UNROUNDED, style="dim"))
    return parts


def softmax_redoes(row: RowSoftmax, precision: int) -> bool:
    """Whether the softmax table, redone from its own rounded numbers, gives what it shows:
    each e^x from the scaled x, their sum, each weight from e^x and the sum."""
    p, seen = precision + 2, ~row.masked
    x = rounded(row.scaled[seen], p) - rounded(row.shift, precision)
    exps, total = rounded(row.exps[seen], p), float(rounded(row.total, p))
    return (all(shows(e, shown, p) for e, shown in zip(np.exp(x), row.exps[seen], strict=True))
            and shows(float(exps.sum()), row.total, p)
            and (total == 0 or all(shows(e / total, w, p)
                                   for e, w in zip(exps, row.weights[seen], strict=True)))
            and shows(float(rounded(row.weights, p).sum()), row.weights_total, p))


def pair_view(ex: Explanation, pr: Pair, precision: int) -> list[RenderableType]:
    """Why one query gives one key its weight: q·k per dimension, ÷√d_k, the softmax by hand,
    then the query's output as the sum of weight × value rows."""
    a, b = _word(ex, pr.query), _key(ex, pr.key)
    where = (f"layer {pr.layer}, head {pr.head}" if ex.from_model else
             f"head {pr.head}" if ex.config.heads > 1 else "")
    title = Rule(Text(f"The pair “{a}” → “{b}”" + (f" · {where}" if where else ""),
                      style="bold magenta"))
    return [title, *pair_score(ex, pr, precision), pair_scale(ex, pr, precision),
            *softmax_sums(ex, pr.row, precision, key=pr.key), *pair_output(ex, pr, precision)]


def pair_score(ex: Explanation, pr: Pair, precision: int) -> list[RenderableType]:
    """Step 3 for the pair: q and k side by side, their products, and the sum, the score."""
    _, qk, _ = _dims(ex, "dim ")
    a, b = _word(ex, pr.query), _key(ex, pr.key)
    order, rest, rest_sum = pr.largest(len(pr.products) if len(pr.products) <= MAX_PRODUCTS
                                       else MAX_PRODUCTS - 1)
    rows = [qk[d] for d in order]
    values = [[pr.q[d], pr.k[d], pr.products[d]] for d in order]
    if len(rest):
        rows.append(f"… {len(rest)} more")
        values.append([np.nan, np.nan, rest_sum])
    rows.append("sum = score")
    values.append([np.nan, np.nan, pr.score])
    named = " (the weights file names each dimension)" if ex.qk_dims else ""
    text = (f"“{a}”'s query and “{b}”'s key, multiplied dimension by dimension{named}; the "
            f"products add up to the score, {number(pr.score, precision)}: the entry at row "
            f"“{a}”, column “{b}” of Q·Kᵀ.")
    if len(rest):
        text += (f" The {len(order)} largest products are shown; the other {len(rest)} are "
                 "added up in one row.")
    parts: list[RenderableType] = [
        _step("Step 3 · score = q · k", text),
        Matrix(f"q · k ({len(pr.products)} dimensions)", rows, [f"q {a}", f"k {b}", "q × k"],
               np.array(values), precision, corner="dimension")]
    p = precision
    redone = rounded(pr.q[order], p) * rounded(pr.k[order], p)  # (shown,) from what is shown
    if not (all(shows(r, x, p) for r, x in zip(redone, pr.products[order], strict=True))
            and shows(float(rounded(pr.products[order], p).sum() + rounded(rest_sum, p)),
                      pr.score, p)):
        parts.append(Text(UNROUNDED, style="dim"))
    return parts


def pair_scale(ex: Explanation, pr: Pair, precision: int) -> RenderableType:
    """Step 4a for the pair: the score divided by √d_k, or why the mask hides the key."""
    a, b = _word(ex, pr.query), _key(ex, pr.key)
    if pr.reason is not None:
        return _step("Step 4a · masked",
                     f"{hidden_because(pr.reason, a, b)}: the "
                     f"score is replaced by −∞ before the softmax, so “{b}” gets a weight of "
                     "exactly 0 and adds nothing to the output.")
    title = ("Step 4a · no scaling: scaled = score (this model never divides by √d_k)"
             if pr.skip_scale and ex.from_model
             else "Step 4a · scaled = score (÷√d_k skipped)" if pr.skip_scale
             else "Step 4a · scaled = score / √d_k" if pr.scale is None
             else "Step 4a · scaled = score × this model's scale")
    title += ", soft-capped" if pr.softcap is not None else ""
    title += ("" if pr.bias is None else " + position bias" if pr.alibi_slope is None
              else " + ALiBi bias")
    return _step(title, scale_chain(pr, precision))


def scale_chain(pr: Pair, precision: int, brief: bool = False) -> str:
    """Step 4a's sum for an unmasked pair, each of the model's steps with its number; brief
    leaves out the score and √d_k's value, at the tables' precision (for a line that has just
    shown the score)."""
    score, d = number(pr.score, precision), number(pr.divided, precision + 2)
    if pr.skip_scale:
        return (f"÷ √{len(pr.q)} skipped = {number(pr.divided, precision)}" if brief else
                f"{score}, not divided by √{len(pr.q)} = {number(np.sqrt(len(pr.q)), 3)}: "
                f"the division is skipped, so the softmax sees {d}")
    if brief:
        d = number(pr.divided, precision)
        chain = f"÷ √{len(pr.q)} = {d}" if pr.scale is None else f"× {pr.scale:.6g} = {d}"
    else:
        exact = number(pr.score, precision + 2)  # the chain's inputs at its own precision
        chain = (f"{exact} / √{len(pr.q)} = {exact} / {number(pr.divisor, precision + 2)} = {d}"
                 if pr.scale is None else f"{exact} × {pr.scale:.6g} = {d}")
    if pr.capped is not None:
        chain += (f"; {pr.softcap:g} · tanh({d} / {pr.softcap:g}) = "
                  f"{number(pr.capped, precision + 2)}")
    if pr.bias is not None:
        assert pr.scaled is not None  # set wherever the pair is unmasked, as here
        bias = number(pr.bias, precision + 2)
        if pr.alibi_slope is not None:  # ALiBi: the slope times how far the key stands
            bias = (f"{bias} (slope {pr.alibi_slope:.6g} × ({pr.key} − {pr.query}), key "
                    "position − query position)")
        if pr.bias_terms:  # the bias's named parts, each with its number
            bias += " (" + " + ".join(f"{name} {number(value, precision + 2)}"
                                      for name, value in pr.bias_terms) + ")"
        chain += f"; + bias {bias} = {number(pr.scaled, precision + 2)}"
    return chain


def output_redoes(pr: Pair, precision: int) -> bool:
    """Whether step 5's table, redone from the rounded weights and value rows shown, gives
    the products and their sums it shows."""
    p = precision + 1
    redone = rounded(pr.row.weights, p)[:, None] * rounded(pr.values, precision)  # (n, d_v)
    return (all(shows(r, c, p) for r, c in zip(redone.ravel(), pr.contributions.ravel(),
                                               strict=True))
            and all(shows(t, o, p) for t, o in zip(rounded(pr.contributions, p).sum(axis=0),
                                                   pr.output, strict=True)))


def pair_output(ex: Explanation, pr: Pair, precision: int) -> list[RenderableType]:
    """Step 5 for the query: every key's weight × value row, and their sum, its output."""
    _, _, vd = _dims(ex, "dim ")
    a, b = _word(ex, pr.query), _key(ex, pr.key)
    m = len(ex.key_labels)
    contributions = np.concatenate([pr.contributions, pr.output[None, :]])  # (n + 1, d_v)
    weights = np.concatenate([pr.row.weights[:, None], [[np.nan]]])  # (n + 1, 1)
    masked = np.concatenate([pr.row.masked, [False]])[:, None]
    return [
        _step(f"Step 5 · the output of “{a}” = Σ weight × value row",
              f"Each key's value row is multiplied by the weight “{a}” gives it; the rows add "
              f"up to “{a}”'s output. " + (f"“{b}” is masked, so it adds nothing." if pr.masked
                                          else f"“{b}” adds {number(pr.weight, precision + 2)} "
                                               "× its value row.")),
        Flow([
            Matrix(f"V, the value rows ({m}×{len(vd)})", ex.key_labels, vd, pr.values, precision,
                   corner="key", highlight=pr.key),
            Matrix("weight × value", [*ex.key_labels, "sum = output"],
                   ["weight", *vd], np.concatenate([weights, contributions], axis=1),
                   precision + 1, corner="key", highlight=pr.key,
                   masked=np.concatenate([masked, np.zeros((m + 1, len(vd)), dtype=bool)],
                                         axis=1)),
        ], gap=4, row_gap=1),
        *([] if output_redoes(pr, precision) else [Text(UNROUNDED, style="dim")]),
    ]
