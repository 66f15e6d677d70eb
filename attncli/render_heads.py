"""Rich renderables for `attn heads`: a layers × heads grid and the heads that stand out."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attncli.overview import PATTERNS, Link, Overview
from attncli.render import visible

SHADES = (" ", "░", "▒", "▓", "█")  # weight 0–0.1, 0.1–0.3, 0.3–0.5, 0.5–0.7, 0.7–1
CODES = {"self": "S", "previous": "P", "next": "N", "first": "F", "last": "L", "mixed": "·"}


def shade(weight: float) -> str:
    """A block character whose darkness grows with the weight."""
    for limit, char in zip((0.1, 0.3, 0.5, 0.7), SHADES, strict=False):
        if weight < limit:
            return char
    return SHADES[-1]


def _grid(ov: Overview) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False)
    table.add_column(Text("layer", style="dim"), justify="right", no_wrap=True)
    for h in ov.heads:
        table.add_column(str(h), justify="right", no_wrap=True)
    return table


def _label(ov: Overview, i: int) -> str:
    # strip: a byte-level BPE token covers its leading space (" animal"), which reads badly
    # between quotes and around an arrow
    return visible(ov.ex.labels[i].strip())


def _link(ov: Overview, link: Link) -> Text:
    return Text.assemble(f"layer {link.layer:>2} head {link.head:>2}   ",
                         (_label(ov, link.src), "bold"), " → ", (_label(ov, link.dst), "bold"),
                         f"  {100 * link.weight:5.1f}%")


def overview(ov: Overview) -> Group:
    """The grid for a word pair, or each head's pattern; then the heads that stand out."""
    parts: list[RenderableType] = []
    if ov.grid is not None:
        src, dst = _label(ov, ov.src), _label(ov, ov.dst)
        parts.append(Text.assemble("How much “", (src, "bold"), "” attends to “", (dst, "bold"),
                                   "” in each head (percent; rows are layers, columns heads)"))
        table = _grid(ov)
        for r, layer in enumerate(ov.layers):
            cells = [Text(f"{shade(w)}{round(100 * w):3d}", style="cyan")
                     for w in ov.grid[r]]
            table.add_row(str(layer), *cells)
        parts += [table, Text(f"Shades: {' '.join(SHADES[1:])} for 10, 30, 50 "
                              "and 70 percent and more."), Text("")]
        parts.append(Text(f"Heads that link “{src}” to “{dst}” most:", style="bold"))
    else:
        parts.append(Text("What each head mostly does (pattern and its average weight in "
                          "percent; rows are layers, columns heads)"))
        table = _grid(ov)
        for r, layer in enumerate(ov.layers):
            table.add_row(str(layer), *(Text(f"{CODES[p.pattern]}{round(100 * p.score):3d}")
                                        for p in ov.patterns[r]))
        parts += [table, Text("  ".join(f"{code} {name}" for name, code in CODES.items())),
                  Text(f"({'; '.join(f'{n}: {d}' for n, d in PATTERNS.items())})",
                       style="dim"), Text("")]
        parts.append(Text("Strongest links between two different words:", style="bold"))
    parts.extend(_link(ov, link) for link in ov.top)
    return Group(*parts)
