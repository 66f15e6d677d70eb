"""Rich renderables for knocking heads out: `attn predict --ablate` (the prediction with and
without the heads) and `attn heads --effect` (every head's effect in a grid, ranked)."""

from __future__ import annotations

import numpy as np
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from attncli.effects import Ablated, Effects, HeadEffect
from attncli.render.predict import header, token_shown
from attncli.render.widgets import number, token_label
from attncli.safe_text import SPACE_LEGEND, SPACE_MARK, visible

MODE_WORDS = {"zero": "set to zero", "mean": "set to its mean over the text's positions"}


def _heads(heads: list[tuple[int, int]]) -> str:
    return ", ".join(f"{layer}.{head}" for layer, head in heads)


def ablation(ab: Ablated, precision: int = 2) -> Group:
    """The prediction as the model makes it, and beside it with the heads knocked out; each
    token's probability in the other run follows it."""
    pr = ab.clean
    parts: list[RenderableType] = [header(pr), Text("")]
    n = len(ab.heads)
    whose = "the heads' outputs" if n > 1 else "the head's output"
    parts.append(Text(f"Knocked out: {_heads(ab.heads)} (layer.head; {whose} before W_O "
                      f"{MODE_WORDS[ab.mode]})", style="bold"))
    for p, knocked, before, after in zip(pr.predictions, ab.predictions, ab.before, ab.after,
                                         strict=True):
        parts.append(Text(""))
        where = (f"after “{token_label(pr.tokens[p.position].label(pr.text))}”"
                 if pr.kind == "next" else "at the mask")
        parts.append(Text(f"Position {p.position} ({where})", style="bold"))
        left = [token_shown(c.token, pr.byte_level) for c in p.top]
        right = [token_shown(c.token, pr.byte_level) for c in knocked.top]
        lw, rw = max(map(len, left)), max(map(len, right))
        left_w = 5 + lw + 8 + 9 + precision  # rank, token, probability, change
        parts.append(Text.assemble(("     " + "as the model runs".ljust(left_w - 5 + 3), "dim"),
                                   ("knocked out", "dim")))
        for rank in range(len(p.top)):
            c, k = p.top[rank], knocked.top[rank]
            parts.append(Text.assemble(
                f"{rank + 1:>3}. ", (left[rank].ljust(lw), "bold"),
                f" {number(100 * c.probability, precision):>6}%",
                _delta(after[rank] - c.probability, precision),
                "   ", (right[rank].ljust(rw), "bold"),
                f" {number(100 * k.probability, precision):>6}%",
                _delta(k.probability - before[rank], precision)))
    parts.append(Text(""))
    parts.append(Text("Left: the top tokens, each with Δ, the change in its probability (in "
                      "percentage points) when the heads are knocked out. Right: the top tokens "
                      "with them knocked out, each with the change from its probability "
                      "before.", style="dim"))
    if any(SPACE_MARK in token_shown(c.token, pr.byte_level)
           for p in [*pr.predictions, *ab.predictions] for c in p.top):
        parts.append(Text(SPACE_LEGEND, style="dim"))
    return Group(*parts)


def _delta(change: float, precision: int) -> Text:
    shown = number(100 * change, precision)
    sign = "" if shown.startswith("-") or float(shown) == 0 else "+"
    return Text(f" Δ{sign}{shown}".ljust(9 + precision), style="red" if change < 0 else "green")


