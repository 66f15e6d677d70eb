"""Part 3 of the lesson: what a real model does with the sentence (attn demo --model), and
the five steps on the user's own sentence (attn demo "TEXT"), through the same results and
views as `attn explain` and `attn heads`."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import RenderableType

from attncli import tokens as tok
from attncli.demo.blocks import SENTENCE, numbers, pair_of, pct, word
from attncli.demo.screens import Screen
from attncli.explain import Explanation, explain, explain_model
from attncli.heads import Link, Overview, baseline, overview
from attncli.lookup import word_pieces
from attncli.render import explain as render
from attncli.render import heads as render_heads
from attncli.render import pair as render_pair
from attncli.render.common import without_headings
from attncli.render.header import source_header
from attncli.render.widgets import Bars, number
from attncli.safe_text import visible
from attncli.weights import files as weightfiles

if TYPE_CHECKING:
    from attncli.models.base import Model

# ---------------------------------------------------------------- a real model


def short_name(spec: str) -> str:
    """How the screens name a model: a directory by its name, a repo id as given.

    A directory with a generic name, such as a package's "model" folder, keeps its parent's.
    """
    path = Path(spec).expanduser()
    if not path.is_dir():
        return spec
    path = path.resolve()
    if path.name.casefold() in GENERIC and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or spec


GENERIC = {"model", "models", "checkpoint", "checkpoints", "weights", "snapshot"}


class Word:
    """The token that stands for a word of the sentence: its first piece, if any."""

    def __init__(self, word: str, index: int | None, pieces: list[int], reason: str = ""):
        self.word, self.index, self.pieces, self.reason = word, index, pieces, reason


def find_word(text: str, tokens: list[tok.Token], word: str) -> Word:
    """The word's first piece among tokens, by character offsets (special tokens have none)."""
    found = word_pieces(text, tokens, word)
    if not found:
        return Word(word, None, [], f"'{word}' is not in the sentence")
    start, end, pieces = found[0]
    if not pieces:
        return Word(word, None, [], f"its tokenizer leaves no token for '{word}'")
    first = tokens[pieces[0]]
    covered = text[first.start:first.end]
    lo = first.start + len(covered) - len(covered.lstrip())
    hi = first.end - (len(covered) - len(covered.rstrip()))
    if lo < start or hi > end:  # the token also holds (part of) another word
        return Word(word, None, pieces, f"its tokenizer joins '{word}' with its neighbours in "
                                        f"one token, '{visible(covered.strip())}'")
    return Word(word, pieces[0], pieces)


def _sink_words(ex: Explanation, i: int, j: int, weights: np.ndarray) -> str:
    """When a special or the first token takes at least as much of row i as token j does:
    say so, and what an attention sink is."""
    specials = [k for k, t in enumerate(ex.tokens) if k == 0 or t.end <= t.start]
    if not specials:
        return ""
    k = max(specials, key=lambda s: weights[i, s])
    if k == j or weights[i, k] < SINK_CLOSE * weights[i, j]:
        return ""
    much = "at least as much" if weights[i, k] >= weights[i, j] else "almost as much"
    return (f" But '{word(ex, k)}' takes {pct(weights[i, k])} of the same row, {much}: an "
            "attention sink. A head that has nothing useful to find for a token parks its "
            "weight on a first or special token, so that weight means little.")


SINK_CLOSE = 0.8  # a sink token with this share of the word's weight or more is mentioned


