"""`attn demo`: a guided lesson on self-attention, one screen at a time, with live numbers.

The screens are known up front but worked out only when shown: the first one appears at
once, and a real model (`--model`) runs its forward pass only when its part is reached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from attncli import tokens as tok
from attncli.explain import Explanation, explain, explain_model, with_focus
from attncli.heads import Link, Overview, overview
from attncli.lookup import find_all
from attncli.render import explain as render
from attncli.render import heads as render_heads
from attncli.render import widgets
from attncli.safe_text import visible
from attncli.weights import files as weightfiles

SENTENCE = "The animal was tired"


@dataclass(frozen=True)
class Screen:
    """One screen of the lesson: where we are, what to notice, and the numbers.

    words and body may be functions: they are then called only when the screen is shown.
    """

    part: str
    title: str
    words: str | Callable[[], str]
    body: Callable[[], RenderableType] | None = None

    def render(self, number: int, total: int) -> Group:
        # the counter first: a title too long for the terminal is cut at its end
        head = Text.assemble((f"[{number}/{total}] ", "dim"), (f"{self.part} · ", "dim"),
                             (self.title, "bold"))
        words = self.words() if callable(self.words) else self.words
        parts: list[RenderableType] = [Panel(Text(words), title=head, title_align="left")]
        if self.body is not None:
            parts += [Text(""), self.body()]
        return Group(*parts)


def _sample(name: str, text: str) -> Callable[[], Explanation]:
    """The explanation of text with a sample weights file, worked out on first use."""
    @cache
    def get() -> Explanation:
        weights = weightfiles.load(weightfiles.SAMPLES / name)
        return explain(text, tok.word_level(text), weights, seed=0)
    return get


def lesson(model: str | None = None, precision: int = 2) -> list[Screen]:
    """The screens, in order; the real-model part only with a model.

    With a model, its config and tokenizer are read here (a bad directory is refused before
    anything is shown); its forward pass runs when the first screen of its part is shown.
    """
    love = _sample("i-love-ai.json", "I love AI")
    tired = _sample("animal-tired.json", SENTENCE)

    def sections(ex: Callable[[], Explanation], *names: str,
                 focus: str | None = None) -> Callable[[], Group]:
        def draw() -> Group:
            shown = ex()
            if focus is not None:
                shown = with_focus(shown, find_all(shown, focus, "--focus"))
            return render.explanation(shown, show=names, precision=precision, header=False)
        return draw

    one = "Part 1 · I love AI"
    two = f"Part 2 · {SENTENCE}"
    screens = [
        Screen(one, "What self-attention does", (
            "A word's meaning depends on its neighbours: 'bank' means one thing next to "
            "'river' and another next to 'money'. Self-attention lets every word in a sentence "
            "look at every word, itself included, decide how much each one matters, and mix "
            "in what it finds. It takes five steps, and we will do each one with real "
            "numbers, starting with a three-word sentence small enough to check on paper.")),
        Screen(one, "Step 1: embeddings", (
            "Each token starts as a list of numbers, its embedding. Here the embeddings have "
            "just two numbers: I = [1, 0], love = [0, 1], and AI = [1, 1]. Stacked, one row "
            "per token, they make the matrix X."), sections(love, "tokens", "x")),
        Screen(one, "Step 2: queries, keys and values", (
            "Three weight matrices turn each embedding into three new vectors. The query "
            "(X·W_Q) says what the token is looking for. The key (X·W_K) says what it can "
            "offer to others. The value (X·W_V) is what it hands over when someone attends to "
            "it. In a trained model these matrices are learned; here they are small whole "
            "numbers, so every product can be checked."), sections(love, "w", "qkv")),
        Screen(one, "Step 3: compare every query with every key", (
            "The dot product of a query and a key is large when they point the same way. "
            "Computing it for every pair gives a square table, Q·Kᵀ: row = the token asking, "
            "column = the token being asked. For I and AI: [2, 0, 0, 1]·[1, 2, 1, 1] = 3."),
            sections(love, "scores")),
        Screen(one, "Step 4: scale, then softmax", (
            "The scores are divided by √d_k, here √4 = 2. A score is a sum of d_k products, "
            "so the more dimensions, the wider the scores spread: for random vectors, their "
            "typical size grows like √d_k. Dividing by √d_k undoes that, so the softmax does "
            "not hand nearly all the weight to the largest score. Softmax then turns each row "
            "into weights: all positive, summing to 1. A bigger score gets a bigger share."),
            sections(love, "scaled", "softmax", "bars")),
        Screen(one, "Step 5: the weighted sum of values", (
            "Each token's output is a blend of every value vector, weighted by its row of "
            "attention weights. I gives 51% of its attention to AI, so I's output is pulled "
            "towards AI's value. This output is the new, context-aware version of the token."),
            sections(love, "output")),
        Screen(two, "Embeddings with meaning", (
            "Now a sentence where we can read the numbers. These embeddings were designed by "
            "hand: each of the six dimensions is a grammatical feature (noun, animate, "
            "adjective, verb, determiner, pronoun), 1 when the word has it. 'animal' is a "
            "living noun; 'tired' is an adjective."), sections(tired, "x")),
        Screen(two, "What each word looks for, and what it offers", (
            "Read W_K by its columns: k0 = 'I am a noun', k1 = 'I am alive', k2 = 'I describe "
            "a state', k3 = 'I am a function word'. Read W_Q by its rows: an adjective looks "
            "for a noun that is alive (q0 and q1), a determiner looks for a noun (q0), a noun "
            "looks for what describes it (q2)."), sections(tired, "w", "qkv")),
        Screen(two, "Scores and weights", (
            "'tired' asks for a living noun, and only 'animal' offers both 'noun' and 'alive', "
            "so their score is the largest in the row. 'The' looks for a noun and also lands "
            "on 'animal'; 'animal' looks for a description and finds 'tired'."),
            sections(tired, "scores", "scaled", "softmax")),
        Screen(two, "Where 'tired' looks", (
            "The chart from the lesson: 'tired' gives most of its attention to 'animal', "
            "because 'animal' is what is tired. We wrote that rule into the weights, as "
            "features: an adjective looks for a living noun, and only 'animal' offers both. "
            "The dot products applied it. A trained model learns weights like these from "
            "data, and its features are seldom this easy to name."),
            sections(tired, "bars", focus="tired")),
    ]
    if model is None:
        return [*screens, Screen("The end", "Now try a real model", (
            "You have done self-attention by hand, twice. A trained transformer runs the same "
            "five steps in every head of every layer. Run `attn demo --model DIR` with a "
            "Hugging Face model directory (config.json, tokenizer.json, model.safetensors) to "
            "see what a real model does with 'The animal was tired', or explore any sentence "
            "with `attn explain`."))]
    return [*screens, *_real_model(model, precision), Screen("The end", "Recap", (
        "Embeddings in, queries, keys and values out, dot products, divide by √d_k, softmax, "
        "weighted sum: the same five steps, from a three-word toy to a trained model. "
        "Explore any sentence with `attn explain` and `attn heads`."))]


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


@dataclass(frozen=True)
class Word:
    """The token that stands for a word of the sentence: its first piece, if any."""

    word: str
    index: int | None  # None: no token lies inside the word (the reason says why)
    pieces: list[int]  # every token that covers part of the word
    reason: str = ""


def find_word(text: str, tokens: Sequence[tok.Token], word: str) -> Word:
    """The word's first piece among tokens, by character offsets (special tokens have none)."""
    m = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)
    if m is None:
        return Word(word, None, [], f"'{word}' is not in the sentence")
    start, end = m.span()
    pieces = [i for i, t in enumerate(tokens) if t.end > t.start and t.start < end
              and t.end > start]
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