class EffectGrid:
    """Layers × heads, each cell the head's effect, coloured by sign; as many decimals as the
    width allows (columns beyond it are cut, and the header says how many)."""

    def __init__(self, grid: np.ndarray, percent: bool) -> None:
        self.grid, self.percent = grid, percent

    def _cell(self, value: float, decimals: int) -> str:
        if self.percent:
            return f"{100 * value:+.0f}"
        return "0" if value == 0 else f"{value:+.{decimals}f}"  # "-0.0": small, not none

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        layers, heads = self.grid.shape
        label_w = max(len("layer"), len(str(layers - 1)))
        for decimals in (2, 1):  # the widest cells that fit
            cells = [[self._cell(v, decimals) for v in row] for row in self.grid]
            col_w = max(len(str(heads - 1)), *(len(c) for row in cells for c in row))
            if label_w + heads * (col_w + 1) <= options.max_width:
                break
        shown = max(1, min(heads, (options.max_width - label_w - 14) // (col_w + 1)))
        if label_w + heads * (col_w + 1) <= options.max_width:
            shown = heads
        top = Text("layer".rjust(label_w), style="dim")
        for h in range(shown):
            top.append(" " + str(h).rjust(col_w), style="bold")
        if shown < heads:
            top.append(f" … {heads - shown} more", style="dim")
        yield top
        scale = float(np.abs(self.grid).max()) or 1.0
        for layer, row in enumerate(cells):
            line = Text(str(layer).rjust(label_w))
            for h, cell in enumerate(row[:shown]):
                value = float(self.grid[layer, h])
                strong = abs(value) >= scale / 2
                style = ("bold " if strong else "") + ("red" if value < 0 else "green")
                line.append(" " + cell.rjust(col_w), style=style if float(cell) else "dim")
            yield line


def _what(ef: Effects) -> str:
    target = _token(ef, ef.target_token)
    if ef.measure == "restored":
        vs = _token(ef, ef.vs_token or "")
        return (f"Each cell: how much of the logit difference logit({target}) − logit({vs}) "
                "comes back when the corrupted text runs with that head's output taken from the "
                f"clean text: 0% none, 100% all (clean {ef.clean:.3f}, corrupted "
                f"{ef.corrupted:.3f}).")
    how = MODE_WORDS[ef.mode]
    if ef.measure == "logit_diff":
        vs = _token(ef, ef.vs_token or "")
        return (f"Each cell: the change in logit({target}) − logit({vs}) when that head alone "
                f"is knocked out (its output before W_O {how}); as the model runs it is "
                f"{ef.clean:.3f}. Negative: the head was pushing toward {target}.")
    return (f"Each cell: the change in log p({target}) when that head alone is knocked out "
            f"(its output before W_O {how}); as the model runs, log p = {ef.clean:.3f} "
            f"(p = {100 * ef.clean_probability:.1f}%). Negative: the prediction relied on "
            "the head; positive: the head held it back.")


def _token(ef: Effects, token: str) -> str:
    return f"“{token_shown(token, ef.byte_level)}”"


def _value(ef: Effects, e: HeadEffect) -> str:
    return f"{100 * e.effect:+.0f}%" if ef.measure == "restored" else f"{e.effect:+.3f}"


def _word(ef: Effects, j: int) -> str:
    return f"“{visible(token_label(ef.tokens[j].label(ef.text)))}”"


def _looks(ef: Effects, e: HeadEffect) -> str:
    if e.key < 0:
        return "nothing (no other word to look at)"
    return f"{100 * e.weight:.1f}% to {_word(ef, e.key)}"


def _left_out(ef: Effects) -> str:
    """What a head's word is not chosen from: the predicting token and the sink candidates."""
    others = [_word(ef, j) for j in ef.left_out if j != ef.position]
    itself = f"{_word(ef, ef.position)} itself"
    return " and ".join([itself, ", ".join(others)] if others else [itself])


def effects(ef: Effects, top: int = 5) -> Group:
    """The header, what a cell measures, the grid, the heads that matter most, and whether
    they are the heads with the most weight."""
    where = (f"after “{visible(token_label(ef.tokens[ef.position].label(ef.text)))}” "
             f"(position {ef.position})" if ef.kind == "next" else
             f"at the mask (position {ef.position})")
    title = ("Patching each head from the clean text into the corrupted one"
             if ef.mode == "patch" else "Knocking out each head, one at a time")
    parts: list[RenderableType] = [
        Text.assemble(("Input ", "dim"), ("“", "dim"), (visible(ef.text), "bold"), ("”", "dim"),
                      f" · {len(ef.tokens)} tokens\n", ("Model ", "dim"),
                      (visible(ef.model), "bold"), f" · {visible(ef.model_type)}")]
    if ef.corrupt_text is not None:
        parts.append(Text.assemble(("Corrupted “", "dim"), (visible(ef.corrupt_text), "bold"),
                                   ("”", "dim")))
    parts += [Text(""), Text(f"{title}: the prediction {where}", style="bold"),
              Text(_what(ef), style="dim"), Text(""), EffectGrid(ef.grid, ef.measure == "restored"),
              Text(""), Text("The heads that matter most (largest change first)", style="bold"),
              Text(f"Each head's word: the one it gives the most weight from here, leaving out "
                   f"{_left_out(ef)}; “left out” is the weight those get.",
                   style="dim")]
    for e in ef.ranked[:top]:
        parts.append(Text.assemble(f"  layer {e.layer:>2} head {e.head:>2}  ",
                                   (_value(ef, e).rjust(7), "bold"),
                                   ("   gives ", "dim"), _looks(ef, e),
                                   (f" (left out: {100 * e.left_out:.1f}%)", "dim")))
    parts += [Text(""), Text(_verdict(ef))]
    says = ("patching, how much of the clean prediction that head's output carries on its "
            "own" if ef.measure == "restored" else "the change, what the prediction loses "
            "without it")
    parts.append(Text(f"Weight says where a head looks; {says}. Heads also act together: "
                      "two at once can do more (or less) than the sum of each.", style="dim"))
    if SPACE_MARK in _what(ef):
        parts.append(Text(SPACE_LEGEND, style="dim"))
    return Group(*parts)


def _verdict(ef: Effects) -> str:
    """Whether the head that matters most is the head with the most weight on one word."""
    best, heavy = ef.strongest, ef.most_weight
    if heavy.key < 0:
        return ("The predicting position has no other word to look at (only itself and the "
                "first or special tokens), so no head's weight can be compared.")
    rank = ef.weight_rank
    change = "what it restores" if ef.measure == "restored" else "its change"
    if (best.layer, best.head) == (heavy.layer, heavy.head):
        return (f"Weight and effect agree: layer {best.layer} head {best.head} gives one word "
                f"(of those not left out) the most weight from here ({_looks(ef, best)}), and "
                f"{change} is the largest ({_value(ef, best)}).")
    return (f"Weight and effect disagree: layer {heavy.layer} head {heavy.head} gives one word "
            f"(of those not left out) the most weight from here ({_looks(ef, heavy)}), but "
            f"{change} is {_value(ef, heavy)} (rank {rank} of {len(ef.ranked)}); the largest, "
            f"{_value(ef, best)}, is layer {best.layer} head {best.head}'s, which gives "
            f"{_looks(ef, best)} and {100 * best.left_out:.1f}% to those left out.")
