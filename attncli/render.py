"""Rich renderables for an Explanation: the only layer that knows about the terminal.

Everything the user typed reaches the screen as rich `Text`, never as markup,
and control characters are shown escaped, so input can neither style nor
steer the terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.rule import Rule
from rich.segment import Segment
from rich.table import Table
from rich.text import Span, Text

from attncli.attention import HeadSteps
from attncli.explain import Explanation
from attncli.lookup import find_all
from attncli.safe_text import visible
from attncli.sections import SECTIONS

HEAD_SECTIONS = set(SECTIONS) - {"tokens", "x"}  # the sections drawn once per head
BAR_WIDTH = 24
MAX_BARS = 16  # a chart with more keys shows its TOP_BARS largest, in sentence order
TOP_BARS = 10
MAX_CHARTS = 8  # without --focus, a longer text gets charts for its first MAX_CHARTS tokens
EIGHTHS = " ▏▎▍▌▋▊▉█"
MAX_MARK = "*"  # marks each row's largest weight, so the view reads without colour


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


INF = float("inf")
MAX_ROWS = 40  # taller matrices show their first rows and a "… n more rows" line


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
    ) -> None:
        self.title, self.caption, self.corner = title, caption, corner
        self.rows, self.cols = [_label(r) for r in rows], [_label(c) for c in cols]
        self.values, self.precision = values, precision
        self.mark_row_max, self.max_rows = mark_row_max, max_rows
        self._cache: dict[int, tuple[list[Text], list[int]]] = {}

    def lines(self, width: int) -> list[Text]:
        """The matrix laid out for a given width, one Text per line (cached per width)."""
        if width in self._cache:
            return self._cache[width][0]
        n_rows = len(self.rows)
        shown_rows = n_rows if n_rows <= self.max_rows else self.max_rows - 1
        best = (np.argmax(self.values[:shown_rows], axis=1).tolist() if self.mark_row_max
                else [-1] * shown_rows)
        more_rows = f"… {n_rows - shown_rows} more rows" if shown_rows < n_rows else ""
        label_w = max([cell_len(self.corner), cell_len(more_rows),
                       *(cell_len(r) for r in self.rows[:shown_rows])])
        more_w = len(f"… {len(self.cols)} more") + 2
        # No column is narrower than 1 + 2 characters: at most this many can be on screen.
        block = self.values[:shown_rows, : max(1, width // 3)].tolist()  # Python floats
        spare = " " if self.mark_row_max else ""  # keeps columns aligned with a marked cell
        fmt = f"{{:.{self.precision}f}}".format
        columns = []  # (header, cells, content width) of each column shown
        used = label_w
        for j, head in enumerate(self.cols[: len(block[0]) if block else 0]):
            cells = []
            for i, row in enumerate(block):
                v = row[j]
                text = fmt(v) if -INF < v < INF else number(v, self.precision)
                if text[0] == "-" and float(text) == 0:  # no -0.00
                    text = text[1:]
                cells.append(text + (MAX_MARK if best[i] == j else spare))
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
            label = self.rows[i] + " " * (label_w - cell_len(self.rows[i]))
            pieces, spans, at = [label], [Span(0, len(label), "bold")], len(label)
            row = block[i]
            for j, (_, cells, w) in enumerate(columns):
                v = row[j]
                style = ("bold reverse" if best[i] == j else
                         "dim" if v == -INF or (self.mark_row_max and v == 0) else "")
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


SHADE = " ░▒▓█"
LABEL_CAP = 16  # token labels longer than this are cut with an ellipsis (the JSON keeps them)


class Heatmap:
    """An n×n matrix as one shaded character per cell, so 60 tokens fit in 100 columns.

    Rows are labelled "index token"; the columns are the same tokens, by index, on a ruler.
    Each cell's shade is its value relative to its row's largest (per_row) or to the range
    of the whole matrix; the row's largest cell is always the darkest.
    """

    def __init__(self, title: str, labels: Sequence[str], values: np.ndarray, *,
                 per_row: bool, caption: str | None = None, max_rows: int = MAX_ROWS * 2):
        self.title, self.caption, self.per_row, self.max_rows = title, caption, per_row, max_rows
        self.labels = [_label(lab) for lab in labels]
        self.values = values

    def _levels(self) -> np.ndarray:
        v = np.where(np.isneginf(self.values), np.nan, self.values)  # masked: left blank
        if self.per_row:
            top = np.nanmax(np.abs(v), axis=1, keepdims=True)  # (n, 1)
            rel = np.abs(v) / np.where(top > 0, top, 1.0)
        else:
            lo, hi = np.nanmin(v), np.nanmax(v)
            rel = (v - lo) / (hi - lo) if hi > lo else np.ones_like(v)
        # nearest level: a weight under 1/8 of its row's largest stays blank, the largest is █
        levels = np.rint(np.nan_to_num(rel, nan=0.0) * (len(SHADE) - 1)).astype(int)
        return np.clip(levels, 0, len(SHADE) - 1)  # (n, n) in 0..4

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        n = len(self.labels)
        idx_w = len(str(n - 1))
        label_w = idx_w + 1 + max(cell_len(lab) for lab in self.labels)
        room = options.max_width - label_w - 1
        more = f" … {n} more"
        cols = n if n <= room else max(1, room - len(more))
        rows = n if n <= self.max_rows else self.max_rows - 1
        levels = self._levels()
        yield Text(self.title, style="bold")
        ruler = "".join(str(j).ljust(5)[:5] if j % 5 == 0 else "" for j in range(0, cols, 5))
        yield Text(" " * (label_w + 1) + ruler[:cols], style="dim")
        for i in range(rows):
            line = Text(f"{i:>{idx_w}} {self.labels[i]:<{label_w - idx_w - 1}} ")
            line.append("".join(SHADE[k] for k in levels[i, :cols]), style="cyan")
            if cols < n:
                line.append(f" … {n - cols} more", style="dim")
            yield line
        if rows < n:
            yield Text(f"… {n - rows} more rows", style="dim")
        if self.caption:
            yield Text(self.caption, style="dim")


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
def _cut(label: str) -> str:
    return label if cell_len(label) <= LABEL_CAP else label[: LABEL_CAP - 1] + "…"


def _label(token: str) -> str:
    """A token as a row, column or chart label: escaped, cut, and without the leading space
    a byte-level BPE token carries (" animal"), which would push it out of line."""
    return _cut(visible(token.strip() or token))


class Flow:
    """Blocks (matrices, bar charts) side by side, wrapping to a new row when one does not fit."""

    def __init__(self, items: Sequence[Matrix | Bars], gap: int = 3) -> None:
        self.items, self.gap = list(items), gap

    def _lines(self, width: int) -> Iterable[Text]:
        row: list[tuple[list[Text], list[int], int]] = []
        used = 0
        for item in self.items:
            block, sizes = item.lines(width), item.widths(width)
            w = max(sizes)
            if row and used + self.gap + w > width:
                yield from self._join(row)
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


def matrix(*args, **kwargs) -> Matrix:
    """A labelled matrix: one row per row label, one column per column label."""
    return Matrix(*args, **kwargs)


def plural(count: int, noun: str) -> str:
    """'1 more token', '2 more tokens'."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of width cells, filled to fraction in eighths of a cell."""
    eighths = int(round(max(0.0, min(1.0, fraction)) * width * 8))
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


