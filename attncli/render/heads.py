"""Rich renderables for `attn heads`: a layers × heads grid and the heads that stand out."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from attncli.heads import PATTERNS, Link, Overview
from attncli.safe_text import visible

SHADES = (" ", "░", "▒", "▓", "█")  # weight 0–0.1, 0.1–0.3, 0.3–0.5, 0.5–0.7, 0.7–1
CODES = {"self": "S", "previous": "P", "next": "N", "first": "F", "last": "L", "mixed": "·"}


def shade(weight: float) -> str:
    """A block character whose darkness grows with the weight."""
    for limit, char in zip((0.1, 0.3, 0.5, 0.7), SHADES, strict=False):
        if weight < limit:
            return char
    return SHADES[-1]


class Grid:
    """Layers × heads, one short cell per head: a mark and a whole percent ("▓66", "S 40").

    The cells are as wide as their numbers need; head columns that still do not fit the
    width are left out from the right, and the header says how many ("… 4 more heads").
    """

    def __init__(self, layers: list[int], heads: list[int],
                 cells: list[list[tuple[str, int]]], style: str = "") -> None:
        self.layers, self.heads, self.cells, self.style = layers, heads, cells, style

    def lines(self, width: int) -> list[Text]:
        digits = max((len(str(v)) for row in self.cells for _, v in row), default=1)
        col_w = max(1 + digits, *(len(str(h)) for h in self.heads))
        label_w = max(len("layer"), *(len(str(layer)) for layer in self.layers))
        shown = len(self.heads)
        if label_w + shown * (col_w + 1) > width:  # leave room for the marker
            more = len(f" … {len(self.heads)} more heads")
            shown = max(1, (width - label_w - more) // (col_w + 1))
        hidden = len(self.heads) - shown
        header = Text(no_wrap=True, overflow="crop")
        header.append("layer".rjust(label_w), style="dim")
        for h in self.heads[:shown]:
            header.append(" " + str(h).rjust(col_w), style="bold")
        if hidden:
            header.append(f" … {hidden} more head{'s' if hidden > 1 else ''}", style="dim")
        out = [header]
        for layer, row in zip(self.layers, self.cells, strict=True):
            line = Text(str(layer).rjust(label_w), no_wrap=True, overflow="crop")
            for mark, value in row[:shown]:
                line.append(" ")
                line.append(f"{mark}{value:>{col_w - 1}d}", style=self.style)
            if hidden:
                line.append(" …", style="dim")
            out.append(line)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)


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
        parts += [Text(note, style="yellow") for note in ov.notes]  # which of a repeated word
        cells = [[(shade(w), round(100 * w)) for w in row] for row in ov.grid.tolist()]
        parts += [Grid(ov.layers, ov.heads, cells, style="cyan"),
                  Text(f"Shades: {' '.join(SHADES[1:])} for 10, 30, 50 and 70 percent and more."),
                  Text("")]
        parts.append(Text(f"Heads that link “{src}” to “{dst}” most:", style="bold"))
    else:
        parts.append(Text("What each head mostly does (pattern and its average weight in "
                          "percent; rows are layers, columns heads)"))
        cells = [[(CODES[p.pattern], round(100 * p.score)) for p in row]
                 for row in ov.patterns]
        parts += [Grid(ov.layers, ov.heads, cells),
                  Text("  ".join(f"{code} {name}" for name, code in CODES.items())),
                  Text(f"({'; '.join(f'{n}: {d}' for n, d in PATTERNS.items())})",
                       style="dim"), Text("")]
        parts.append(Text("Strongest links between two different words:", style="bold"))
    parts.extend(_link(ov, link) for link in ov.top)
    return Group(*parts)
