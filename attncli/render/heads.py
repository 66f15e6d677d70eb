"""Rich renderables for `attn heads`: a layers × heads grid and the heads that stand out."""

from __future__ import annotations

import math

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from attncli.flow import GAP_POINTS, GAP_RATIO, Gap
from attncli.heads import HeadPattern, Link, Overview
from attncli.roles import BROAD_ABOVE, HOLDS, ROLES
from attncli.safe_text import SPACE_LEGEND, SPACE_MARK, SPACE_MARKERS, space_marked, visible
from attncli.tokens import Token

SHADES = (" ", "░", "▒", "▓", "█")  # weight 0–0.1, 0.1–0.3, 0.3–0.5, 0.5–0.7, 0.7–1
CODES = {"self": "S", "previous": "P", "next": "N", "first": "F", "last": "L", "sink": "K",
         "mixed": "·"}
# each head's strongest role, as the grid marks it
ROLE_CODES = {"previous": "P", "next": "N", "self": "S", "first": "F", "sep": "E",
              "punct": ",", "duplicate": "D", "offset": "O", "broad": "B", "mixed": "·"}
ROLE_NAMES = {"previous": "previous", "next": "next", "self": "self", "first": "first",
              "sep": "[SEP]/EOS", "punct": "punctuation", "duplicate": "duplicate",
              "offset": "offset k", "broad": "broad", "mixed": "mixed"}
MARKS = {"positional": "position", "sink": "sink"}  # a pair row that teaches no meaning
WORDS_W = 24  # at most, the width a link's "query → key" is padded to
LABEL_W = len("layer 10 head 11")  # the "layer  3 head  1" that starts each listed head


def percent_down(score: float, places: int = 0) -> float:
    """A score in [0, 1] as a percent rounded down to `places` decimals, so a shown number
    reaches a threshold (HOLDS' 40%, BROAD_ABOVE's 80%) only when the score does: 0.3987 shows
    as 39, not as a 40 beside "a role names a head when its score is 40% or more"."""
    unit = 100 * 10 ** places
    shown = math.floor(unit * score)
    # unit * score can land a hair off (100 * 0.58 is 57.99…): settle on the largest count
    # whose value the score reaches, compared as the thresholds are
    while (shown + 1) / unit <= score:
        shown += 1
    while shown > 0 and shown / unit > score:
        shown -= 1
    return shown / 10 ** places


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


def token_label(text: str, token: Token) -> tuple[str, bool]:
    """How the view names a token, and whether that name carries a ␣ mark.

    The piece of the text it covers, without the spaces around it ("animal", not " animal",
    which reads badly between quotes and around an arrow); but a byte-level or SentencePiece
    token that folds a space into itself (GPT-2's "Ġanimal") gets a ␣ for it: "␣animal".
    A token that covers no text, or only spaces, is named as the tokenizer names it ([CLS]).
    """
    body = text[token.start:token.end].strip()
    if not body:
        shown = space_marked(token.text)
        return shown, shown != visible(token.text)
    markers = "".join(SPACE_MARKERS)
    # leading markers the text itself holds are characters, not folded spaces
    folded = max(0, (len(token.text) - len(token.text.lstrip(markers)))
                 - (len(body) - len(body.lstrip(markers))))
    return SPACE_MARK * folded + visible(body), folded > 0


class _Labels:
    """Token labels as the view shows them, remembering whether any carried a ␣."""

    def __init__(self, ov: Overview) -> None:
        self.ov, self.marked = ov, False

    def __call__(self, i: int, key: bool = False) -> str:
        """Token i's label; with key, key i's (a source token, for cross-attention)."""
        ex = self.ov.ex.keys if key else self.ov.ex
        shown, marked = token_label(ex.text, ex.tokens[i])
        self.marked |= marked
        return shown


def _link(label: _Labels, link: Link, words_width: int = 0) -> Text:
    """One link's line: its head, "query → key" padded to words_width, and its weight."""
    words = Text.assemble((label(link.src), "bold"), " → ", (label(link.dst, key=True), "bold"))
    words.pad_right(max(0, words_width - words.cell_len))
    return Text.assemble(f"layer {link.layer:>2} head {link.head:>2}   ", words,
                         f"  {100 * link.weight:5.1f}%")


class PairRows:
    """The listed heads of a word pair: weight, baseline and how far above it, in columns.

    Below 46 columns the difference is left out (the order still follows it).
    """

    def __init__(self, links: list[Link]) -> None:
        self.links = links

    def lines(self, width: int) -> list[Text]:
        full = width >= LABEL_W + len("  weight  baseline  difference")
        head = "  weight  baseline" + ("  difference" if full else "")
        out = [Text(" " * LABEL_W + head, style="dim")]
        for link in self.links:
            base = link.baseline or 0.0
            line = Text.assemble(f"layer {link.layer:>2} head {link.head:>2}".ljust(LABEL_W),
                                 (f"  {100 * link.weight:5.1f}%", "bold"),
                                 f"  {100 * base:7.1f}%")
            if full:
                line.append(f"  {100 * (link.weight - base):+10.1f}")
            if link.kind in MARKS:  # no lesson about meaning: say why
                line.append(f"  {MARKS[link.kind]}", style="yellow")
            out.append(line)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)