class Bars:
    """What one query token attends to: one bar and percentage per key token."""

    def __init__(self, query: str, keys: Sequence[str], weights: np.ndarray) -> None:
        self.query, self.keys, self.weights = _label(query), keys, weights
        self.bar_width = BAR_WIDTH  # at most; set lower to draw two charts to one scale
        n = len(keys)
        shown = range(n) if n <= MAX_BARS else sorted(np.argsort(-weights)[:TOP_BARS])
        cut = len(shown) < n  # then name keys by position too: words repeat in long texts
        self.labels = {j: (f"{j} " if cut else "") + _label(keys[j]) for j in shown}
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
        title = Text.assemble(("“", "dim"), (self.query, "bold"), ("” attends to:", "dim"))
        if title.cell_len > width:
            title.truncate(max(1, width), overflow="ellipsis")
        out, widths = [title], [title.cell_len]
        for j in shown:
            lab, w = _fit(self.labels[j], label_w), self.weights[j]
            line = Text(" " * (label_w - cell_len(lab)) + lab + " ", no_wrap=True)
            line.append(bar(w, bar_w), style="bold cyan" if j == best else "cyan")
            line.append(f" {100 * w:5.1f}%")
            out.append(line)
            widths.append(label_w + 1 + bar_w + 7)
        if len(shown) < n:
            rest = 1.0 - float(self.weights[shown].sum())
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


