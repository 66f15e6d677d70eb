"""The drawing pieces every view is built from: matrices, bar charts, a flow (heatmap.py: heat
maps).

Each piece lays itself out for the width it is given (cutting with an explicit "… n more"
rather than wrapping) and reports that width to rich without measuring text. Everything
the user typed reaches the screen as rich `Text`, never as markup, and control characters
are shown escaped, so input can neither style nor steer the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.text import Span, Text

from attncli.safe_text import visible

BAR_WIDTH = 24
MAX_BARS = 16  # a chart with more keys shows its TOP_BARS largest, in sentence order
TOP_BARS = 10
EIGHTHS = " ▏▎▍▌▋▊▉█"
MAX_MARK = "*"  # marks each row's largest weight, so the view reads without colour


def spaced(parts: Sequence[RenderableType]) -> Group:
    """The parts one under another, a blank line after each."""
    return Group(*(item for p in parts for item in (p, Text(""))))


def names(prefix: str, count: int) -> list[str]:
    """Default column names: prefix0, prefix1, …"""
    return [f"{prefix}{i}" for i in range(count)]


def number(value: float, precision: int) -> str:
    """A number as the tables show it: fixed decimals, −∞ for a masked entry, no -0.00."""
    if value == -np.inf:
        return "−∞"
    if value == np.inf:
        return "∞"
    s = f"{value:.{precision}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s


def shows(value: float, shown: float, precision: int) -> bool:
    """Whether value, worked out from what the tables show, reads as shown does."""
    return number(value, precision) == number(shown, precision)


def rounded(values: np.ndarray | float, precision: int) -> np.ndarray:
    """values as a table shows them, rounded to precision decimals."""
    return np.round(np.asarray(values, dtype=np.float64), precision)


UNROUNDED = ("Worked out from the unrounded numbers: redone from the rounded inputs as "
             "shown, a result can differ in its last digit.")

INF = float("inf")
MASKED = "—"  # a key the mask hides from the query: not a weight of 0 the query chose
MAX_ROWS = 40  # taller matrices show their first rows and a "… n more rows" line
HEAT_ROWS = MAX_ROWS * 2  # a heat map's rows are one line each: it shows twice as many
ROWS_DRAWN = HEAT_ROWS  # no view of one head draws more query rows than this (see Bars too)


class Matrix:
    """A labelled matrix that fits the width it is given.

    Columns that do not fit, and rows past max_rows, are left out with an
    explicit "… n more" marker instead of being wrapped into an unreadable table.
    Only the cells that are shown are ever formatted, so a 512×512 matrix is cheap.
    """

    def __init__(
        self,
        title: str,
        rows: Sequence[str],
        cols: Sequence[str],
        values: np.ndarray,
        precision: int,
        *,
        caption: str | None = None,
        mark_row_max: bool = False,
        corner: str = "",
        max_rows: int = MAX_ROWS,
        masked: np.ndarray | None = None,
        highlight: int | None = None,
    ) -> None:
        self.title, self.caption, self.corner = title, caption, corner
        self.rows, self.cols = rows, cols  # labelled when drawn: only those shown
        self.values, self.precision = values, precision
        self.mark_row_max, self.max_rows = mark_row_max, max_rows
        self.masked = masked  # (rows, cols) bool: True where the mask hides the key: shown as —
        self.highlight = highlight  # a row to draw in bold reverse (the pair's key)
        self._cache: dict[int, tuple[list[Text], list[int]]] = {}

    def lines(self, width: int) -> list[Text]:
        """The matrix laid out for a given width, one Text per line (cached per width)."""
        if width in self._cache:
            return self._cache[width][0]
        n_rows = len(self.rows)
        shown_rows = n_rows if n_rows <= self.max_rows else self.max_rows - 1
        rows = [token_label(r) for r in self.rows[:shown_rows]]
        best = (_row_maxima(self.values[:shown_rows]) if self.mark_row_max
                else [()] * shown_rows)
        more_rows = f"… {n_rows - shown_rows} more rows" if shown_rows < n_rows else ""
        label_w = max([cell_len(self.corner), cell_len(more_rows),
                       *(cell_len(r) for r in rows)])
        more_w = len(f"… {len(self.cols)} more") + 2
        # No column is narrower than 1 + 2 characters: at most this many can be on screen.
        block = self.values[:shown_rows, : max(1, width // 3)].tolist()  # Python floats
        hidden_cells = (self.masked[:shown_rows, : max(1, width // 3)].tolist()
                        if self.masked is not None else None)
        spare = " " if self.mark_row_max else ""  # keeps columns aligned with a marked cell
        fmt = f"{{:.{self.precision}f}}".format
        columns = []  # (header, cells, content width) of each column shown
        used = label_w
        heads = [token_label(c) for c in self.cols[: len(block[0]) if block else 0]]
        for j, head in enumerate(heads):
            cells = []
            for i, row in enumerate(block):
                v = row[j]
                if hidden_cells is not None and hidden_cells[i][j]:
                    cells.append(MASKED + spare)
                    continue
                if v != v:  # NaN: a cell left empty on purpose (a sum row's q and k)
                    cells.append(" " + spare)
                    continue
                text = fmt(v) if -INF < v < INF else number(v, self.precision)
                if text[0] == "-" and float(text) == 0:  # no -0.00
                    text = text[1:]
                cells.append(text + (MAX_MARK if j in best[i] else spare))
            w = max(cell_len(head), max(map(len, cells), default=0))  # numbers are ASCII
            columns.append((head, cells, w))
            used += w + 2  # two spaces before each column
            if used > width:  # past the edge: the rest will not be shown
                break
        if used > width or len(columns) < len(self.cols):
            room, keep, taken = width - label_w - more_w, 1, columns[0][2] + 2
            while keep < len(columns) and taken + columns[keep][2] + 2 <= room:
                taken += columns[keep][2] + 2
                keep += 1
            columns = columns[:keep]
        hidden = len(self.cols) - len(columns)

        body_w = label_w + sum(w + 2 for _, _, w in columns)
        out = [Text(self.title, style="bold", no_wrap=True)]
        widths = [cell_len(self.title), body_w + (len(f"  … {hidden} more") if hidden else 0)]
        header = Text(no_wrap=True)  # spans only, no base style: see segments()
        header.append(self.corner + " " * (label_w - cell_len(self.corner)), style="dim")
        for head, _, w in columns:
            header.append("  " + " " * (w - cell_len(head)) + head, style="bold")
        if hidden:
            header.append(f"  … {hidden} more", style="dim")
        out.append(header)
        for i in range(shown_rows):
            # One string per line, with spans only where a cell is styled: far fewer Text
            # operations than appending cell by cell (this is the hot loop of a big render).
            label = rows[i] + " " * (label_w - cell_len(rows[i]))
            lit = i == self.highlight
            pieces, spans, at = [label], [Span(0, len(label), "bold reverse" if lit else "bold")], \
                len(label)
            row = block[i]
            for j, (_, cells, w) in enumerate(columns):
                v = row[j]
                hidden_cell = hidden_cells is not None and hidden_cells[i][j]
                style = ("bold reverse" if j in best[i] or (lit and not hidden_cell) else
                         "dim" if hidden_cell or v == -INF or (self.mark_row_max and v == 0)
                         else "")
                cell = "  " + cells[i].rjust(w)
                if style:
                    spans.append(Span(at + 2, at + len(cell), style))
                pieces.append(cell)
                at += len(cell)
            if hidden:
                pieces.append("  …")
                spans.append(Span(at + 2, at + 3, "dim"))
            out.append(Text("".join(pieces), spans=spans, no_wrap=True))
            widths.append(body_w + (3 if hidden else 0))
        if more_rows:
            out.append(Text(more_rows, style="dim"))
            widths.append(cell_len(more_rows))
        if self.caption:
            out.append(Text(self.caption))
            widths.append(cell_len(self.caption))
        self._cache[width] = out, widths
        return out

    def widths(self, width: int) -> list[int]:
        """The cell width of each line that lines(width) gives, worked out, not measured."""
        self.lines(width)
        return self._cache[width][1]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from segments(self.lines(options.max_width), console)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max(self.widths(options.max_width))
        return Measurement(widest, widest)


LABEL_CAP = 16  # token labels longer than this are cut with an ellipsis (the JSON keeps them)


def _row_maxima(values: np.ndarray) -> list[tuple[int, ...]]:
    """Per row, the columns holding its largest value: every one of a tie, and none when the
    whole row is even (no entry is larger than another, so none is marked as the largest)."""
    top = values.max(axis=1, keepdims=True)  # (rows, 1)
    at_top = values == top  # (rows, cols); a NaN row has no largest
    return [() if row.all() else tuple(np.flatnonzero(row).tolist()) for row in at_top]


def segments(lines: Iterable[Text], console: Console) -> RenderResult:
    """Our own laid-out lines straight to segments.

    They fit the width already and their spans never overlap, so rich's general text
    pipeline (wrapping, span merging) can be skipped: it was most of a big render's time.
    """
    get_style = console.get_style
    for text in lines:
        spans = sorted(text.spans, key=lambda sp: sp.start)
        if any(a.end > b.start for a, b in zip(spans, spans[1:], strict=False)):  # overlap
            yield from text.render(console)
            yield Segment.line()
            continue
        plain = text.plain
        base = get_style(text.style) if text.style else None
        at = 0
        for span in spans:
            if span.start > at:
                yield Segment(plain[at:span.start], base)
            style = get_style(span.style)
            yield Segment(plain[span.start:span.end], base + style if base else style)
            at = span.end
        if at < len(plain):
            yield Segment(plain[at:], base)
        yield Segment.line()


@lru_cache(maxsize=65536)
def cut_label(label: str) -> str:
    return label if cell_len(label) <= LABEL_CAP else label[: LABEL_CAP - 1] + "…"


def token_label(token: str) -> str:
    """A token as a row, column or chart label: escaped, cut, and without the leading space
    a byte-level BPE token carries (" animal"), which would push it out of line."""
    return cut_label(visible(token.strip() or token))


class Flow:
    """Blocks (matrices, bar charts) side by side, wrapping to a new row when one does not fit."""

    def __init__(self, items: Sequence[Matrix | Bars], gap: int = 3, row_gap: int = 0) -> None:
        self.items, self.gap, self.row_gap = list(items), gap, row_gap

    def _lines(self, width: int) -> Iterable[Text]:
        row: list[tuple[list[Text], list[int], int]] = []
        used = 0
        for item in self.items:
            block, sizes = item.lines(width), item.widths(width)
            w = max(sizes)
            if row and used + self.gap + w > width:
                yield from self._join(row)
                yield from (Text() for _ in range(self.row_gap))
                row, used = [], 0
            used = w if not row else used + self.gap + w
            row.append((block, sizes, w))
        if row:
            yield from self._join(row)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from segments(self._lines(options.max_width), console)

    def _join(self, row: list[tuple[list[Text], list[int], int]]) -> Iterable[Text]:
        for k in range(max(len(block) for block, _, _ in row)):
            line = Text(no_wrap=True)
            for n, (block, sizes, w) in enumerate(row):
                if k < len(block):
                    line.append_text(block[k])
                if n < len(row) - 1:
                    line.append(" " * (w - (sizes[k] if k < len(block) else 0) + self.gap))
            line.rstrip()
            yield line



def plural(count: int, noun: str) -> str:
    """'1 more token', '2 more tokens'."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def decoder_reads(count: int) -> str:
    """What an encoder-decoder's decoder reads for a target: count tokens, its start token
    first."""
    rest = (f", then the target's {count - 1}" if count > 1 else " (the target has none)")
    return f"the decoder reads {plural(count, 'token')}: its start token{rest}"


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of width cells, filled to fraction in eighths of a cell."""
    eighths = int(round(max(0.0, min(1.0, fraction)) * width * 8))
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


class Bars:
    """What one query token attends to: one bar and percentage per key token."""

    def __init__(self, query: str, keys: Sequence[str], weights: np.ndarray,
                 masked: np.ndarray | None = None, verb: str = "attends to:",
                 position: int | None = None) -> None:
        self.query, self.keys, self.weights = token_label(query), keys, weights
        self.verb = verb  # after the query's name in the title
        # the query's token index, for a word the text repeats: "(token 9)" after the quoted
        # word, not "#9", which --focus reads as the word's 9th occurrence
        self.position = position
        self.masked = masked  # (n,) bool: keys the mask hides, drawn as — instead of 0.0%
        self.bar_width = BAR_WIDTH  # at most; set lower to draw two charts to one scale
        n = len(keys)
        shown = range(n) if n <= MAX_BARS else sorted(np.argsort(-weights)[:TOP_BARS])
        cut = len(shown) < n  # then name keys by position too: words repeat in long texts
        self.labels = {j: (f"{j} " if cut else "") + token_label(keys[j]) for j in shown}
        self.label_width = max(cell_len(lab) for lab in self.labels.values())

    def lines(self, width: int) -> list[Text]:
        return self._draw(width)[0]

    def widths(self, width: int) -> list[int]:
        """The cell width of each line that lines(width) gives, worked out, not measured."""
        return self._draw(width)[1]

    def _draw(self, width: int) -> tuple[list[Text], list[int]]:
        n, shown = len(self.keys), list(self.labels)
        best = int(np.argmax(self.weights))
        # a narrow column (side by side, a small terminal) gets shorter labels and bars, so
        # that the percentages are never cut off
        label_w = min(self.label_width, max(3, width - 1 - 4 - 7))
        bar_w = max(1, min(self.bar_width, width - label_w - 8))
        where = "" if self.position is None else f" (token {self.position})"
        title = Text.assemble(("“", "dim"), (self.query, "bold"),
                              (f"”{where} {self.verb}", "dim"))
        if title.cell_len > width:
            title.truncate(max(1, width), overflow="ellipsis")
        out, widths = [title], [title.cell_len]
        for j in shown:
            lab, w = _fit(self.labels[j], label_w), self.weights[j]
            line = Text(" " * (label_w - cell_len(lab)) + lab + " ", no_wrap=True)
            if self.masked is not None and self.masked[j]:
                line.append(" " * bar_w + f" {MASKED:>5} ", style="dim")
            else:
                line.append(bar(w, bar_w), style="bold cyan" if j == best else "cyan")
                line.append(f" {100 * w:5.1f}%")
            out.append(line)
            widths.append(label_w + 1 + bar_w + 7)
        if len(shown) < n:
            # the hidden keys' own weights added up: 1 minus the shown ones can come out a
            # hair below 0 when a row sums to a hair over 1, and print as -0.0%
            hidden = np.setdiff1d(np.arange(n), shown)
            rest = max(0.0, float(self.weights[hidden].sum()))
            out.append(Text(f"… {n - len(shown)} other tokens share {100 * rest:.1f}%",
                            style="dim"))
            widths.append(out[-1].cell_len)
        return out, widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from segments(self.lines(options.max_width), console)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max(self.widths(options.max_width))
        return Measurement(min(widest, 3 + 1 + 4 + 7), widest)  # it can shrink to that


def _fit(label: str, width: int) -> str:
    """label cut to width cells, ending in … when cut."""
    if cell_len(label) <= width:
        return label
    while cell_len(label) > width - 1:
        label = label[:-1]
    return label + "…"