def _real_model(spec: str, precision: int) -> list[Screen]:
    """Part 3: what a real model does with the sentence (one screen if it cannot be shown)."""
    from attncli.models import load_model

    loaded = load_model(spec)
    tokens = loaded.tokens(SENTENCE)
    labels = [visible(t.label(SENTENCE).strip() or t.text) for t in tokens]
    name = short_name(spec)
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
        return real()[1].top[0]

    def head_body() -> Group:
        ex, ov = real()
        hs = next(h for h in ex.heads if (h.layer, h.head) == (best().layer, best().head))
        single = Explanation(ex.text, ex.tokens, ex.config, hs.steps.x, [hs])
        return Group(render.explanation(single, show=("softmax",), precision=precision,
                                        header=False),
                     widgets.Bars(ex.labels[i], ex.labels, hs.steps.weights[i]), Text(""))

    def best_words() -> str:
        link = best()
        return (f"In layer {link.layer}, head {link.head}, '{a}' gives "
                f"{100 * link.weight:.0f}% of its attention to '{b}'. Other heads do other "
                f"jobs: some look at {neighbours}, many park their attention on {park} when "
                "nothing in the sentence is useful to them.")

    neighbours = "the previous token" if loaded.causal else "the next or previous token"
    park = (" or ".join(dict.fromkeys(labels[k] for k in specials)) if specials
            else "the first token")
    return [
        Screen(part, "A real model has many heads", (
            size + _added(labels, specials) + _mask(loaded.causal, a, b) + "".join(split)
            + f"The grid shows, for every head, how much '{a}' attends to '{b}'."),
            lambda: render_heads.overview(real()[1])),
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


def play(screens: Sequence[Screen], out: Console, *, pause: bool,
         read_key: Callable[[], str] | None = None) -> list[RenderableType]:
    """Show the screens; with pause, wait for Enter (next) or q (quit) after each one.

    Returns what was shown, so it can be exported. Ctrl-C raises KeyboardInterrupt (after
    ending the prompt's line), so the command stops with exit code 130.
    """
    shown: list[RenderableType] = []
    for number, screen in enumerate(screens, start=1):
        page = screen.render(number, len(screens))
        if pause:
            out.clear()
        out.print(page)
        out.print()
        shown += [page, Text("")]
        if pause and number < len(screens):
            out.print(Text("Enter: next · q: quit", style="dim"), end="")
            try:
                key = (read_key or _getchar)()
            finally:
                out.print()
            if key.lower() == "q":
                break
    return shown


def _getchar() -> str:
    import click

    try:
        return click.getchar()  # Ctrl-C raises KeyboardInterrupt
    except EOFError:  # no more input: stop as q does
        return "q"