def bars(query: str, keys: Sequence[str], weights: np.ndarray) -> Bars:
    """What one query token attends to: one bar and percentage per key token."""
    return Bars(query, keys, weights)


def _spaced(parts: Sequence[RenderableType]) -> Group:
    """The parts one under another, a blank line after each."""
    return Group(*(item for p in parts for item in (p, Text(""))))


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def _x_step(ex: Explanation) -> Group:
    """Step 1's heading: the embeddings, or for a real model the chosen layer's input."""
    if not ex.from_model:
        return _step("Step 1 · Embeddings X", "Each token becomes a row of numbers: its embedding.")
    first = ex.heads[0].layer
    context = ("its embedding" if first == 0 else
               f"its embedding after {plural(first, 'layer')} of mixing in context")
    return _step(f"Step 1 · X, the input of layer {first}",
                 f"Each token's row of numbers as it reaches this layer's attention: {context}, "
                 "normalised first where the model does that.")


def _projection_text(s) -> str:
    """Step 2b's formula as this head really computed it: biases and RoPE where present."""
    def term(m: str, b: np.ndarray | None) -> str:
        return f"{m} = X·W_{m}" + (f" + b_{m}" if b is not None else "")

    text = f"{term('Q', s.b_q)}, {term('K', s.b_k)}, {term('V', s.b_v)}: one row of each per token."
    if s.b_q is not None or s.b_k is not None or s.b_v is not None:
        text += " This model adds a learned bias vector (b) to every row."
    if s.q_unrotated is not None:
        text += (" Then RoPE turns each query and key by angles set by the token's position, so "
                 "that Q·Kᵀ depends on how far apart two tokens are; the Q and K below are the "
                 "turned ones.")
    return text


def _step(title: str, text: str) -> Group:
    return Group(Rule(Text(title, style="bold"), align="left"), Text(text, style="italic"))


def head_title(ex: Explanation, hs: HeadSteps) -> str:
    """'Head 1 of 2', or 'Layer 3 · Head 5' for a real model."""
    if ex.from_model:
        return f"Layer {hs.layer} · Head {hs.head}"
    return f"Head {hs.head + 1} of {ex.config['heads']}"


def explanation(
    ex: Explanation,
    *,
    show: Iterable[str] = SECTIONS,
    focus: str | None = None,
    precision: int = 2,
    heatmap: bool = False,
) -> Group:
    """Every selected section of an explanation, in the lesson's order."""
    show = set(show)
    labels = ex.labels
    parts: list[RenderableType] = []
    d_model = ex.x.shape[1]
    dims = list(ex.dims) if ex.dims else _names("d", d_model)

    if "tokens" in show:
        # the title is a line of its own: as the table's title it would wrap a long path
        # into the table's narrow width
        source = ("the model's own tokenizer" if ex.from_model
                  else visible(str(ex.config.get("tokenizer", "word-level"))))
        title = Text(f"Tokens ({source})",
                     style="bold", no_wrap=True, overflow="ellipsis")
        table = Table(box=None, padding=(0, 1))
        for name, justify in (("#", "right"), ("token", "left"), ("id", "right"),
                              ("start", "right"), ("end", "right")):
            table.add_column(name, justify=justify, no_wrap=True)
        for i, t in enumerate(ex.tokens[:MAX_ROWS]):
            table.add_row(str(i), Text(_cut(visible(t.text))), str(t.id), str(t.start),
                          str(t.end))
        block: list[RenderableType] = [title, table]
        if len(ex.tokens) > MAX_ROWS:
            more = plural(len(ex.tokens) - MAX_ROWS, "more token")
            block.append(Text(f"… {more} (--json lists all)", style="dim"))
        parts.append(Group(*block))
    if "x" in show:
        parts.append(_x_step(ex))
        if ex.positions is not None:
            n = len(labels)
            parts.append(matrix(f"Token embeddings ({n}×{d_model})", labels, dims,
                                ex.x - ex.positions, precision))
            parts.append(_step("Step 1b · Positions",
                               "Attention itself ignores word order, so each position adds its "
                               "own pattern: PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), "
                               "PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))."))
            parts.append(matrix(f"PE ({n}×{d_model})", [f"pos {i}" for i in range(n)], dims,
                                ex.positions, precision))
            parts.append(matrix(f"X = embeddings + PE ({n}×{d_model})", labels, dims, ex.x,
                                precision))
        else:
            parts.append(matrix(f"X ({len(labels)}×{d_model})", labels, dims, ex.x, precision))
        parts.extend(Text(note, style="yellow") for note in ex.notes)

    for hs in ex.heads:
        if hs.layer != ex.heads[0].layer and "x" in show and hs.head == _first_head(ex, hs.layer):
            parts.append(Rule(Text(f"Layer {hs.layer}", style="bold magenta")))
            parts.append(matrix(f"X, the input of layer {hs.layer} ({len(labels)}×{d_model})",
                                labels, dims, hs.steps.x, precision))
        parts.extend(_head(ex, hs, show, focus, labels, dims, precision, heatmap))
    return _spaced(parts)


