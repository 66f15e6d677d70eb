"""What the explorer shows, without the screen: one sentence's every layer and head, worked
out once, and the numbers each view reads (a head's steps, a pair, the heads grid).

A real model's forward pass runs once per sentence (and per mask or positions setting); moving
between tokens, heads and layers only reads what is already there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from attncli.attention import Steps
from attncli.attention_fast import HeadSteps
from attncli.effects import Ablated
from attncli.errors import AttnError
from attncli.explain import Explanation
from attncli.heads import head_roles, pair_grid
from attncli.roles import Roles
from attncli.sums import Pair, pair
from attncli.tokens import Token

if TYPE_CHECKING:
    from attncli.generate import Generator

Build = Callable[[str, bool, str], Explanation]  # (text, causal, positions) -> every head
Knock = Callable[[str, tuple[int, int]], Ablated]  # (text, (layer, head)) -> knocked out
Start = Callable[[str], "Generator"]  # a prompt -> a generation of it over the cache
Grown = Callable[[str, list[Token]], Explanation]  # (text, its tokens) -> every head


@dataclass(frozen=True)
class Generated:
    """One token the explorer's generation added, and the text up to it."""

    index: int  # from 0
    text: str  # the prompt and every generated token up to this one
    token: str  # its text (its vocabulary name when it has none, as a special token)
    probability: float  # the model's probability of it (greedy: the largest)
    eos: bool  # the model's end-of-sequence token: nothing comes after it
    moved: float  # largest change, over every head, of an earlier row when it was added


@dataclass(frozen=True)
class Knockout:
    """The prediction as the model makes it and with one head knocked out (zeroed before
    W_O), read at one position: the top token of each run, and the log-probability of the
    model's own top token in both."""

    layer: int
    head: int
    position: int  # where the prediction is read: a decoder's last token, a mask
    before: str  # the top token as the model runs, and its probability
    before_p: float
    after: str  # the top token with the head knocked out, and its probability
    after_p: float
    logp_before: float  # log p(before) as the model runs
    logp_after: float  # log p(before) with the head knocked out
    byte_level: bool = False  # the vocabulary spells bytes as characters (GPT-2's Ġ)

    @property
    def change(self) -> float:
        return self.logp_after - self.logp_before


def knockout(ab: Ablated) -> Knockout:
    """An ablation of one head, at its last predicted position, as the explorer quotes it."""
    clean, knocked = ab.clean.predictions[-1], ab.predictions[-1]
    first, now = clean.top[0], knocked.top[0]
    kept = ab.after[-1][0]  # the clean top token's probability with the head knocked out
    (layer, head), = ab.heads
    return Knockout(layer, head, clean.position, first.token, first.probability, now.token,
                    now.probability, float(np.log(first.probability)),
                    float(np.log(kept)) if kept > 0 else -np.inf, ab.clean.byte_level)


