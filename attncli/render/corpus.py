"""`attn heads --corpus`: the grid of each head's role over the texts, and the heads that
stand out, each with its mean ± standard deviation over the texts. Computes nothing: it
reads an Aggregates."""

from __future__ import annotations

import math

import numpy as np
from rich.console import Group, RenderableType
from rich.text import Text

from attncli.corpus.aggregate import Aggregates
from attncli.corpus.scores import EXTRA
from attncli.render.heads import ROLE_CODES, ROLE_NAMES, Grid
from attncli.roles import ROLES


def _pm(agg: Aggregates, name: str, i: int, j: int) -> str:
    """'mean% ± sd' of a statistic for head (i, j), in percent."""
    m, s = agg.mean[name][i, j], agg.sd[name][i, j]
    sd = "" if math.isnan(s) else f" ± {100 * s:4.1f}"
    return f"{100 * m:5.1f}%{sd}"


def _ranked(agg: Aggregates, name: str, top: int, only: np.ndarray | None = None
            ) -> list[tuple[int, int]]:
    """The heads with the highest mean of a statistic (those in `only`, if given), in grid
    order among equals."""
    mean = agg.mean[name]
    cells = [(i, j) for (i, j), v in np.ndenumerate(mean)
             if not math.isnan(v) and (only is None or only[i, j])]
    return sorted(cells, key=lambda c: -mean[c])[:top]


def _head(i: int, j: int) -> str:
    return f"layer {i:>2} head {j:>2}"


def heading(agg: Aggregates) -> Text:
    """Which model, how many texts and tokens, how many cut."""
    cut = f"; {agg.cut:,} cut to the token limit" if agg.cut else ""
    return Text(f"Model {agg.model} · {agg.shape[0]} layers × {agg.shape[1]} heads · "
                f"{agg.texts:,} texts, {agg.tokens:,} tokens{cut}. Every figure: mean ± sd "
                f"over the texts.")


def overview(agg: Aggregates, top: int = 5) -> Group:
    """The grid, then for each role the grid shows the heads with the highest mean score,
    then the sinks by weight and by norm."""
    layers, heads = agg.shape
    cells = [[(ROLE_CODES[agg.role[i, j]], round(100 * agg.role_share[i, j]))
              for j in range(heads)] for i in range(layers)]
    shown = {str(r) for r in agg.role.flat}
    parts: list[RenderableType] = [
        heading(agg), Text(""),
        Text(f"What each head does over {agg.texts:,} texts: the strongest role most texts give "
             "it, and in what percent of the texts (rows are layers, columns heads)"),
        Grid(list(range(layers)), list(range(heads)), cells),
        Text("  ".join(f"{code} {ROLE_NAMES[name]}" for name, code in ROLE_CODES.items()
                       if name in shown)),
        Text("A head's strongest role on each text is named as on a single text; the lists "
             "below give each role's score, mean ± sd over the texts that define it.",
             style="dim"),
    ]
    for role in ROLES:
        if role not in shown:
            continue
        named = agg.role == role
        parts += [Text(""), Text(f"{ROLE_NAMES[role].capitalize()} heads ({ROLES[role]}), by "
                                 "mean score:", style="bold")]
        for i, j in _ranked(agg, role, top, named):
            parts.append(Text(f"{_head(i, j)}  {_pm(agg, role, i, j)}  over "
                              f"{agg.count[role][i, j]:,} texts; strongest role in "
                              f"{100 * agg.named[role][i, j] / agg.texts:.0f}%"))
    parts += [Text(""), *sinks(agg, top)]
    return Group(*parts)


def sinks(agg: Aggregates, top: int) -> list[RenderableType]:
    """The heads that put most on the first and special tokens, by weight and by norm."""
    out: list[RenderableType] = []
    for name, by in (("special_weight", "weight"), ("special_norm", "norm")):
        out.append(Text(f"Sinks by {by}: {EXTRA[name]}, highest first (weight · norm):",
                        style="bold"))
        for i, j in _ranked(agg, name, top):
            out.append(Text(f"{_head(i, j)}  weight {_pm(agg, 'special_weight', i, j)}  ·  "
                            f"norm {_pm(agg, 'special_norm', i, j)}"))
    out.append(Text("weight: the attention weights' share; norm: the norm-based share, what "
                    "those tokens' value vectors actually send through the head.", style="dim"))
    return out


def role_list(agg: Aggregates, role: str, top: int) -> Group:
    """`--role` over a corpus: the heads with the highest mean score for role."""
    parts: list[RenderableType] = [
        heading(agg),
        Text(f"Heads by mean {ROLE_NAMES[role]} score ({ROLES[role]}):", style="bold")]
    for i, j in _ranked(agg, role, top):
        parts.append(Text(f"{_head(i, j)}  {_pm(agg, role, i, j)}  over "
                          f"{agg.count[role][i, j]:,} texts; strongest role in "
                          f"{100 * agg.named[role][i, j] / agg.texts:.0f}%"))
    if len(parts) == 2:
        parts.append(Text(f"None: no text defines a {ROLE_NAMES[role]} score."))
    return Group(*parts)