def real_model_part(spec: str, precision: int) -> list[Screen]:
    """Part 3: what a real model does with the sentence (one screen if it cannot be shown)."""
    from attncli.models import load_model

    loaded = load_model(spec)
    tokens = loaded.tokens(SENTENCE)
    labels = [visible(t.label(SENTENCE).strip() or t.text) for t in tokens]
    name = visible(short_name(spec))  # a directory's name reaches the screen: escaped
    part = f"Part 3 · {name}"
    src, dst = find_word(SENTENCE, tokens, "tired"), find_word(SENTENCE, tokens, "animal")
    specials = [i for i, t in enumerate(tokens) if t.end <= t.start]  # [CLS], <s>…
    size = (f"{name} has {loaded.n_layers} layers with {loaded.n_heads} heads each, and every "
            "head does the five steps with its own learned W_Q, W_K and W_V. ")
    split = [f"The tokenizer splits '{w.word}' into {' + '.join(labels[i] for i in w.pieces)},"
             f" so we follow its first piece, '{labels[w.index]}'. "
             for w in (src, dst) if w.index is not None and len(w.pieces) > 1]
    if src.index is None or dst.index is None:
        why = src.reason or dst.reason
        return [Screen(part, "Why this part is skipped", (
            size + f"Its tokenizer splits '{SENTENCE}' into {', '.join(labels)}. Part 3 "
            f"follows one token of 'tired' to one token of 'animal', but {why}, so there is "
            "no such pair here and this part is skipped. Try `attn heads` with words this "
            "tokenizer keeps whole."))]
    i, j = src.index, dst.index
    a, b = labels[i], labels[j]

    @cache
    def real() -> tuple[Explanation, Overview]:
        ex = explain_model(SENTENCE, loaded, list(range(loaded.n_layers)),
                           list(range(loaded.n_heads)))
        return ex, overview(ex, f"#{i}", f"#{j}", top=3)  # by position: pieces may repeat

    def best() -> Link:
        return real()[1].top[0]  # the most specific link: weight above its baseline

    def head() -> Explanation:
        ex, _ = real()
        hs = next(h for h in ex.heads if (h.layer, h.head) == (best().layer, best().head))
        return Explanation(ex.text, ex.tokens, ex.config, hs.steps.x, [hs])

    def head_body() -> list[RenderableType]:
        ex = head()
        s = ex.heads[0].steps
        return [*without_headings(render.explanation(ex, show=("softmax",),
                                                     precision=precision,
                                                     header=False).renderables),
                Bars(ex.labels[i], ex.labels, s.weights[i])]

    def best_words() -> str:
        link, ex = best(), head()
        w = ex.heads[0].steps.weights
        return (f"In layer {link.layer}, head {link.head}, '{a}' gives {pct(link.weight)} of "
                f"its attention to '{b}', while the sentence's tokens give '{b}' "
                f"{pct(link.baseline or 0.0)} on average: of all the heads, this one links "
                f"'{a}' to '{b}' most specifically." + _sink_words(ex, i, j, w)
                + f" Other heads do other jobs: some look at {neighbours}, many park their "
                f"attention on {park} when nothing in the sentence is useful to them.")

    neighbours = "the previous token" if loaded.causal else "the next or previous token"
    park = (" or ".join(dict.fromkeys(labels[k] for k in specials)) if specials
            else "the first token")
    return [
        Screen(part, "A real model has many heads", (
            size + _added(labels, specials) + _mask(loaded, len(tokens), i, j, a, b)
            + "".join(split)
            + f"The grid shows, for every head, how much '{a}' attends to '{b}', and ranks "
            f"the heads by how far that rises above what '{b}' gets from every word."),
            lambda: [render_heads.overview(real()[1])]),
        Screen(part, f"The head that links '{a}' to '{b}'", best_words, head_body),
    ]


def _added(labels: list[str], specials: list[int]) -> str:
    """What the tokenizer adds of its own, by name and place."""
    if not specials:
        return "Its tokenizer adds no tokens of its own: every token is a piece of the text. "
    where = ["at the start" if k == 0 else "at the end" if k == len(labels) - 1 else ""
             for k in specials]
    named = ", ".join(f"{labels[k]} {w}".strip() for k, w in zip(specials, where, strict=True))
    return f"Its tokenizer also adds tokens of its own: {named}. "


def _mask(loaded: Model, n: int, i: int, j: int, a: str, b: str) -> str:
    """What the model's masks hide in the sentence of n tokens, for the query i (a) and the
    key j (b): the later tokens, and keys outside a sliding window where one hides any."""
    if not loaded.causal:
        return ""
    sliding = [w for w in map(loaded.window, range(loaded.n_layers)) if w is not None and w < n]
    blind = [w for w in sliding if i - j >= w]  # the windows that hide b from a
    words = ("It is a decoder, so a causal mask hides the later tokens from each token: "
             f"'{b}' cannot see '{a}'" + ("" if blind else f", but '{a}' can look back at '{b}'")
             + ". ")
    if sliding:
        sizes = " or ".join(str(w) for w in sorted(set(sliding)))
        words += (f"In {len(sliding)} of its {loaded.n_layers} layers a sliding window of "
                  f"{sizes} also hides every token that many places back or more")
        words += (f"; '{b}' is {i - j} places before '{a}', so in {len(blind)} of them '{a}' "
                  f"cannot see '{b}' either. " if blind else ". ")
    return words


# ---------------------------------------------------------------- your own sentence


