"""Rich renderables for what follows a head across layers or probes it: attention rollout
for one query, and the induction probe's grids and ranking."""

from __future__ import annotations

import numpy as np
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from attncli.explain import Explanation
from attncli.flow import Rollout
from attncli.induction import Probe
from attncli.render.heads import LABEL_W, SHADES, Grid, shade, token_label
from attncli.render.widgets import Bars
from attncli.safe_text import SPACE_LEGEND, visible


class RolloutTable:
    """Layers × tokens: the query's rollout at each layer, in whole percents.

    Columns that do not fit the width are left out, the smallest at the last layer first,
    and the header says how many.
    """

    def __init__(self, layers: list[int], labels: list[str], rows: np.ndarray) -> None:
        self.layers, self.labels, self.rows = layers, labels, rows

    def lines(self, width: int) -> list[Text]:
        label_w = max(len("layer"), *(len(str(layer)) for layer in self.layers))
        widths = [max(3, cell_len(lab)) for lab in self.labels]
        keep = list(range(len(self.labels)))
        more = ""
        while keep and label_w + sum(widths[j] + 1 for j in keep) + len(more) > width:
            keep.remove(min(keep, key=lambda j: (self.rows[-1, j], -j)))
            more = f" … {len(self.labels) - len(keep)} more"
        header = Text("layer".rjust(label_w), style="dim", no_wrap=True, overflow="crop")
        for j in keep:
            header.append(" " + self.labels[j].rjust(widths[j]), style="bold")
        header.append(more, style="dim")
        out = [header]
        for layer, row in zip(self.layers, self.rows, strict=True):
            line = Text(str(layer).rjust(label_w), no_wrap=True, overflow="crop")
            for j in keep:
                line.append(" " + f"{round(100 * row[j]):d}".rjust(widths[j]))
            out.append(line)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)


def rollout_view(ex: Explanation, ro: Rollout) -> Group:
    """Attention rollout for one query: bars at the last layer, then every layer's row."""
    labels = [token_label(ex.text, t)[0] for t in ex.tokens]
    marked = any(token_label(ex.text, t)[1] for t in ex.tokens)
    query, last = labels[ro.query], ro.layers[-1]
    n = len(labels)
    later = np.arange(n) > ro.query if ex.config.causal else None  # a decoder never sees them
    top = [int(j) for j in np.argsort(-ro.last, kind="stable")[:3]]
    named = ", ".join(f"“{labels[j]}” ({100 * ro.last[j]:.1f}%)" for j in top)
    parts: list[RenderableType] = [
        Text.assemble(("Attention rollout for “", "bold"), (query, "bold"),
                      (f"” (Abnar & Zuidema 2020), layers 0 to {last}", "bold")),
        Text("How much of each input token reaches this query through every layer: each "
             "layer's weights averaged over its heads, A, with the residual path added, "
             "Â = 0.5·A + 0.5·I (rows renormalised to sum to 1), then multiplied from layer 0 "
             "up: Â_l · … · Â_1 · Â_0.", style="dim"),
    ]
    if ro.note:
        parts.append(Text(ro.note, style="yellow"))
    parts += [Text(""),
              Bars(query, labels, ro.last, later, verb=f"draws on, after layer {last}:"),
              Text(f"After layer {last}, “{query}” draws most on {named}."),
              Text(""),
              Text(f"Each layer's rollout for “{query}” (percent; rows are layers, columns "
                   "tokens; each row sums to 100 before rounding):"),
              RolloutTable(ro.layers, labels, ro.rows)]
    if marked:
        parts.append(Text(SPACE_LEGEND, style="dim"))
    return Group(*parts)


def _score_grid(title: str, grid: np.ndarray, layers: list[int], heads: list[int]
                ) -> list[RenderableType]:
    cells = [[(shade(w), round(100 * w)) for w in row] for row in grid.tolist()]
    return [Text(title), Grid(layers, heads, cells, style="cyan")]


def induction(probe: Probe, top: int = 5) -> Group:
    """The repeated-random-token probe: the sequence, the induction and duplicate-token
    grids, and the heads ranked by induction score."""
    n, back = probe.length, probe.length - 1
    layers, heads = (list(range(k)) for k in probe.induction.shape)
    before = " ".join(visible(t) for t in probe.tokens[:probe.start])
    after = " ".join(visible(t) for t in probe.tokens[probe.second + n:])
    fed = " ".join(part for part in (before, "R R", after) if part)
    r = " ".join(visible(t) for t in probe.tokens[probe.start:probe.second])
    parts: list[RenderableType] = [
        Text.assemble(("Induction probe", "bold"), f" of {visible(probe.model)}: R is {n} "
                      f"random tokens (seed {probe.seed}), fed as {fed}: "
                      f"{len(probe.ids)} tokens."),
        Text(f"R: {r}", style="dim"),
        Text(""),
        *_score_grid(f"Induction score (percent): the mean weight a token of the second copy "
                     f"gives the token after its earlier copy, {back} back (rows are layers, "
                     "columns heads)", probe.induction, layers, heads),
        Text(""),
        *_score_grid(f"Duplicate-token score (percent): the mean weight it gives its earlier "
                     f"copy, {n} back", probe.duplicate, layers, heads),
        Text(f"Shades: {' '.join(SHADES[1:])} for 10, 30, 50 and 70 percent and more."),
        Text(""),
        Text("Heads ranked by induction score (previous: the mean weight on the token just "
             "before, over both copies):", style="bold"),
        Text(" " * LABEL_W + "  induction  duplicate  previous", style="dim"),
    ]
    ranked = probe.ranked()
    for layer, head in ranked[:top]:
        parts.append(Text.assemble(
            f"layer {layer:>2} head {head:>2}".ljust(LABEL_W),
            (f"  {100 * probe.induction[layer, head]:8.1f}%", "bold"),
            f"  {100 * probe.duplicate[layer, head]:8.1f}%",
            f"  {100 * probe.previous[layer, head]:7.1f}%"))
    parts += [Text(""), *_strongest(probe)]
    if not probe.causal:
        parts.append(Text("This model's heads see the whole sequence, both ways: a token of "
                          "the first copy can also look ahead to the second. The scores count "
                          "only the second copy's queries, looking back.", style="yellow"))
    parts.append(Text("A head that scores high here matches tokens by identity and position: "
                      "random tokens carry no meaning.", style="dim"))
    return Group(*parts)


def _strongest(probe: Probe) -> list[Text]:
    """The top head of each score, and the induction runner-up for contrast."""
    def named(by: str, rank: int = 0) -> str:
        layer, head = probe.ranked(by)[rank]
        return f"layer {layer} head {head} ({100 * getattr(probe, by)[layer, head]:.1f}%)"

    lines = [Text.assemble("Highest induction score: ", (named("induction"), "bold"),
                           *([f"; the next, {named('induction', 1)}"]
                             if probe.induction.size > 1 else []), ".")]
    lines.append(Text(f"Highest duplicate-token score: {named('duplicate')}; highest "
                      f"previous-token score: {named('previous')}."))
    return lines
