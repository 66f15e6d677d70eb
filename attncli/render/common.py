"""What the explain views share: a step's heading, a token's name in prose, column names."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text

from attncli.explain import Explanation
from attncli.masks import CAUSAL, LOCAL_WINDOW, SLIDING_WINDOW, MaskReason
from attncli.render.widgets import MASKED, names, token_label
from attncli.render.widgets import spaced as spaced  # the explain views import it from here


class StepHeading(Group):
    """A step's title rule and its one-paragraph explanation: the demo, which explains each
    step in its own words, leaves these out."""


def step(title: str, text: str) -> StepHeading:
    return StepHeading(Rule(Text(title, style="bold"), align="left"), Text(text, style="italic"))


def without_headings(parts: Sequence[RenderableType]) -> list[RenderableType]:
    """The numbers of a view, without its step headings and blank spacer lines."""
    return [p for p in parts if not isinstance(p, StepHeading)
            and not (isinstance(p, Text) and not p.plain)]


def word(ex: Explanation, i: int) -> str:
    """Token i as prose names it: its label without a byte-level token's leading space."""
    return token_label(ex.labels[i])


def key_word(ex: Explanation, j: int) -> str:
    """Key j as prose names it: a source token for cross-attention, else as word() does."""
    return token_label(ex.key_labels[j])


def dims(ex: Explanation, qk: str = "") -> tuple[list[str], list[str], list[str]]:
    """Column names: the d_model dimensions, the query/key dimensions (named by the weights
    file, or numbered after qk: q0, k0, …), the value dimensions."""
    s = ex.heads[0].steps
    return (list(ex.dims) if ex.dims else names("d", ex.x.shape[1]),
            list(ex.qk_dims) if ex.qk_dims else names(qk, s.d_k),
            list(ex.v_dims) if ex.v_dims else names("v", s.v.shape[1]))


def hidden_because(r: MaskReason, a: str, b: str) -> str:
    """Why the mask hides key b from query a, with the numbers: a clause, no full stop."""
    if r.kind == CAUSAL:
        return f"“{b}” comes after “{a}”, and the causal mask hides later tokens"
    if r.kind == SLIDING_WINDOW:
        assert r.window is not None  # masks.py gives every SLIDING_WINDOW reason its window
        return (f"“{b}” is {r.distance} places before “{a}”, and this layer's sliding window "
                f"of {r.window} hides keys {r.window} or more places back (a query sees "
                f"itself and the {r.window - 1} tokens before it)")
    if r.kind == LOCAL_WINDOW:
        side = "before" if r.distance > 0 else "after"
        return (f"“{b}” is {abs(r.distance)} places {side} “{a}”, and this layer's local "
                f"window hides keys {r.window} or more places away on either side (a query "
                f"sees itself and the {(r.window or 1) - 1} tokens each side of it)")
    return f"the model's own mask hides “{b}” from “{a}”"


def masked_legend(kinds: Sequence[str], window: int | None, tail: str = "",
                  mark: str = MASKED) -> str:
    """The legend of a table's masked entries (drawn as mark): each reason that hides one,
    then tail."""
    said = {CAUSAL: "a later token, hidden by the causal mask",
            SLIDING_WINDOW: f"a token {window} or more places back, outside this layer's "
                            f"sliding window of {window}",
            LOCAL_WINDOW: f"a token {window} or more places away on either side, outside "
                          "this layer's local window"}
    reasons = [said.get(k, "a key the model's own mask hides") for k in kinds]
    return f"{mark} masked: " + ", or ".join(reasons or ["hidden by the mask"]) + tail