def own_sentence_part(text: str, weights: str | Path | None, model: str | None, seed: int,
         precision: int) -> list[Screen]:
    """The five steps on the user's sentence, ending on its most specific link, worked out."""
    from attncli import weights as wts
    from attncli.explain import check_text

    check_text(text)
    loaded = None
    if model is not None:
        from attncli.models import load_model

        loaded = load_model(model)  # a bad directory is refused before any screen
    ws = (weightfiles.load(weights) if weights is not None
          else wts.seeded(seed, 8, 4, 4, 1) if loaded is None else None)
    words = " ".join(text.split())
    part = "Your sentence · " + visible(words if len(words) <= 40 else words[:39] + "…")

    @cache
    def chosen() -> tuple[Explanation, tuple[int, int]]:
        if loaded is None:
            assert ws is not None
            ex = explain(text, tok.word_level(text), ws, seed=seed, heads=[0])
            return ex, _strongest(ex)
        every = explain_model(text, loaded, list(range(loaded.n_layers)),
                              list(range(loaded.n_heads)))
        link = _most_specific(every)
        at = (link.layer, link.head) if link else (every.heads[-1].layer, 0)
        hs = next(h for h in every.heads if (h.layer, h.head) == at)
        one = Explanation(every.text, every.tokens, every.config, hs.steps.x, [hs])
        return one, (link.src, link.dst) if link else (0, 0)

    def ex() -> Explanation:
        return chosen()[0]

    link = pair_of(ex, lambda: chosen()[1])

    def source_words() -> str:
        e = ex()
        c = e.config
        n = len(e.tokens)
        if c.source == "model":
            h = e.heads[0]
            what = (f"the real model {visible(short_name(model or ''))}: {c.n_layers} layers of "
                    f"{c.heads} heads. We follow layer {h.layer}, head {h.head}, the head whose "
                    "strongest link between two words rises furthest above what that word "
                    "gets on average")
        elif c.source == "file":
            what = f"the weights in {visible(c.weights)}"
        else:
            what = (f"random weights (seed {seed}): nothing was learned, so which word looks "
                    "at which means nothing yet, but every sum is real")
        return (f"We run the five steps on “{visible(text)}”: {n} tokens, with {what}. The "
                "last screens work out one link by hand: the pair of different words with "
                f"the most weight, '{word(e, link().src)}' → '{word(e, link().dst)}'.")

    def step3_words() -> str:
        pr, e = link(), ex()
        return (f"Every query is compared with every key by a dot product. For "
                f"'{word(e, pr.src)}' → '{word(e, pr.dst)}' the products of q and k, "
                f"dimension by dimension, add up to {number(pr.score, precision)}.")

    def step4_words() -> str:
        pr, e = link(), ex()
        exp = "e^x" if pr.row.shift == 0 else "e^(x − m), m the row's largest entry,"
        return (f"Scale the score ({render_pair.scale_chain(pr, precision)}), then softmax: "
                f"{exp} of each entry, divided by the row's sum. For '{word(e, pr.src)}': "
                f"{number(pr.row.exps[pr.dst], 4)} / {number(pr.row.total, 4)} = "
                f"{number(pr.weight, 4)} for '{word(e, pr.dst)}'.")

    def bars_words() -> str:
        pr, e = link(), ex()
        return (f"'{word(e, pr.src)}' gives {pct(pr.weight)} of its attention to "
                f"'{word(e, pr.dst)}'." + _sink_words(e, pr.src, pr.dst,
                                                       e.heads[0].steps.weights))

    def output_words() -> str:
        pr, e = link(), ex()
        return (f"The output of '{word(e, pr.src)}' is the sum of every value row, each times the "
                f"weight it gets: '{word(e, pr.dst)}' adds {number(pr.weight, 3)} × its "
                "value row.")

    qkv = ("qkv",) if model is not None else ("w", "qkv")
    return [
        Screen(part, "What runs", source_words,
               lambda: [source_header(ex()), *numbers(ex, "tokens",
                                                              precision=precision)()]),
        Screen(part, "Step 1: embeddings", (
            "Each token becomes a row of numbers, X: its embedding (for a real model, the row "
            "as it reaches this layer)."), numbers(ex, "x", precision=precision)),
        Screen(part, "Step 2: queries, keys and values", (
            "Q = X·W_Q (what each token looks for), K = X·W_K (what it offers), V = X·W_V "
            "(what it hands over)."), numbers(ex, *qkv, precision=precision)),
        Screen(part, "Step 3: scores", step3_words,
               lambda: [*numbers(ex, "scores", precision=precision)(),
                        *without_headings(render_pair.pair_score(ex(), link(), precision))]),
        Screen(part, "Step 4: scale, then softmax", step4_words,
               lambda: [*without_headings(render_pair.softmax_sums(ex(), link().row, precision,
                                                                   key=link().dst)),
                        *numbers(ex, "softmax", precision=precision)()]),
        Screen(part, "Where it looks", bars_words,
               lambda: [Bars(ex().labels[link().src], ex().labels,
                             ex().heads[0].steps.weights[link().src],
                             None if ex().heads[0].steps.mask is None
                             else ex().heads[0].steps.mask[link().src])]),
        Screen(part, "Step 5: the weighted sum of values", output_words,
               lambda: without_headings(render_pair.pair_output(ex(), link(), precision))),
    ]


def _links(ex: Explanation) -> list[Link]:
    """Each head's strongest link between two different words (as `attn heads` finds it),
    with the average weight its key word gets from every word, its baseline."""
    steps = {(hs.layer, hs.head): hs.steps for hs in ex.heads}
    links = []
    for row in overview(ex).patterns:
        for p in row:
            if p.link is not None:
                s = steps[p.layer, p.head]
                links.append(replace(p.link, baseline=baseline(s.weights, p.link.dst, s.mask)))
    return links


def _strongest(ex: Explanation) -> tuple[int, int]:
    """The first head's strongest link between two different words; a one-word text has
    none, and its only token's pair with itself is worked out instead."""
    links = _links(ex)
    return (links[0].src, links[0].dst) if links else (0, 0)


def _most_specific(ex: Explanation) -> Link | None:
    """Over every head: the strongest link that rises furthest above its key's baseline (a
    head where every word looks at that word links nothing to it in particular)."""
    return max(_links(ex), key=lambda link: link.weight - (link.baseline or 0.0), default=None)