def _pair(ov: Overview, label: _Labels) -> list[RenderableType]:
    assert ov.src is not None and ov.dst is not None and ov.grid is not None  # a pair's view
    src, dst = label(ov.src), label(ov.dst, key=True)
    masked = any(hs.steps.mask is not None for hs in ov.ex.heads)
    who = ("every target token (its queries)" if ov.ex.cross
           else "every word the mask lets see it" if masked else "every word, itself included")
    parts: list[RenderableType] = [
        Text.assemble("How much “", (src, "bold"), "” attends to “", (dst, "bold"),
                      "” in each head (percent; rows are layers, columns heads)")]
    parts += [Text(note, style="yellow") for note in ov.notes]  # which of a repeated word
    cells = [[(shade(w), round(100 * w)) for w in row] for row in ov.grid.tolist()]
    parts += [Grid(ov.layers, ov.heads, cells, style="cyan"),
              Text(f"Shades: {' '.join(SHADES[1:])} for 10, 30, 50 and 70 percent and more."),
              Text(f"Baseline: the average weight “{dst}” gets from {who}."),
              Text(""),
              Text(f"Heads that link “{src}” to “{dst}” most, ranked by weight minus baseline:",
                   style="bold"),
              Text(f"A head in which every word looks at “{dst}” is not a specific link.",
                   style="dim")]
    if any(link.kind in MARKS for link in ov.top):
        parts.append(Text(f"“position”: “{src}”'s row there attends by position (its head's "
                          "pattern is self, previous or next, or the row looks hardest at a "
                          "neighbour); “sink”: it gives more than half its weight to the first "
                          "or a special token.", style="dim"))
    return [*parts, PairRows(ov.top)]


def _sinks(ov: Overview, label: _Labels) -> list[Text]:
    """Which tokens the sinks park on, and in how many heads."""
    if not ov.sink_tokens:
        return []
    named = ", ".join(f"{label(i, key=True)} in {k} head{'s' if k > 1 else ''}"
                      for i, k in ov.sink_tokens)
    return [Text(f"Sinks (half the rows or more give one first or special token over 50%): "
                 f"{named}.")]


def _offsets(ov: Overview) -> list[Text]:
    """The k of each head the grid marks O."""
    found = [(k, p) for row in ov.patterns for p in row
             if p.roles.role == "offset" and (k := p.roles.k) is not None]
    if not found:
        return []
    return [Text("O: " + ", ".join(f"k = {k:+d} in layer {p.layer} head {p.head}"
                                   for k, p in found) + ".")]


def _patterns(ov: Overview, label: _Labels) -> list[RenderableType]:
    cells = [[(ROLE_CODES[p.roles.role], int(percent_down(p.roles.score))) for p in row]
             for row in ov.patterns]
    shown = {p.roles.role for row in ov.patterns for p in row}
    described = [f"{ROLE_NAMES[n]}: {d}" for n, d in ROLES.items() if n in shown]
    return [Text("What each head does: its strongest role and that role's score in percent, "
                 "rounded down (rows are layers, columns heads)"),
            Grid(ov.layers, ov.heads, cells),
            Text("  ".join(f"{code} {ROLE_NAMES[name]}" for name, code in ROLE_CODES.items()
                           if name in shown)),
            Text((f"({'; '.join(described)}.) " if described else "") +
                 f"A role names a head when its score is {100 * HOLDS:.0f}% or more; of "
                 "several, the one furthest above the score of a head spreading each row "
                 f"evenly. With none: B when the rows are {100 * BROAD_ABOVE:.0f}% as spread "
                 "as they can be or more (their entropy over the log of the keys they see), "
                 "else · with the highest score.", style="dim"),
            *_offsets(ov),
            *_sinks(ov, label),
            *([Text("Cross-attention: each target token looks at the source's tokens, so "
                     "only first, [SEP]/EOS, punctuation and broad apply.",
                     style="dim")] if ov.ex.cross else []),
            Text(""),
            *_specific(ov, label)]


