"""Rich renderables for `attn generate`: the prompt, then one block per generated token with
its probability and where it looked, then how the run stopped."""

from __future__ import annotations

import numpy as np
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text

from attncli.generate import Generation, Looked, Step
from attncli.heads import MEANING_ABOVE
from attncli.render.predict import token_shown
from attncli.render.widgets import Bars, number, plural, token_label
from attncli.safe_text import visible

STOPPED = {
    "eos": "stopped at the model's end-of-sequence token",
    "n": "stopped after the tokens asked for",
    "max_tokens": "stopped at the token limit (or the model's last position)",
    "interrupted": "stopped by Ctrl-C; the tokens above were kept",
}


def header(gen: Generation, greedy: bool) -> Text:
    how = "greedy: the most likely token each step" if greedy else "sampled"
    return Text.assemble(("attn generate", "bold"), f"  {gen.model} ({gen.model_type}), ",
                         f"{plural(len(gen.tokens), 'prompt token')}, {how}\n",
                         ("Prompt: ", "dim"), visible(gen.prompt))


def _label(gen: Generation, i: int) -> str:
    return token_label(gen.tokens[i].label(gen.text))


def step(gen: Generation, s: Step, byte_level: bool, precision: int = 2) -> Group:
    """One generated token: its probability, the runners-up, and the heads' rows."""
    name = token_shown(s.token.text, byte_level)
    line = Text.assemble((f"{s.index + 1:>3} ", "dim"), (name, "bold"),
                         f"  p {number(100 * s.probability, precision)}%",
                         (f"  id {s.token.id}", "dim"))
    if s.sampled is not None:
        line.append(f"  (drawn with p {number(100 * s.sampled, precision)}%)", style="dim")
    if s.eos:
        line.append("  end of sequence", style="bold")
    others = [c for c in s.top if c.id != s.token.id][:3]
    parts: list[RenderableType] = [line]
    if others:
        parts.append(indented(Text.assemble(("also: ", "dim"), *(
            (f"{token_shown(c.token, byte_level)} {number(100 * c.probability, precision)}%"
             + ("  " if i < len(others) - 1 else "")) for i, c in enumerate(others)))))
    query = _label(gen, s.query)
    for look in s.heads:
        parts.append(looked(gen, s, look, query, precision))
    if not s.heads:
        parts.append(indented(Text(
            f"from “{visible(query)}”: no head's link to another word rises "
            f"{100 * MEANING_ABOVE:g} points above its baseline, beyond position or a sink",
            style="dim")))
    return Group(*parts)


def indented(text: Text) -> Padding:
    """A step's detail line, its wrapped lines kept under its start."""
    return Padding(text, (0, 0, 0, 4), expand=False)


def looked(gen: Generation, s: Step, look: Looked, query: str, precision: int) -> RenderableType:
    """A head asked for: its row as bars; a head picked: its most specific link."""
    where = f"layer {look.layer} head {look.head}"
    role = f", {look.role} head" if look.role else ""
    if look.key is None:
        keys = [gen.tokens[j].label(gen.text) for j in range(s.query + 1)]
        bars = Bars(query, keys, np.asarray(look.row), verb=f"looks at, in {where}{role}:")
        return Group(Text(""), bars)
    assert look.weight is not None and look.baseline is not None
    return indented(Text.assemble(
        f"{where}: “", (visible(query), "bold"), "” → “",
        (visible(_label(gen, look.key)), "bold"), "”",
        (f" (token {look.key})", "dim"), f" {number(100 * look.weight, precision)}%",
        (f", {number(100 * (look.weight - look.baseline), precision)} points above its "
         f"baseline {number(100 * look.baseline, precision)}%{role}", "dim")))


def footer(gen: Generation) -> Text:
    made = plural(len(gen.steps), "token")
    return Text.assemble("\n", (f"{made} generated, {STOPPED[gen.stopped]}.", "bold"), "\n",
                         ("Text: ", "dim"), visible(gen.text), "\n", (
                             "p is the softmax of the logits over the whole vocabulary. A "
                             "head's row is the weights from the last token so far (the query "
                             "that chose the new token) over every token so far; a link is "
                             "shown by how far it rises above what that token gets on average "
                             "from every query that may see it (its baseline).", "dim"))
