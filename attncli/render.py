"""Rich renderables for an Explanation: the only layer that knows about the terminal.

Everything the user typed reaches the screen as rich `Text`, never as markup,
and control characters are shown escaped, so input can neither style nor
steer the terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from attncli.explain import Explanation, HeadSteps

SECTIONS = ("tokens", "x", "w", "qkv", "scores", "scaled", "softmax", "bars", "output")
SECTION_HELP = {
    "tokens": "the tokens, with ids and character offsets",
    "x": "X, the embeddings (one row per token)",
    "w": "the weight matrices W_Q, W_K and W_V",
    "qkv": "Q, K and V",
    "scores": "the raw scores Q·Kᵀ",
    "scaled": "the scores divided by √d_k (and the mask, if any)",
    "softmax": "the attention weights, softmax of each row",
    "bars": "one bar chart per query token",
    "output": "the output vectors, weights·V",
}
BAR_WIDTH = 24
EIGHTHS = " ▏▎▍▌▋▊▉█"
MAX_MARK = "*"  # marks each row's largest weight, so the view reads without colour


def visible(text: str) -> str:
    """Text with control, format and bidi characters escaped, e.g. ESC -> \\x1b."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Zl", "Zp") and ch != "\u200d":  # keep ZWJ: it joins emoji
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


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


def matrix(
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: np.ndarray,
    precision: int,
    *,
    caption: str | None = None,
    mark_row_max: bool = False,
    corner: str = "",
) -> Table:
    """A labelled matrix: one row per row label, one column per column label."""
    table = Table(
        title=Text(title, style="bold"),
        caption=Text(caption) if caption else None,
        title_justify="left",
        caption_justify="left",
        show_edge=False,
        pad_edge=False,
        box=None,
        padding=(0, 1),
    )
    table.add_column(Text(corner, style="dim"), style="bold", no_wrap=True)
    for col in cols:
        table.add_column(Text(visible(col)), justify="right", no_wrap=True)
    for label, row in zip(rows, values, strict=True):
        best = int(np.argmax(row)) if mark_row_max else -1
        cells = []
        for j, v in enumerate(row):
            if j == best:
                cells.append(Text(number(v, precision) + MAX_MARK, style="bold reverse"))
            else:
                style = "dim" if v == -np.inf or (mark_row_max and v == 0) else ""
                pad = " " if mark_row_max else ""  # keeps columns aligned with the marked cell
                cells.append(Text(number(v, precision) + pad, style=style))
        table.add_row(Text(visible(label)), *cells)
    return table


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of width cells, filled to fraction in eighths of a cell."""
    eighths = int(round(max(0.0, min(1.0, fraction)) * width * 8))
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def bars(query: str, keys: Sequence[str], weights: np.ndarray) -> Table:
    """What one query token attends to: one bar and percentage per key token."""
    table = Table.grid(padding=(0, 1))
    table.title = Text.assemble(("“", "dim"), (visible(query), "bold"), ("” attends to:", "dim"))
    table.title_justify = "left"
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    best = int(np.argmax(weights))
    for j, (key, w) in enumerate(zip(keys, weights, strict=True)):
        style = "bold cyan" if j == best else "cyan"
        table.add_row(Text(visible(key)), Text(bar(w), style=style), Text(f"{100 * w:5.1f}%"))
    return table


def _spaced(parts: Sequence[RenderableType]) -> Group:
    """The parts one under another, a blank line after each."""
    return Group(*(item for p in parts for item in (p, Text(""))))


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def _step(title: str, text: str) -> Group:
    return Group(Rule(Text(title, style="bold"), align="left"), Text(text, style="italic"))


def head_title(ex: Explanation, hs: HeadSteps) -> str:
    """'Head 1 of 2', or 'Layer 3 · Head 5' for a real model."""
    if "layers" in ex.config:
        return f"Layer {hs.layer} · Head {hs.head}"
    return f"Head {hs.head + 1} of {ex.config['heads']}"


def explanation(
    ex: Explanation,
    *,
    show: Iterable[str] = SECTIONS,
    focus: str | None = None,
    precision: int = 2,
) -> Group:
    """Every selected section of an explanation, in the lesson's order."""
    show = set(show)
    labels = ex.labels
    parts: list[RenderableType] = []
    d_model = ex.x.shape[1]
    dims = list(ex.dims) if ex.dims else _names("d", d_model)

    if "tokens" in show:
        table = Table(title=Text(f"Tokens ({ex.config.get('tokenizer', 'word-level')})",
                                 style="bold"), title_justify="left", box=None, padding=(0, 1))
        for name, justify in (("#", "right"), ("token", "left"), ("id", "right"),
                              ("start", "right"), ("end", "right")):
            table.add_column(name, justify=justify, no_wrap=True)
        for i, t in enumerate(ex.tokens):
            table.add_row(str(i), Text(visible(t.text)), str(t.id), str(t.start), str(t.end))
        parts.append(table)
    if "x" in show:
        parts.append(_step("Step 1 · Embeddings X",
                           "Each token becomes a row of numbers: its embedding."
                           + (" Positions were added (sinusoidal)." if ex.positions is not None
                              else "")))
        parts.append(matrix(f"X  ({len(labels)}×{d_model})", labels, dims, ex.x, precision))
        parts.extend(Text(note, style="yellow") for note in ex.notes)

    for hs in ex.heads:
        parts.extend(_head(ex, hs, show, focus, labels, dims, precision))
    return _spaced(parts)