def role_list(ov: Overview, role: str, heads: list[HeadPattern],
              best: HeadPattern | None) -> Group:
    """`heads --role`: the heads whose strongest role is `role`, ranked by its score; with
    none, the head with the highest score for it (best)."""
    parts: list[RenderableType] = [Text(
        f"Heads whose strongest role is {ROLE_NAMES[role]} ({ROLES[role]}), by score:",
        style="bold")]
    for p in heads:
        at_k = f"  k = {p.roles.k:+d}" if role == "offset" else ""
        parts.append(Text(f"layer {p.layer:>2} head {p.head:>2}  "
                          f"{percent_down(p.roles.score, 1):5.1f}%{at_k}"))
    if not heads:
        parts.append(Text("None."))
        if best is not None:
            score, k = best.roles.scores[role], best.roles.k
            assert score is not None  # best_for picks a head with a score for role
            at = f" at k = {k:+d}" if role == "offset" and k is not None else ""
            if role == "broad":  # broad names a head by its own bar, and only with no role
                why = (f"below the {100 * BROAD_ABOVE:.0f}% broad needs" if score < BROAD_ABOVE
                       else f"there {ROLE_NAMES[best.roles.role]} holds, and broad names a head "
                       "only when no role does")
            elif score < HOLDS:
                why = f"below the {100 * HOLDS:.0f}% a role needs"
            elif role == "offset" and k is not None and abs(k) < 2:  # previous or next itself
                why = (f"k = {k:+d} is {'previous' if k < 0 else 'next'} itself, and only "
                       "k = ±2 or more names a head")
            else:
                why = (f"there {ROLE_NAMES[best.roles.role]} rises further above its "
                       "even-spread score")
            parts.append(Text(f"The highest {ROLE_NAMES[role]} score is layer {best.layer} "
                              f"head {best.head}'s, {percent_down(score, 1):.1f}%{at}: {why}.",
                              style="dim"))
    return Group(*parts)


def _specific(ov: Overview, label: _Labels) -> list[RenderableType]:
    """Each head's most specific content link, weight and baseline, and what was left out."""
    lines: list[RenderableType] = [
        Text("Most specific links between two different words (each head's link that rises "
             "furthest above its baseline, the average weight the key word gets):",
             style="bold")]
    # the links' numbers in columns: each "query → key" padded to the widest, up to what
    # keeps a line within 80 columns (a longer pair pushes its own numbers on)
    width = min(WORDS_W, max((cell_len(f"{label(k.src)} → {label(k.dst, key=True)}")
                              for k in ov.top), default=0))
    for link in ov.top:
        line = _link(label, link, width)
        line.append(f"  baseline {100 * (link.baseline or 0.0):4.1f}%  "
                    f"{100 * link.specificity:+5.1f}  [{ROLE_CODES[link.role or 'mixed']}]")
        lines.append(line)
        if link.at_distance is not None:
            lines.append(Text(" " * (LABEL_W + 3) + f"any word {link.dst - link.src:+d} away: "
                              f"{100 * link.at_distance:.1f}%", style="dim"))
    cross = ov.ex.cross  # a target's positions and the source's are not comparable
    if not ov.top:
        lines.append(Text("None: in every head, each row parks on a sink." if cross else
                          "None: in every head, each row attends by position or parks on a "
                          "sink."))
    position = ("" if cross else "rows that attend by position (in a self, previous or next "
                "head, or with their largest weight on the word itself or a neighbour) and ")
    lines.append(Text(f"Left out: {position}rows that give more than half their weight to the "
                      "first or a special token (a sink). [F], [·]…: the head's role, as in "
                      "the grid.", style="dim"))
    first = next((link for link in ov.top if link.at_distance is not None), None)
    if first is not None:  # read with the first such link's own distance
        k = first.dst - first.src
        lines.append(Text(f"Not left out: a head's lean toward words a fixed distance away. “Any "
                          f"word {k:+d} away”: what the head gives, on average, the word {abs(k)} "
                          f"places {'after' if k > 0 else 'before'} each query; a link near it "
                          "may be that lean, not the words.", style="dim"))
    return lines


NORM_LEGEND = ("Measure: norm. Every percent below is a norm-based share, not an attention "
               "weight: ‖α_ij f(x_j)‖ / Σ_j ‖α_ij f(x_j)‖ over the query's row, where "
               "f(x_j) = (x_j W_V + b_V) W_O is what key j sends into the output through the "
               "head (Kobayashi et al. 2020). Where a line says weight, read this share.")


def gap_sentence(name: str, gap: Gap | None) -> Text:
    """The one sentence on where weight and norm disagree most, with both numbers; or that no
    head shows such a gap."""
    if gap is None:
        return Text(f"No head gives a token {100 * GAP_POINTS:.0f} points more (and "
                    f"{GAP_RATIO:.0f} times more) of its weight than of its norm share.",
                    style="dim")
    return Text.assemble(
        "“", (name, "bold"), f"” gets {100 * gap.weight:.0f}% of the weight but "
        f"{100 * gap.norm:.0f}% of the norm in layer {gap.layer}, head {gap.head} (averages "
        "over the tokens that may see it): attention weight is not importance.",
        style="yellow")


def overview(ov: Overview, gap: Gap | None = None, norm: bool = False) -> Group:
    """The grid for a word pair, or each head's pattern; then the heads that stand out. With
    norm, the grid reads norm shares: a legend says so, and a sentence gives the largest gap
    between weight and norm."""
    label = _Labels(ov)
    parts = _pair(ov, label) if ov.grid is not None else _patterns(ov, label)
    if norm:
        name = label(gap.token, key=True) if gap is not None else ""
        parts = [Text(NORM_LEGEND, style="bold"), gap_sentence(name, gap), Text(""), *parts]
    if label.marked:  # a shown token holds a space the tokenizer folded in
        parts.append(Text(SPACE_LEGEND, style="dim"))
    return Group(*parts)
