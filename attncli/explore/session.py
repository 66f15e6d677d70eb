"""What the explorer shows, without the screen: one sentence's every layer and head, worked
out once, and the numbers each view reads (a head's steps, a pair, the heads grid).

A real model's forward pass runs once per sentence (and per mask or positions setting); moving
between tokens, heads and layers only reads what is already there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from attncli.attention import Steps
from attncli.attention_fast import HeadSteps
from attncli.effects import Ablated
from attncli.errors import AttnError
from attncli.explain import Explanation
from attncli.heads import head_roles, pair_grid
from attncli.roles import Roles
from attncli.sums import Pair, pair

Build = Callable[[str, bool, str], Explanation]  # (text, causal, positions) -> every head
Knock = Callable[[str, tuple[int, int]], Ablated]  # (text, (layer, head)) -> knocked out


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
    _cache: dict[tuple[str, bool, str], Explanation] = field(default_factory=dict)
    _roles: dict[tuple[str, bool, str], list[list[Roles]]] = field(default_factory=dict)
    # one build at a time: a model's runs share its checkpoint's reused buffers
    _building: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ex(self) -> Explanation:
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
        key = (self.text, self.causal, self.positions)
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
        already by explain()."""
        self.text = text


def largest_change(before: Steps, after: Steps) -> tuple[int, int, float]:
    """(query, key, by): the pair whose weight moved most between two runs of one head (the
    first in reading order on a tie), and by how much (0 when none moved)."""
    moved = np.abs(after.weights - before.weights)  # (n, n)
    i, j = np.unravel_index(int(moved.argmax()), moved.shape)
    return int(i), int(j), float(moved[i, j])
