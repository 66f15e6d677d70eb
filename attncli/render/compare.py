"""Rich renderables for `attn compare`: a word's attention in two sentences, side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from attncli.compare import Comparison
from attncli.render.explain import head_title
from attncli.render.widgets import BAR_WIDTH, Bars, number
from attncli.safe_text import visible

if TYPE_CHECKING:
    import numpy as np


class _Pair:
    """Two bar charts side by side, their bars drawn to one scale whatever the width."""

    GAP = 4

    def __init__(self, a: Bars, b: Bars) -> None:
        self.a, self.b = a, b

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        half = (options.max_width - self.GAP) // 2
        labels = min(max(self.a.label_width, self.b.label_width), max(3, half - 12))
        self.a.bar_width = self.b.bar_width = max(1, min(BAR_WIDTH, half - labels - 8))
        grid = Table.grid(padding=(0, self.GAP))
        for _ in range(2):  # two equal halves
            grid.add_column(width=half)
        grid.add_row(Text("A", style="bold"), Text("B", style="bold"))
        grid.add_row(self.a, self.b)
        yield grid


def _row(mask: np.ndarray | None, i: int) -> np.ndarray | None:
    return None if mask is None else mask[i]


def _stream(cmp: Comparison, word: str, precision: int) -> list[RenderableType]:
    """A model's view: the cosine of the word's vector in context after each layer."""
    if cmp.layer_cosines is None or cmp.embedding_cosine is None:
        return []
    grid = Table.grid(padding=(0, 2))
    grid.add_column(justify="left")
    grid.add_column(justify="right")
    grid.add_row(Text("vector of the word", style="dim"), Text("cosine", style="dim"))
    grid.add_row("embeddings (into layer 0)", number(cmp.embedding_cosine, precision + 1))
    for i, c in enumerate(cmp.layer_cosines):
        grid.add_row(f"after layer {i}", Text(number(c, precision + 1), style="bold"))
    return [
        Text.assemble("How far the context moved “", (word, "bold"), "”: the cosine of its "
                      "vector in context (the hidden state, every head and the rest of the "
                      "layer) in A and in B, after each layer (1 = pointing the same way, "
                      "0 = unrelated)"),
        grid,
        Text(""),
    ]


def comparison(cmp: Comparison, precision: int = 2, heads: bool = True) -> Group:
    """For each head: the word's bars in A and in B; then how far its output vector moved.
    With a model's hidden states, first the cosine after each layer; heads=False leaves the
    heads out (a model's view when no layer or head was asked for)."""
    word_a = visible(cmp.a.labels[cmp.index_a].strip())  # " animal" (byte-level BPE) → animal
    parts: list[RenderableType] = [
        Text.assemble("“", (word_a, "bold"), "” in two contexts, A and B"),
        *(Text(note, style="yellow") for note in cmp.notes),
        Text(""),
        *_stream(cmp, word_a, precision),
    ]
    if not heads:
        return Group(*parts)
    for n, (ha, hb) in enumerate(zip(cmp.a.heads, cmp.b.heads, strict=True)):
        if len(cmp.a.heads) > 1 or cmp.a.from_model:
            parts.append(Rule(Text(head_title(cmp.a, ha), style="bold magenta")))
        parts += [_Pair(Bars(cmp.a.labels[cmp.index_a], cmp.a.labels,
                             ha.steps.weights[cmp.index_a], _row(ha.steps.mask, cmp.index_a)),
                        Bars(cmp.b.labels[cmp.index_b], cmp.b.labels,
                             hb.steps.weights[cmp.index_b], _row(hb.steps.mask, cmp.index_b))),
                  Text("")]
        if len(cmp.a.heads) > 1:
            parts.append(Text(f"cosine of the outputs in this head: "
                              f"{number(cmp.head_cosines[n], precision + 1)}"))
    x_of = f"Input X of “{word_a}”"
    out_of = f"Output of “{word_a}”"
    if cmp.a.from_model:  # one head's numbers, not the token's vector
        shown = ", ".join(f"layer {hs.layer} head {hs.head}" for hs in cmp.a.heads)
        x_of += f" into layer {cmp.a.heads[0].layer}"
        out_of += (f" in {shown} ({sum(hs.steps.v.shape[1] for hs in cmp.a.heads)} numbers, "
                   "before W_O)")
    parts += [
        Text(f"{x_of}: cosine {number(cmp.input_cosine, precision + 1)} between A "
             "and B" + (" (the same embedding goes in)" if cmp.input_cosine > 0.9999 else "")),
        Text.assemble(f"{out_of}: cosine ", (number(cmp.cosine, precision + 1), "bold"),
                      " between A and B (1 = pointing the same way, 0 = unrelated)"),
    ]
    if cmp.toward:
        parts += [Text(""), *toward(cmp, word_a, precision)]
    return Group(*parts)


def side_by_side(cmp: Comparison, head: int = 0) -> RenderableType:
    """The word's bars in A and in B for one head, side by side, to one scale."""
    ha, hb = cmp.a.heads[head], cmp.b.heads[head]
    return _Pair(Bars(cmp.a.labels[cmp.index_a], cmp.a.labels, ha.steps.weights[cmp.index_a],
                      _row(ha.steps.mask, cmp.index_a)),
                 Bars(cmp.b.labels[cmp.index_b], cmp.b.labels, hb.steps.weights[cmp.index_b],
                      _row(hb.steps.mask, cmp.index_b)))


def toward(cmp: Comparison, word: str, precision: int = 2) -> list[RenderableType]:
    """The word's value and output against other words' values: a table, then the word each
    output is nearest."""
    table = Table(box=None, padding=(0, 0, 0, 2), show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True, style="bold")
    for t in cmp.toward:
        table.add_column(f"{visible(t.word)} ({t.side.upper()})", justify="right",
                         no_wrap=True)
    for what, side in (("value", "a"), ("output", "a"), ("value", "b"), ("output", "b")):
        table.add_row(f"{what} of “{word}” in {side.upper()}",
                      *(number(getattr(t, f"{what}_{side}"), precision + 1)
                        for t in cmp.toward))
    out: list[RenderableType] = [Group(
        Text("Cosine with each word's value vector (1 = the same direction)", style="bold"),
        table)]
    if len(cmp.toward) > 1:
        out.append(Text(f"After attention the output of “{word}” points nearest to "
                        f"{_nearest(cmp, 'a', precision)} in A, and to "
                        f"{_nearest(cmp, 'b', precision)} in B."))
    return out


def _nearest(cmp: Comparison, side: str, precision: int) -> str:
    """“river” (0.827), or “x” and “y” (0.5) when they tie."""
    words, top = cmp.nearest(side)
    return " and ".join(f"“{visible(w)}”" for w in words) + f" ({number(top, precision + 1)})"
