"""Part 5 of the lesson: does a head matter? The designed pronoun model
(sample_weights/pronoun-lm, made by scripts/make_pronoun_model.py) predicts the word after
"The animal didn't cross the street because it was"; each head is knocked out in turn
(effects.heads_effect) and its effect set beside its weight.

Every sentence that quotes the model reads its numbers from the runs made here: the model's
prediction, each head's weights, and the prediction with each head knocked out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from rich.console import RenderableType

from attncli.demo.screens import Screen
from attncli.effects import Ablated, Effects, HeadEffect, ablate, heads_effect
from attncli.explain import Explanation, explain_model
from attncli.render import effects as render_effects
from attncli.render.widgets import Bars, Flow
from attncli.safe_text import visible

MODEL = "sample_weights/pronoun-lm"
TEXT = "The animal didn't cross the street because it was"
PART = "Part 5 · Does a head matter?"
BAR = 14  # cells of a bar at most


@dataclass(frozen=True)
class Runs:
    """What the part quotes: every head's effect, the weights of every head, and the
    prediction with each head knocked out alone."""

    effects: Effects
    ex: Explanation
    knocked: dict[tuple[int, int], Ablated]

    @property
    def labels(self) -> list[str]:
        return [visible(lab.strip() or t.text) for lab, t in zip(self.ex.labels, self.ex.tokens,
                                                                  strict=True)]

    def effect(self, layer: int, head: int) -> HeadEffect:
        return next(e for e in self.effects.ranked if (e.layer, e.head) == (layer, head))

    def row(self, e: HeadEffect, query: int) -> Bars:
        """Where query looks in e's head."""
        mask = next(h for h in self.ex.heads if (h.layer, h.head) == (e.layer, e.head)
                    ).steps.mask
        bars = Bars(self.ex.labels[query], self.ex.labels, _weights(self, e)[query],
                    None if mask is None else mask[query], verb=f"in layer {e.layer} head "
                                                               f"{e.head}:")
        bars.bar_width = BAR  # two charts side by side in 80 columns
        return bars


@cache
def runs() -> Runs:
    from attncli.models import load_model

    model = load_model(MODEL)  # the repository's copy, else the package's
    ef = heads_effect(TEXT, model)
    layers, heads = list(range(model.n_layers)), list(range(model.n_heads))
    ex = explain_model(TEXT, model, layers, heads)
    knocked = {(layer, head): ablate(TEXT, model, [(layer, head)], top=2)
               for layer in layers for head in heads}
    return Runs(ef, ex, knocked)


def pct1(p: float) -> str:
    return f"{100 * p:.1f}%"


def _top(ab: Ablated, knocked: bool) -> str:
    """'tired' 90.4%: the top token of the run, with its probability."""
    best = (ab.predictions if knocked else ab.clean.predictions)[-1].top[0]
    return f"'{visible(best.token.strip())}' {pct1(best.probability)}"


def _head(e: HeadEffect) -> str:
    return f"layer {e.layer} head {e.head}"


def _looks(r: Runs, e: HeadEffect) -> str:
    """'83.2% of its weight to 'it', the word just before'."""
    if e.key < 0:
        return "no weight to any other word"
    where = ", the word just before" if e.key == r.effects.position - 1 else ""
    return f"{pct1(e.weight)} of its weight to '{r.labels[e.key]}'{where}"


