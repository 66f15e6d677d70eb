"""Part 7 of the lesson: what a real model does with the sentence (attn demo --model), and
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
from attncli.demo.blocks import numbers, pair_of, pct, word
from attncli.demo.screens import Screen
from attncli.explain import Explanation, explain, explain_model
from attncli.heads import (
    MEANING_ABOVE,
    POSITIONAL,
    Link,
    Overview,
    baseline,
    overview,
    pair_links,
    role_counts,
    teachable,
)
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

PRONOUN = "The animal didn't cross the street because it was tired"  # the lesson's own example


def pct1(weight: float) -> str:
    return f"{100 * weight:.1f}%"


# what a head with each pattern (heads.PATTERNS) or strongest role (roles.ROLES) does, for
# one head and for several
DOING = {
    "sink": ("parks on a sink", "park on a sink"),
    "mixed": ("has no single role", "have no single role"),
    "first": ("looks mostly at the first token", "look mostly at the first token"),
    "last": ("looks mostly at the last token", "look mostly at the last token"),
    "previous": ("looks at the previous token", "look at the previous token"),
    "next": ("looks at the next token", "look at the next token"),
    "self": ("looks at itself", "look at themselves"),
    "sep": ("looks mostly at [SEP]/EOS", "look mostly at [SEP]/EOS"),
    "punct": ("looks mostly at punctuation", "look mostly at punctuation"),
    "duplicate": ("looks at earlier copies of a token", "look at earlier copies of a token"),
    "offset": ("looks a fixed number of tokens away", "look a fixed number of tokens away"),
    "broad": ("spreads its weight evenly", "spread their weight evenly"),
}


def patterns_line(ov: Overview) -> str:
    """One sentence: how many heads have each strongest role, most first (as `attn heads`
    marks them)."""
    counts = role_counts(ov)
    total = sum(k for _, k in counts)
    parts = [f"{k} {DOING[name][k != 1]}" for name, k in counts]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    who = ("the one head does, by its strongest" if total == 1
           else f"the {total} heads do, by their strongest")
    return f"What {who} role (as `attn heads` marks it): {listed}."


def _kind_words(link: Link) -> str:
    """Why a link is no lesson about meaning (link_kind's verdict, in words)."""
    if link.kind == "sink":
        return "its row gives more than half its weight to a first or special token: a sink"
    for name in (link.pattern, link.role):  # the head's pattern, else its strongest role
        if name in POSITIONAL:
            return (f"its head {DOING[name][0]} whatever the words are: position, not "
                    "meaning")
    return "its row looks hardest at the word itself or a neighbour: position, not meaning"


def real_model_part(spec: str, precision: int) -> list[Screen]:
    """Part 7: what a real model does with the lesson's pronoun sentence, "it" → "animal"
    against "it" → "street" in the most specific head (one screen if it cannot be shown)."""
    from attncli.models import load_model

    loaded = load_model(spec)
    tokens = loaded.tokens(PRONOUN)
    labels = [visible(t.label(PRONOUN).strip() or t.text) for t in tokens]
    name = visible(short_name(spec))  # a directory's name reaches the screen: escaped
    part = f"Part 7 · {name}"
    src, dst, other = (find_word(PRONOUN, tokens, w) for w in ("it", "animal", "street"))
    specials = [i for i, t in enumerate(tokens) if t.end <= t.start]  # [CLS], <s>…
    size = (f"{name} has {loaded.n_layers} layers with {loaded.n_heads} heads each, and every "
            "head does the five steps with its own learned W_Q, W_K and W_V. ")
    split = [f"The tokenizer splits '{w.word}' into {' + '.join(labels[i] for i in w.pieces)},"
             f" so we follow its first piece, '{labels[w.index]}'. "
             for w in (src, dst, other) if w.index is not None and len(w.pieces) > 1]
    if src.index is None or dst.index is None or other.index is None:
        why = src.reason or dst.reason or other.reason
        return [Screen(part, "Why this part is skipped", (
            size + f"Its tokenizer splits '{PRONOUN}' into {', '.join(labels)}. Part 7 "
            f"follows one token of 'it' to one token of 'animal' and of 'street', but {why}, "
            "so there is no such pair here and this part is skipped. Try `attn heads` with "
            "words this tokenizer keeps whole."))]
    i, j, k = src.index, dst.index, other.index
    a, b, c = labels[i], labels[j], labels[k]

    @cache
    def real() -> tuple[Explanation, Overview, Overview]:
        ex = explain_model(PRONOUN, loaded, list(range(loaded.n_layers)),
                           list(range(loaded.n_heads)))
        # by position: pieces may repeat
        return ex, overview(ex, f"#{i}", f"#{j}", top=3), overview(ex)

    @cache
    def chosen() -> tuple[Link, bool]:
        """The head taught: the most specific content link, else the most specific of all."""
        links = pair_links(real()[0], i, j)
        best = teachable(links)
        if best is not None:
            return best, True
        return max(links, key=lambda link: link.specificity), False

    def head() -> Explanation:
        ex = real()[0]
        link = chosen()[0]
        hs = next(h for h in ex.heads if (h.layer, h.head) == (link.layer, link.head))
        return Explanation(ex.text, ex.tokens, ex.config, hs.steps.x, [hs])

    def head_body() -> list[RenderableType]:
        ex = head()
        s = ex.heads[0].steps
        return [Bars(ex.labels[i], ex.labels, s.weights[i]),
                *without_headings(render.explanation(ex, show=("softmax",),
                                                     precision=precision,
                                                     header=False).renderables)]

    def best_words() -> str:
        link, meaning = chosen()
        ex = head()
        w = ex.heads[0].steps.weights
        street = pair_links(ex, i, k)[0]
        where = f"In layer {link.layer}, head {link.head}, '{a}' gives"
        first = (f"{where} {pct1(link.weight)} of its attention to '{b}', while the sentence's "
                 f"tokens give '{b}' {pct1(link.baseline or 0.0)} on average (its baseline). ")
        if meaning:
            said = ("Leaving out rows that attend by position or park on a sink, no other head "
                    "links them as far above the baseline. ")
        else:
            said = ("No head links them by meaning: this is the most specific link of all, "
                    f"but {_kind_words(link)}. ")
        contrast = (f"The same head gives '{c}' {pct1(street.weight)}, against a baseline of "
                    f"{pct1(street.baseline or 0.0)} ({100 * street.specificity:+.1f})"
                    + (f": here '{a}' looks at '{b}', not at '{c}'. "
                       if link.specificity > street.specificity else ". "))
        sink = _sink_words(ex, i, j, w).lstrip()
        return first + said + contrast + (sink + " " if sink else "") + patterns_line(real()[2])

    return [
        Screen(part, "A real model has many heads", (
            size + f"The lesson asks what 'it' means in “{PRONOUN}”. "
            + _added(labels, specials) + _mask(loaded, len(tokens), i, j, a, b)
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
    def chosen() -> tuple[Explanation, tuple[int, int], str]:
        """The head shown, the pair worked out, and (with a model) what is said of it."""
        if loaded is None:
            assert ws is not None
            ex = explain(text, tok.word_level(text), ws, seed=seed, heads=[0])
            return ex, _strongest(ex), ""
        every = explain_model(text, loaded, list(range(loaded.n_layers)),
                              list(range(loaded.n_heads)))
        link, meaning = follow(every)
        at = (link.layer, link.head) if link else (every.heads[-1].layer, 0)
        hs = next(h for h in every.heads if (h.layer, h.head) == at)
        one = Explanation(every.text, every.tokens, every.config, hs.steps.x, [hs])
        said = model_words(one, link, meaning, overview(every))
        return one, (link.src, link.dst) if link else (0, 0), said

    def ex() -> Explanation:
        return chosen()[0]

    link = pair_of(ex, lambda: chosen()[1])

    def source_words() -> str:
        e = ex()
        c = e.config
        n = len(e.tokens)
        if c.source == "model":
            what = (f"the real model {visible(short_name(model or ''))}: {c.n_layers} layers of "
                    f"{c.heads} heads. {chosen()[2]}")
        elif c.source == "file":
            what = f"the weights in {visible(c.weights)}"
        else:
            what = (f"random weights (seed {seed}): nothing was learned, so which word looks "
                    "at which means nothing yet, but every sum is real")
        if c.source == "model":
            return (f"We run the five steps on “{visible(text)}”: {n} tokens, with {what} The "
                    "last screens work out that link by hand.")
        return (f"We run the five steps on “{visible(text)}”: {n} tokens, with {what}. The "
                "last screens work out one link by hand: the pair of different words with "
                f"the most weight, '{word(e, link().query)}' → '{word(e, link().key)}'.")

    def step3_words() -> str:
        pr, e = link(), ex()
        return (f"Every query is compared with every key by a dot product. For "
                f"'{word(e, pr.query)}' → '{word(e, pr.key)}' the products of q and k, "
                f"dimension by dimension, add up to {number(pr.score, precision)}.")

    def step4_words() -> str:
        pr, e = link(), ex()
        exp = "e^x" if pr.row.shift == 0 else "e^(x − m), m the row's largest entry,"
        return (f"Scale the score ({render_pair.scale_chain(pr, precision)}), then softmax: "
                f"{exp} of each entry, divided by the row's sum. For '{word(e, pr.query)}': "
                f"{number(pr.row.exps[pr.key], 4)} / {number(pr.row.total, 4)} = "
                f"{number(pr.weight, 4)} for '{word(e, pr.key)}'." + place())

    def place() -> str:
        """With a model whose link is only positional: say so wherever its weight is shown."""
        return (" That weight comes from where the words sit, not from what they mean."
                if POSITION_ONLY in chosen()[2] else "")

    def bars_words() -> str:
        pr, e = link(), ex()
        return (f"'{word(e, pr.query)}' gives {pct(pr.weight)} of its attention to "
                f"'{word(e, pr.key)}'." + _sink_words(e, pr.query, pr.key,
                                                       e.heads[0].steps.weights) + place())

    def output_words() -> str:
        pr, e = link(), ex()
        return (f"The output of '{word(e, pr.query)}' is the sum of every value row, each "
                f"times the weight it gets: '{word(e, pr.key)}' adds {number(pr.weight, 3)} × "
                "its value row.")

    def bars(e: Explanation, i: int) -> Bars:
        """Where query i looks in the first head, its masked keys marked."""
        s = e.heads[0].steps
        return Bars(e.labels[i], e.labels, s.weights[i], None if s.mask is None else s.mask[i])

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
                                                                   key=link().key)),
                        *numbers(ex, "softmax", precision=precision)()]),
        Screen(part, "Where it looks", bars_words,
               lambda: [bars(ex(), link().query)]),
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