def _head(
    ex: Explanation,
    hs: HeadSteps,
    show: set[str],
    focus: str | None,
    labels: list[str],
    dims: list[str],
    precision: int,
    heatmap: bool = False,
) -> list[RenderableType]:
    s = hs.steps

    def square(title: str, values: np.ndarray, *, weights: bool = False,
               caption: str | None = None) -> RenderableType:
        if heatmap:
            how = ("each cell shaded by its share of the row's largest weight" if weights
                   else "shaded from the smallest (blank) to the largest (█) value")
            return Heatmap(title, labels, values, per_row=weights, caption=how)
        return matrix(title, labels, labels, values, precision, corner="query ↓ key →",
                      mark_row_max=weights, caption=caption)

    n, d_k, d_v = s.q.shape[0], s.q.shape[1], s.v.shape[1]
    parts: list[RenderableType] = []
    if (len(ex.heads) > 1 or ex.from_model) and show & HEAD_SECTIONS:
        parts.append(Rule(Text(head_title(ex, hs), style="bold magenta")))
    if "w" in show:
        parts.append(_step("Step 2a · The weight matrices",
                           "W_Q turns an embedding into what the token looks for, W_K into what "
                           "it offers, W_V into what it passes on."))
        parts.append(Flow([
            matrix(f"W_Q ({len(dims)}×{d_k})", dims, _names("q", d_k), s.w_q, precision),
            matrix(f"W_K ({len(dims)}×{d_k})", dims, _names("k", d_k), s.w_k, precision),
            matrix(f"W_V ({len(dims)}×{d_v})", dims, _names("v", d_v), s.w_v, precision),
        ]))
        biases = [(name, prefix, b) for name, prefix, b in
                  (("b_Q", "q", s.b_q), ("b_K", "k", s.b_k), ("b_V", "v", s.b_v)) if b is not None]
        if biases:
            parts.append(Flow([matrix(f"{name} (1×{len(b)})", ["bias"], _names(prefix, len(b)),
                                      b[None, :], precision) for name, prefix, b in biases]))
    if "qkv" in show:
        parts.append(_step("Step 2b · Queries, keys and values", _projection_text(s)))
        if s.q_unrotated is not None:
            parts.append(Flow([
                matrix(f"Q before RoPE ({n}×{d_k})", labels, _names("q", d_k), s.q_unrotated,
                       precision),
                matrix(f"K before RoPE ({n}×{d_k})", labels, _names("k", d_k), s.k_unrotated,
                       precision),
            ]))
        parts.append(Flow([
            matrix(f"Q ({n}×{d_k})", labels, _names("q", d_k), s.q, precision),
            matrix(f"K ({n}×{d_k})", labels, _names("k", d_k), s.k, precision),
            matrix(f"V ({n}×{d_v})", labels, _names("v", d_v), s.v, precision),
        ]))
    if "scores" in show:
        parts.append(_step("Step 3 · Scores = Q·Kᵀ",
                           "Each query is compared with every key by a dot product: "
                           "the bigger the number, the better the match."))
        parts.append(square(f"Scores ({n}×{n})", s.scores))
    if "scaled" in show:
        parts.append(_step(f"Step 4a · Scaled = scores / √d_k = scores / √{d_k} "
                           f"= scores / {number(s.divisor, 3)}",
                           "A score adds up d_k products, so it tends to grow with √d_k; "
                           "dividing by √d_k undoes that, and the softmax does not put all "
                           "the weight on one key."))
        if s.mask is not None and not heatmap:
            mask_view = np.where(s.mask, -np.inf, 0.0)
            parts.append(matrix("Causal mask (0 = may look, −∞ = hidden)", labels, labels,
                                mask_view, 0, corner="query ↓ key →"))
        parts.append(square(f"Scaled ({n}×{n})", s.scaled))
    if "softmax" in show:
        parts.append(_step("Step 4b · Attention weights = softmax(scaled)",
                           "Softmax turns each row into weights that are positive and sum to 1."))
        parts.append(square(f"Weights ({n}×{n}); each row sums to 1", s.weights, weights=True,
                            caption=f"{MAX_MARK} marks the largest weight in each row"))
    if "bars" in show:
        wanted = list(range(n)) if focus is None else find_all(ex, focus, "--focus")
        if focus is None:
            parts.append(_step("Where each token looks", "Each bar is one attention weight."))
        seen = Counter(_label(lab) for lab in labels)  # a repeated word's charts get its "#i"
        parts.append(Flow([bars(labels[i] if seen[_label(labels[i])] == 1 else
                                f"{_label(labels[i])} #{i}", labels, s.weights[i])
                           for i in wanted[:MAX_CHARTS]], gap=4))
        if len(wanted) > MAX_CHARTS:
            more = plural(len(wanted) - MAX_CHARTS, "more token")
            parts.append(Text(f"… charts for {more}: pick one with --focus WORD", style="dim"))
    if "output" in show:
        parts.append(_step("Step 5 · Output = weights·V",
                           "Each token's new vector is the weighted sum of all value rows: "
                           "itself, mixed with the context it attended to."))
        parts.append(matrix(f"Output ({n}×{d_v})", labels, _names("o", d_v), s.output,
                            precision))
    return parts


