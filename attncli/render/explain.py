"""Rich renderables for an Explanation: the only layer that knows about the terminal.

Everything the user typed reaches the screen as rich `Text`, never as markup,
and control characters are shown escaped, so input can neither style nor
steer the terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from attncli.attention import HeadSteps
from attncli.explain import Explanation
from attncli.lookup import find_all
from attncli.render.widgets import (
    MAX_MARK,
    MAX_ROWS,
    Bars,
    Flow,
    Heatmap,
    Matrix,
    cut_label,
    number,
    plural,
    token_label,
)
from attncli.safe_text import visible
from attncli.sections import SECTIONS

HEAD_SECTIONS = set(SECTIONS) - {"tokens", "x"}  # the sections drawn once per head
MAX_CHARTS = 8  # without --focus, a longer text gets charts for its first MAX_CHARTS tokens


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
            table.add_row(str(i), Text(cut_label(visible(t.text))), str(t.id), str(t.start),
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
            parts.append(Matrix(f"Token embeddings ({n}×{d_model})", labels, dims,
                                ex.x - ex.positions, precision))
            parts.append(_step("Step 1b · Positions",
                               "Attention itself ignores word order, so each position adds its "
                               "own pattern: PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), "
                               "PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))."))
            parts.append(Matrix(f"PE ({n}×{d_model})", [f"pos {i}" for i in range(n)], dims,
                                ex.positions, precision))
            parts.append(Matrix(f"X = embeddings + PE ({n}×{d_model})", labels, dims, ex.x,
                                precision))
        else:
            parts.append(Matrix(f"X ({len(labels)}×{d_model})", labels, dims, ex.x, precision))
        parts.extend(Text(note, style="yellow") for note in ex.notes)

    for hs in ex.heads:
        if hs.layer != ex.heads[0].layer and "x" in show and hs.head == _first_head(ex, hs.layer):
            parts.append(Rule(Text(f"Layer {hs.layer}", style="bold magenta")))
            parts.append(Matrix(f"X, the input of layer {hs.layer} ({len(labels)}×{d_model})",
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
        return Matrix(title, labels, labels, values, precision, corner="query ↓ key →",
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
            Matrix(f"W_Q ({len(dims)}×{d_k})", dims, _names("q", d_k), s.w_q, precision),
            Matrix(f"W_K ({len(dims)}×{d_k})", dims, _names("k", d_k), s.w_k, precision),
            Matrix(f"W_V ({len(dims)}×{d_v})", dims, _names("v", d_v), s.w_v, precision),
        ]))
        biases = [(name, prefix, b) for name, prefix, b in
                  (("b_Q", "q", s.b_q), ("b_K", "k", s.b_k), ("b_V", "v", s.b_v)) if b is not None]
        if biases:
            parts.append(Flow([Matrix(f"{name} (1×{len(b)})", ["bias"], _names(prefix, len(b)),
                                      b[None, :], precision) for name, prefix, b in biases]))
    if "qkv" in show:
        parts.append(_step("Step 2b · Queries, keys and values", _projection_text(s)))
        if s.q_unrotated is not None:
            parts.append(Flow([
                Matrix(f"Q before RoPE ({n}×{d_k})", labels, _names("q", d_k), s.q_unrotated,
                       precision),
                Matrix(f"K before RoPE ({n}×{d_k})", labels, _names("k", d_k), s.k_unrotated,
                       precision),
            ]))
        parts.append(Flow([
            Matrix(f"Q ({n}×{d_k})", labels, _names("q", d_k), s.q, precision),
            Matrix(f"K ({n}×{d_k})", labels, _names("k", d_k), s.k, precision),
            Matrix(f"V ({n}×{d_v})", labels, _names("v", d_v), s.v, precision),
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
            parts.append(Matrix("Causal mask (0 = may look, −∞ = hidden)", labels, labels,
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
        seen = Counter(token_label(lab) for lab in labels)  # a repeated word's charts get its "#i"
        parts.append(Flow([Bars(labels[i] if seen[token_label(labels[i])] == 1 else
                                f"{token_label(labels[i])} #{i}", labels, s.weights[i])
                           for i in wanted[:MAX_CHARTS]], gap=4))
        if len(wanted) > MAX_CHARTS:
            more = plural(len(wanted) - MAX_CHARTS, "more token")
            parts.append(Text(f"… charts for {more}: pick one with --focus WORD", style="dim"))
    if "output" in show:
        parts.append(_step("Step 5 · Output = weights·V",
                           "Each token's new vector is the weighted sum of all value rows: "
                           "itself, mixed with the context it attended to."))
        parts.append(Matrix(f"Output ({n}×{d_v})", labels, _names("o", d_v), s.output,
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
        parts.append(Matrix(f"Embeddings ({len(words)}×{ws.d_model})", words, dims,
                            np.stack([ws.embeddings[w] for w in words]), precision))
    else:
        parts.append(Text("No embeddings table: tokens get seeded embeddings.", style="yellow"))
    for h, hw in enumerate(ws.heads):
        if len(ws.heads) > 1:
            parts.append(Rule(Text(f"Head {h + 1} of {len(ws.heads)}", style="bold magenta")))
        parts.append(Flow([
            Matrix(f"W_Q ({ws.d_model}×{ws.d_k})", dims, _names("q", ws.d_k), hw.w_q, precision),
            Matrix(f"W_K ({ws.d_model}×{ws.d_k})", dims, _names("k", ws.d_k), hw.w_k, precision),
            Matrix(f"W_V ({ws.d_model}×{ws.d_v})", dims, _names("v", ws.d_v), hw.w_v, precision),
        ]))
    return _spaced(parts)