POSITION_ONLY = "No head links two different words here by more than position"


def follow(ex: Explanation) -> tuple[Link | None, bool]:
    """The link the demo works out on a model's sentence, and whether it teaches meaning.

    Over every head, the most specific content link (teachable: weight minus baseline, rows
    that attend by position or park on a sink left out), with True; if there is none, the
    most specific of each head's strongest links, judged by link_kind, with False; None for
    a text with one word.
    """
    best = teachable(overview(ex).top)  # top: each head's most specific content link
    if best is not None:
        return best, True
    strongest = max(_links(ex), key=lambda link: link.specificity, default=None)
    if strongest is None:
        return None, False
    judged = pair_links(ex, strongest.src, strongest.dst)
    return next(link for link in judged
                if (link.layer, link.head) == (strongest.layer, strongest.head)), False


def model_words(ex: Explanation, link: Link | None, meaning: bool, ov: Overview) -> str:
    """What the own-sentence demo says of the head it follows (ex holds only that head), the
    link follow() chose and what every head mostly does (ov: the overview of all heads)."""
    h = ex.heads[0]
    if link is None:
        return f"We follow layer {h.layer}, head {h.head}: the text has a single word."
    pair = (f"'{word(ex, link.src)}' → '{word(ex, link.dst)}', {pct1(link.weight)} against a "
            f"baseline of {pct1(link.baseline or 0.0)}")
    if meaning:
        said = (f"We follow layer {h.layer}, head {h.head}, and its link {pair}: of all the "
                "links between two different words, it rises furthest above what the key word "
                "gets on average, leaving out rows that attend by position or park on a sink.")
    else:
        said = (f"{POSITION_ONLY}: every link rising {100 * MEANING_ABOVE:.0f} points or more "
                "above its baseline attends by position or parks on a sink. We work out the "
                f"most specific one anyway, in layer {h.layer}, head {h.head}: {pair}; but "
                f"{_kind_words(link)}.")
    return f"{said} {patterns_line(ov)}"