def _first_head(ex: Explanation, layer: int) -> int:
    return next(hs.head for hs in ex.heads if hs.layer == layer)



def weight_set(ws, *, precision: int = 2) -> Group:
    """What a weights file holds: its description, embeddings table and each head's matrices."""
    dims = list(ws.dims) if ws.dims else _names("d", ws.d_model)
    parts: list[RenderableType] = [Text.assemble(
        (visible(ws.source), "bold"),
        f"  d_model {ws.d_model} · d_k {ws.d_k} · d_v {ws.d_v} · {len(ws.heads)} "
        f"head{'s' if len(ws.heads) > 1 else ''}",
    )]
    if ws.description:
        parts.append(Text(visible(ws.description), style="italic"))
    if ws.embeddings:
        words = list(ws.embeddings)
        parts.append(matrix(f"Embeddings ({len(words)}×{ws.d_model})", words, dims,
                            np.stack([ws.embeddings[w] for w in words]), precision))
    else:
        parts.append(Text("No embeddings table: tokens get seeded embeddings.", style="yellow"))
    for h, hw in enumerate(ws.heads):
        if len(ws.heads) > 1:
            parts.append(Rule(Text(f"Head {h + 1} of {len(ws.heads)}", style="bold magenta")))
        parts.append(Flow([
            matrix(f"W_Q ({ws.d_model}×{ws.d_k})", dims, _names("q", ws.d_k), hw.w_q, precision),
            matrix(f"W_K ({ws.d_model}×{ws.d_k})", dims, _names("k", ws.d_k), hw.w_k, precision),
            matrix(f"W_V ({ws.d_model}×{ws.d_v})", dims, _names("v", ws.d_v), hw.w_v, precision),
        ]))
    return _spaced(parts)
