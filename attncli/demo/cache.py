"""Part 6 of the lesson: one token at a time, through a key/value cache.

Part 2's sentence and designed weights (animal-tired.json), read as a decoder reads it: the
causal mask on, the tokens fed one per step. Each step shows the new query, the key and value
rows appended to the cache beside the rows kept from before, and the new token's row; then
the whole matrix worked out afresh, the same matrix without the mask, and what the cache
saves. Every number, the checks included, comes from cache_steps.walk.
"""

from __future__ import annotations

from functools import cache, partial

import numpy as np
from rich.console import RenderableType

from attncli import tokens as tok
from attncli.attention import causal_mask
from attncli.cache_steps import CacheWalk, walk
from attncli.demo.blocks import SENTENCE, numbers, pct, sample
from attncli.demo.screens import Screen
from attncli.render.widgets import Flow, Matrix, names, number, plural
from attncli.safe_text import visible

PART = "Part 6 · The key/value cache"
NEW, KEPT = "+", "="  # row marks: appended at this step, kept in the cache from before


def part(precision: int) -> list[Screen]:
    """The screens: what a decoder does, one per step, why the past stays, what it saves."""
    tired = sample("animal-tired.json", SENTENCE)

    @cache
    def steps() -> CacheWalk:
        s = tired().heads[0].steps
        return walk([visible(lab.strip()) for lab in tired().labels], s.x, s.w_q, s.w_k,
                    s.w_v)

    def vec(v: np.ndarray) -> str:
        return "[" + ", ".join(number(float(a), precision) for a in v) + "]"

    def intro() -> str:
        w = steps()
        return ("Part 5's model predicted one word. A decoder writes a whole text that way: it "
                "predicts a token, appends it, and runs again. Each run needs the new token's "
                "attention over every token so far. Must the earlier tokens be worked out "
                f"again each time? Here is Part 2's sentence as a decoder reads it, with the "
                "causal mask (a token sees itself and the tokens before it), fed "
                f"{len(w.steps)} tokens in {len(w.steps)} steps. These weights have no LM "
                "head, so we feed the sentence's own words; `attn generate PROMPT --model DIR` "
                "lets a model pick them.")

    def step_words(t: int) -> str:
        w = steps()
        s, labels = w.steps[t], w.labels
        word = labels[t]
        row = ", ".join(f"{pct(float(s.weights[j]))} '{labels[j]}'" for j in range(s.n))
        made = (f"Only its row of X is multiplied by the weights: one query q = {vec(s.q)}, "
                f"one key k = {vec(s.k)} and one value v = {vec(s.v)}. ")
        if t == 0:
            return (f"'{word}' comes first, with nothing before it. " + made
                    + "k and v go into the empty cache (the + rows). q meets the one key "
                    f"there: q·k = {number(float(s.scores[0]), precision)}, and the softmax "
                    "of a single number is 1, so the row gives 100% to "
                    f"'{word}' and the output is its own value, {vec(s.output)}.")
        before = "'" + "', '".join(labels[:t - 1]) + ("' and '" if t > 1 else "") + \
            labels[t - 1] + "'"
        rows, are = ("row", "is") if t == 1 else ("rows", "are")
        return (f"Step {t + 1} adds '{word}'. " + made
                + f"k and v are appended to the cache (+). The = {rows}, of {before}, "
                f"{are} read as step {t} left them (largest difference {_gap(w.kept(t))}): nothing "
                f"works them out again. q meets every key in the cache: {row}; the output, "
                f"weights · V, is {vec(s.output)}. Worked out afresh over all {s.n} tokens, "
                f"the last row is the same (largest difference {_gap(s.row_vs_fresh)}).")

    def step_body(t: int) -> list[RenderableType]:
        w = steps()
        s, labels = w.steps[t], w.labels
        marked = [f"{KEPT if j < t else NEW} {labels[j]}" for j in range(s.n)]
        d_k, d_v = len(s.k), len(s.v)
        kv = Flow([Matrix(f"K, the cache ({s.n}×{d_k})", marked, names("k", d_k), s.keys,
                          precision, highlight=t),
                   Matrix(f"V, the cache ({s.n}×{d_v})", marked, names("v", d_v), s.values,
                          precision, highlight=t)], gap=4)
        root = f"÷ √{d_k}"
        row = Flow([Matrix(f"q of '{labels[t]}'", [labels[t]], names("q", d_k), s.q[None, :],
                           precision),
                    Matrix(f"The row of '{labels[t]}'", ["q·k", root, "weight"],
                           labels[:s.n], np.vstack([s.scores, s.logits, s.weights]),
                           precision)], gap=4)
        return [kv, row]

    def why_words() -> str:
        w = steps()
        last = w.steps[-1]
        n = last.n
        moved = max(w.earlier_rows_moved(t) for t in range(n))
        newest = w.labels[-1]
        return (f"Now every row at once, worked out afresh, with every query against every "
                f"key (left), beside the rows the {n} steps made (right). They are the same "
                f"numbers: the largest difference is {_gap(w.steps_vs_fresh())}. A row is "
                "final when it is made: the mask (—) hides every later token from it, so a "
                "new token adds a column that is 0 in every earlier row, and from step to step "
                f"the earlier rows' weights and outputs move by {_gap(moved)}. So the cache "
                "keeps K and V, which every later query reads. It keeps no queries: a query is "
                f"used in its own row only, at its own step (q of '{newest}' at step {n}).")

    def why_body() -> list[RenderableType]:
        w = steps()
        last = w.steps[-1]
        n, labels = last.n, w.labels
        return [Flow([Matrix("Afresh: softmax(Q·Kᵀ / √d_k)", labels, labels,
                             last.fresh.weights, precision, masked=last.fresh.mask),
                      Matrix("Made by the steps", labels, labels, w.stacked(), precision,
                             masked=causal_mask(n))], gap=4)]

    def unmasked_at() -> int:
        """The last step: the new token the most earlier rows could see without the mask."""
        return len(steps().steps) - 1

    def unmasked_words() -> str:
        w = steps()
        t = unmasked_at()
        before, after = w.steps[t - 1].unmasked.weights, w.steps[t].unmasked.weights
        moved = np.abs(after[:t, :t] - before)  # (t, t)
        i, j = np.unravel_index(int(moved.argmax()), moved.shape)
        a, b = w.labels[i], w.labels[j]
        return ("Take the mask away, as an encoder does, and every token sees every other. "
                f"Then a new token changes the rows before it: when '{w.labels[t]}' arrives, "
                f"the weight '{a}' gives '{b}' goes from {pct(float(before[i, j]))} to "
                f"{pct(float(after[i, j]))}, and the earlier rows' weights and outputs move by "
                f"up to {number(w.unmasked_moved(t), 3)}. Every row would have to be worked "
                "out again at every step, and a cache of the earlier rows would be out of "
                "date. The causal mask is what makes the cache work; an encoder has nothing "
                "to cache, and `attn generate` refuses one.")

    def unmasked_body() -> list[RenderableType]:
        w = steps()
        t = unmasked_at()
        return [Flow([Matrix(f"No mask, {plural(t, 'token')}", w.labels[:t], w.labels[:t],
                             w.steps[t - 1].unmasked.weights, precision),
                      Matrix(f"No mask, {t + 1} tokens", w.labels[:t + 1], w.labels[:t + 1],
                             w.steps[t].unmasked.weights, precision)], gap=4)]

    def saves_words() -> str:
        work = steps().work()
        rows_c, rows_f = sum(r[1] for r in work), sum(r[2] for r in work)
        dots_c, dots_f = sum(r[3] for r in work), sum(r[4] for r in work)
        return ("With the cache, a step works out one row each of Q, K and V and one dot "
                "product per token so far; afresh, a row of each per token and a dot product "
                f"per pair. Over these {len(work)} steps: {rows_c} rows of Q against {rows_f}, "
                f"{dots_c} dot products against {dots_f}. With the cache, a step's work grows "
                "with the length of the text; afresh, with its square. A real model does this "
                "in every head of every layer: `attn generate PROMPT --model DIR` runs such a "
                "cache, and `attn explore --model DIR --generate N` steps through one.")

    def saves_body() -> list[RenderableType]:
        w = steps()
        work = w.work()
        return [Matrix("The work of each step", [f"{n} {w.labels[n - 1]}" for n, *_ in work],
                       ["tokens", "Q rows", "afresh", "q·k", "afresh"],
                       np.array(work, dtype=np.float64), 0,
                       corner="step")]

    screens = [Screen(PART, "A decoder reads one token at a time", intro,
                   numbers(tired, "x", precision=precision))]
    for t, token in enumerate(tok.word_level(SENTENCE)):  # the words, before any numbers
        screens.append(Screen(PART, f"Step {t + 1}: '{visible(token.text)}' joins the cache",
                              partial(step_words, t), partial(step_body, t)))
    return [*screens,
            Screen(PART, "Why the earlier rows never change", why_words, why_body),
            Screen(PART, "Without the mask, nothing could be kept", unmasked_words,
                   unmasked_body),
            Screen(PART, "What the cache saves", saves_words, saves_body)]


def _gap(x: float) -> str:
    """A largest difference as the screens say it: 0 when exactly 0, else in e-notation."""
    return "0" if x == 0 else f"{x:.1e}"