def _head(
    ex: Explanation,
    hs: HeadSteps,
    show: set[str],
    focus: str | None,
    labels: list[str],
    dims: list[str],
    precision: int,
) -> list[RenderableType]:
    s = hs.steps
    n, d_k, d_v = s.q.shape[0], s.q.shape[1], s.v.shape[1]
    parts: list[RenderableType] = []
    if len(ex.heads) > 1 or "layers" in ex.config:
        parts.append(Rule(Text(head_title(ex, hs), style="bold magenta")))
    if "w" in show:
        parts.append(_step("Step 2a · The weight matrices",
                           "W_Q turns an embedding into what the token looks for, W_K into what "
                           "it offers, W_V into what it passes on."))
        parts.append(Columns([
            matrix(f"W_Q ({len(dims)}×{d_k})", dims, _names("q", d_k), s.w_q, precision),
            matrix(f"W_K ({len(dims)}×{d_k})", dims, _names("k", d_k), s.w_k, precision),
            matrix(f"W_V ({len(dims)}×{d_v})", dims, _names("v", d_v), s.w_v, precision),
        ], padding=(0, 3)))
    if "qkv" in show:
        parts.append(_step("Step 2b · Queries, keys and values",
                           "Q = X·W_Q, K = X·W_K, V = X·W_V: one row of each per token."))
        parts.append(Columns([
            matrix(f"Q ({n}×{d_k})", labels, _names("q", d_k), s.q, precision),
            matrix(f"K ({n}×{d_k})", labels, _names("k", d_k), s.k, precision),
            matrix(f"V ({n}×{d_v})", labels, _names("v", d_v), s.v, precision),
        ], padding=(0, 3)))
    if "scores" in show:
        parts.append(_step("Step 3 · Scores = Q·Kᵀ",
                           "Each query is compared with every key by a dot product: "
                           "the bigger the number, the better the match."))
        parts.append(matrix(f"Scores ({n}×{n})", labels, labels, s.scores, precision,
                            corner="query ↓ key →"))
    if "scaled" in show:
        parts.append(_step(f"Step 4a · Scaled = scores / √d_k = scores / √{d_k} "
                           f"= scores / {number(s.divisor, 3)}",
                           "Dividing keeps the numbers small enough that the softmax "
                           "does not put all the weight on one key."))
        if s.mask is not None:
            mask_view = np.where(s.mask, -np.inf, 0.0)
            parts.append(matrix("Causal mask (0 = may look, −∞ = hidden)", labels, labels,
                                mask_view, 0, corner="query ↓ key →"))
        parts.append(matrix(f"Scaled ({n}×{n})", labels, labels, s.scaled, precision,
                            corner="query ↓ key →"))
    if "softmax" in show:
        parts.append(_step("Step 4b · Attention weights = softmax(scaled)",
                           "Softmax turns each row into weights that are positive and sum to 1."))
        parts.append(matrix(f"Weights ({n}×{n}); each row sums to 1", labels, labels, s.weights,
                            precision, mark_row_max=True, corner="query ↓ key →",
                            caption=f"{MAX_MARK} marks the largest weight in each row"))
    if "bars" in show:
        wanted = range(n) if focus is None else [i for i, lab in enumerate(labels)
                                                 if _same_word(lab, focus)]
        if focus is None:
            parts.append(_step("Where each token looks", "Each bar is one attention weight."))
        parts.append(Columns([bars(labels[i], labels, s.weights[i]) for i in wanted],
                             padding=(0, 4)))
    if "output" in show:
        parts.append(_step("Step 5 · Output = weights·V",
                           "Each token's new vector is the weighted sum of all value rows: "
                           "itself, mixed with the context it attended to."))
        parts.append(matrix(f"Output ({n}×{d_v})", labels, _names("o", d_v), s.output,
                            precision))
    return parts


def _same_word(label: str, word: str) -> bool:
    return label.strip().casefold() == word.strip().casefold()


def focus_indices(ex: Explanation, word: str) -> list[int]:
    """Positions of the tokens that --focus names (compared ignoring case)."""
    return [i for i, lab in enumerate(ex.labels) if _same_word(lab, word)]


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
        parts.append(Columns([
            matrix(f"W_Q ({ws.d_model}×{ws.d_k})", dims, _names("q", ws.d_k), hw.w_q, precision),
            matrix(f"W_K ({ws.d_model}×{ws.d_k})", dims, _names("k", ws.d_k), hw.w_k, precision),
            matrix(f"W_V ({ws.d_model}×{ws.d_v})", dims, _names("v", ws.d_v), hw.w_v, precision),
        ], padding=(0, 3)))
    return _spaced(parts)
