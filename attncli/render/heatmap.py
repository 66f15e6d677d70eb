"""The heat map: an attention matrix drawn as one shaded character per cell, so that a long
text's matrix fits the terminal where its numbers would not."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from attncli.render.widgets import HEAT_ROWS, token_label

SHADE = " ░▒▓█"
HEAT_MASKED = "·"  # a masked cell of a heat map
VERTICAL_LABEL = 8  # a column's token written downwards: at most this many characters


class Heatmap:
    """An n×m matrix as one shaded character per cell, so 60 tokens fit in 100 columns.

    Rows are labelled "index token"; the columns are the keys (the same tokens, or for
    cross-attention the source's), by index, on a ruler, or with columns, by their tokens:
    written across over cells as wide as the longest when they fit, else downwards over
    narrow cells, above the ruler.
    Each cell's shade is its value relative to its row's largest (per_row) or to the range
    of the rows drawn (every row, unless there are more than max_rows); the row's largest
    cell is always the darkest.
    """

    def __init__(self, title: str, labels: Sequence[str], values: np.ndarray, *,
                 per_row: bool, caption: str | None = None, max_rows: int = HEAT_ROWS,
                 masked: np.ndarray | None = None, columns: Sequence[str] | None = None):
        self.title, self.caption, self.per_row, self.max_rows = title, caption, per_row, max_rows
        self.labels = [token_label(lab) for lab in labels]
        self.values = values
        self.masked = masked  # (n, n) bool: drawn as HEAT_MASKED, not as a blank weight
        # the keys' tokens, to name the columns by (else they are numbered on a ruler)
        self.columns = None if columns is None else [token_label(lab) for lab in columns]

    def _levels(self, rows: int, cols: int) -> np.ndarray:
        """The shade level (0..4) of each drawn cell, the first rows × cols: (rows, cols).

        Only the drawn cells are shaded (a 4,096-token matrix draws at most 79 rows of 100
        columns); what they are shaded against is still the whole row's largest (per_row) or
        the range of the rows drawn (every column), worked out in blocks of rows so no copy of
        them is made."""
        block = self.values[:rows, :cols]
        v = _unmasked(block)  # masked: left blank
        if self.per_row:
            whole = _unmasked(self.values[:rows])  # every column: the largest may be off screen
            top = np.nanmax(np.abs(whole), axis=1, keepdims=True)  # (rows, 1)
            rel = np.abs(v) / np.where(top > 0, top, 1.0)
        else:
            lo, hi = _range(self.values[:rows])
            rel = (v - lo) / (hi - lo) if hi > lo else np.ones_like(v)
        # nearest level: a weight under 1/8 of its row's largest stays blank, the largest is █
        levels = np.rint(np.nan_to_num(rel, nan=0.0) * (len(SHADE) - 1)).astype(int)
        return np.clip(levels, 0, len(SHADE) - 1)  # (rows, cols) in 0..4

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        n, m = len(self.labels), self.values.shape[1]  # rows (queries), columns (keys)
        idx_w = len(str(n - 1))
        name_w = max(cell_len(lab) for lab in self.labels)
        label_w = idx_w + 1 + name_w
        room = options.max_width - label_w - 1
        cw = self._cell_width(m, room)
        more = f" … {m} more"
        cols = m if m * cw <= room else max(1, (room - len(more)) // cw)
        rows = n if n <= self.max_rows else self.max_rows - 1
        levels = self._levels(rows, cols)
        pad = " " * (label_w + 1)
        yield Text(self.title, style="bold")
        if self.columns is not None and cw == self._across():
            yield Text(pad + "".join(" " * (cw - 1 - cell_len(lab)) + lab + " "
                                     for lab in self.columns[:cols]), style="bold")
        else:
            if self.columns is not None:
                yield from (Text(pad + line, style="bold") for line in self._downwards(cols, cw))
            ruler = "".join(str(j).ljust(5 * cw)[:5 * cw] for j in range(0, cols, 5))
            yield Text(pad + ruler[:cols * cw], style="dim")
        for i in range(rows):
            line = Text(f"{i:>{idx_w}} {self.labels[i]:<{name_w}} ")
            hidden = self.masked[i, :cols] if self.masked is not None else [False] * cols
            line.append("".join((HEAT_MASKED if off else SHADE[k] * (cw - 1 or 1)).ljust(cw)
                                for k, off in zip(levels[i], hidden, strict=True)),
                        style="cyan")
            if cols < m:
                line.append(f" … {m - cols} more", style="dim")
            yield line
        if rows < n:
            yield Text(f"… {n - rows} more rows", style="dim")
        if self.caption:
            yield Text(self.caption, style="dim")

    def _across(self) -> int:
        """A column's width when the tokens are written across: the longest, and a space."""
        return max(cell_len(lab) for lab in self.columns or [""]) + 1

    def _cell_width(self, m: int, room: int) -> int:
        """How many cells a column takes: one (numbered columns, or too many to name), else
        the longest token's (written across) or two (written downwards) when they fit."""
        if self.columns is None:
            return 1
        across = self._across()
        return across if m * across <= room else 2 if 2 * m <= room else 1

    def _downwards(self, cols: int, cw: int) -> list[str]:
        """The first cols tokens written downwards, one character a line, each in a column
        cw cells wide; a longer token ends in …, a character wider than the column is …"""
        names = [lab if len(lab) <= VERTICAL_LABEL else lab[:VERTICAL_LABEL - 1] + "…"
                 for lab in (self.columns or [])[:cols]]
        lines = []
        for r in range(max(len(name) for name in names)):
            line = ""
            for name in names:
                ch = name[r] if r < len(name) else " "
                ch = ch if cell_len(ch) <= cw else "…"
                line += ch + " " * (cw - cell_len(ch))
            lines.append(line)
        return lines


RANGE_ROWS = 256  # _range reads a matrix this many rows at a time



def _unmasked(values: np.ndarray) -> np.ndarray:
    """values with its masked entries (-inf) as NaN, which the nan-reductions skip."""
    return np.where(np.isneginf(values), np.nan, values)


def _range(values: np.ndarray) -> tuple[float, float]:
    """The smallest and largest value of a whole matrix, masked entries (-inf) and NaN
    skipped (NaN, NaN if nothing is left), read RANGE_ROWS rows at a time: the same two numbers
    as np.nanmin and np.nanmax of _unmasked(values), without its n×n copy."""
    lows, highs = [], []
    for start in range(0, max(1, len(values)), RANGE_ROWS):
        part = _unmasked(values[start:start + RANGE_ROWS])
        lows.append(np.fmin.reduce(part, axis=None))
        highs.append(np.fmax.reduce(part, axis=None))
    return np.nanmin(lows), np.nanmax(highs)