def part(precision: int) -> list[Screen]:
    """The three screens: where the heads look, what knocking each out does, and the verdict."""

    def model_words() -> str:
        r = runs()
        ef, ex = r.effects, r.ex
        first = next(iter(r.knocked.values()))
        top = first.clean.predictions[-1].top
        at = r.labels[ef.position]
        heads = "; ".join(f"{_head(e)} gives {_looks(r, e)}"
                          for e in sorted(ef.ranked, key=lambda e: (e.layer, e.head)))
        n_layers, n_heads = len({h.layer for h in ex.heads}), len({h.head for h in ex.heads})
        return (f"So far the weights came first. Now the question the lesson leaves open: "
                f"does the model's answer depend on the head with the most weight? A small "
                f"model built by hand for this (sample_weights/pronoun-lm, {n_layers} "
                f"layer{'s' if n_layers > 1 else ''}, {n_heads} heads, "
                f"{len(ex.heads[0].steps.q[0])} numbers per head) reads “{TEXT}” and predicts "
                f"the next word: '{visible(top[0].token.strip())}' ({pct1(top[0].probability)})"
                f", then '{visible(top[1].token.strip())}' ({pct1(top[1].probability)}). From "
                f"'{at}', where it predicts, {heads}.")

    def model_body() -> list[RenderableType]:
        r = runs()
        return [Flow([r.row(e, r.effects.position)
                      for e in sorted(r.effects.ranked, key=lambda e: (e.layer, e.head))],
                     gap=4, row_gap=1)]

    def knock_words() -> str:
        r = runs()
        ef = r.effects
        said = []
        for (layer, head), ab in r.knocked.items():
            e = r.effect(layer, head)
            same = (ab.predictions[-1].top[0].id == ab.clean.predictions[-1].top[0].id)
            said.append(f"without {_head(e)}, {_top(ab, True)}"
                        + (" (the same top word)" if same else " (another top word)")
                        + f", a change in log p('{visible(ef.target_token.strip())}') of "
                          f"{e.effect:+.3f}")
        return ("To knock out a head, set its output to zero before W_O and let the rest of "
                "the model run as before. Then read the prediction again. As the model runs, "
                f"{_top(next(iter(r.knocked.values())), False)}; " + "; ".join(said) + ".")

    def verdict_words() -> str:
        r = runs()
        ef = r.effects
        heavy, best = ef.most_weight, ef.strongest
        if (best.layer, best.head) == (heavy.layer, heavy.head):
            told = (f"Here they agree: {_head(best)} has the most weight ({_looks(r, best)}) "
                    f"and the largest change in log p ({best.effect:+.3f}).")
        else:
            told = (f"Here they disagree: {_head(heavy)} has the most weight "
                    f"({pct1(heavy.weight)} on '{r.labels[heavy.key]}'), but without it log p "
                    f"changes by {heavy.effect:+.3f}; {_head(best)} gives "
                    f"'{r.labels[best.key]}' {pct1(best.weight)}, and without it log p changes "
                    f"by {best.effect:+.3f}.")
        it = _it(r)
        if it is not None and (best.layer, best.head) != (heavy.layer, heavy.head):
            w = _weights(r, best)[it]
            j = int(w.argmax())
            told += (f" From 'it', {_head(best)} gives '{r.labels[j]}' {pct1(float(w[j]))}"
                     + (": it links the pronoun to what it stands for." if r.labels[j] ==
                        "animal" else "."))
        return (told + " A weight says where a head reads; whether that reaches the "
                "prediction depends on what comes after it (W_O, later layers, the LM head). "
                "To know, knock the head out and measure: `attn heads TEXT --model DIR "
                "--effect`.")

    def verdict_body() -> list[RenderableType]:
        r = runs()
        it = _it(r)
        return [] if it is None else [r.row(r.effects.strongest, it)]

    return [
        Screen(PART, "A model that predicts the next word", model_words, model_body),
        Screen(PART, "Knock out one head at a time", knock_words,
               lambda: [render_effects.effects(runs().effects)]),
        Screen(PART, "Which head matters?", verdict_words, verdict_body),
    ]



def _it(r: Runs) -> int | None:
    """Where 'it' is in the sentence."""
    return next((i for i, lab in enumerate(r.labels) if lab == "it"), None)


def _weights(r: Runs, e: HeadEffect) -> np.ndarray:
    """(n, n) e's head's weights."""
    return next(h for h in r.ex.heads if (h.layer, h.head) == (e.layer, e.head)).steps.weights