@dataclass
class Session:
    """One sentence explored: its explanation with every layer and head, and the settings."""

    text: str
    build: Build
    causal: bool = False
    positions: str = "none"
    can_toggle: bool = True  # seeded and file weights: the mask and positions can change
    knock: Knock | None = None  # a model's ablation; None for weights that predict nothing
    no_knock: str = "these weights have no LM head, so there is no prediction to change"
    start: Start | None = None  # a model's generation; None for weights with no LM head
    grown: Grown | None = None  # every head over a generated text's own tokens
    limit: int = 0  # the most tokens the generation may add
    no_generate: str = "these weights have no LM head, so there is no next token to pick"
    generated: list[Generated] = field(default_factory=list)  # kept when stepping back
    shown: int = 0  # how many generated tokens the text holds
    prompt: str = ""  # what the generation started from
    _generator: Generator | None = None
    _grown: list[Explanation] = field(default_factory=list)  # [i]: with i + 1 tokens made
    _cache: dict[tuple[str, bool, str], Explanation] = field(default_factory=dict)
    _roles: dict[tuple[str, bool, str, int], list[list[Roles]]] = field(default_factory=dict)
    # one build at a time: a model's runs share its checkpoint's reused buffers
    _building: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ex(self) -> Explanation:
        if self.shown:  # a generated text: its own tokens, which text alone may not give
            return self._grown[self.shown - 1]
        return self.explain(self.text)

    def explain(self, text: str) -> Explanation:
        """text's explanation with the current settings, built once and cached; the session's
        own text is left as it is (a worker computes, the screen's thread then retexts)."""
        key = (text, self.causal, self.positions)
        with self._building:
            if key not in self._cache:
                self._cache[key] = self.build(*key)
            return self._cache[key]

    @property
    def layers(self) -> list[int]:
        return sorted({hs.layer for hs in self.ex.heads})

    @property
    def heads(self) -> list[int]:
        return sorted({hs.head for hs in self.ex.heads})

    def head(self, layer: int, head: int) -> HeadSteps:
        return next(hs for hs in self.ex.heads if (hs.layer, hs.head) == (layer, head))

    def pair(self, layer: int, head: int, query: int, key: int) -> Pair:
        return pair(self.head(layer, head), query, key)

    def roles(self) -> list[list[Roles]]:
        """[layer][head] each head's role scores and strongest role (heads.head_roles)."""
        key = (self.text, self.causal, self.positions, self.shown)
        if key not in self._roles:
            ex = self.ex
            self._roles[key] = [[head_roles(ex, self.head(layer, h)) for h in self.heads]
                                for layer in self.layers]
        return self._roles[key]

    def grid(self, query: int, key: int) -> tuple[np.ndarray, np.ndarray]:
        """(layers × heads) the weight query gives key in each head, and key's baseline there:
        what it gets on average from every query that may see it."""
        return pair_grid(self.ex, query, key)

    def knock_out(self, layer: int, head: int) -> Knockout:
        """The prediction with one head of the current text knocked out; AttnError when the
        source predicts nothing."""
        if self.knock is None:
            raise AttnError(self.no_knock)
        with self._building:  # the model's buffers, as explain()
            return knockout(self.knock(self.text, (layer, head)))

    def retext(self, text: str) -> None:
        """A new sentence: worked out when next read (a bad one raises AttnError then), or
        already by explain(). A generation starts again from it."""
        self.text = text
        self.generated, self.shown, self._generator, self._grown = [], 0, None, []

    # ---------------------------------------------------------------- generating

    def begin(self) -> None:
        """Set up the generation of the current text (a model that cannot generate raises
        AttnError here)."""
        if self.start is None:
            raise AttnError(self.no_generate)
        if self._generator is None:
            with self._building:
                self._generator = self.start(self.text)
            self.prompt = self.text

    def forward(self) -> Generated:
        """The next generated token: made over the cache and its text worked out in every
        head the first time, read back after a step back. Runs in a worker."""
        if self.shown < len(self.generated):
            return self.generated[self.shown]
        if self.generated and self.generated[-1].eos:
            raise AttnError(f"'{self.generated[-1].token}' is the model's end of text: "
                            "nothing comes after it")
        if len(self.generated) >= self.limit:
            raise AttnError(f"{self.limit} token{'s' if self.limit != 1 else ''} generated, "
                            "as many as were asked for")
        self.begin()
        assert self._generator is not None and self.grown is not None
        before = self.ex
        with self._building:
            step = self._generator.step()
            gen = self._generator.generation
            text = gen.text
            grown = self.grown(text, list(gen.tokens))
        piece = text[step.token.start:step.token.end] or step.token.text
        made = Generated(len(self.generated), text, piece, step.probability, step.eos,
                         earlier_rows_change(before, grown))
        self._grown.append(grown)
        self.generated.append(made)
        return made

    def show(self, count: int) -> None:
        """Show the prompt and the first count generated tokens (on the screen's thread)."""
        self.shown = count
        self.text = self.prompt if count == 0 else self.generated[count - 1].text


def largest_change(before: Steps, after: Steps) -> tuple[int, int, float]:
    """(query, key, by): the pair whose weight moved most between two runs of one head (the
    first in reading order on a tie), and by how much (0 when none moved)."""
    moved = np.abs(after.weights - before.weights)  # (n, n)
    i, j = np.unravel_index(int(moved.argmax()), moved.shape)
    return int(i), int(j), float(moved[i, j])


def earlier_rows_change(before: Explanation, after: Explanation) -> float:
    """Largest change, over every head both have, of a row before has: its weights (the
    keys after's new tokens bring counted from 0) from one run to the other."""
    moved = 0.0
    for hs in before.heads:
        new = next(h for h in after.heads if (h.layer, h.head) == (hs.layer, hs.head))
        old = hs.steps.weights  # (n, n)
        n = old.shape[0]
        grown = np.zeros((n, new.steps.weights.shape[1]))
        grown[:, :n] = old
        moved = max(moved, float(np.abs(new.steps.weights[:n] - grown).max()))
    return moved
