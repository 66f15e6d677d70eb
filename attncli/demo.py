"""`attn demo`: a guided lesson on self-attention, one screen at a time, with live numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from attncli import render, render_heads
from attncli import tokens as tok
from attncli import weights as wts
from attncli.explain import Explanation, explain, explain_model
from attncli.overview import overview

SAMPLES = Path(__file__).parent / "sample_weights"


@dataclass(frozen=True)
class Screen:
    """One screen of the lesson: where we are, what to notice, and the numbers."""

    part: str
    title: str
    words: str
    body: Callable[[], RenderableType] | None = None

    def render(self, number: int, total: int) -> Group:
        # the counter first: a title too long for the terminal is cut at its end
        head = Text.assemble((f"[{number}/{total}] ", "dim"), (f"{self.part} · ", "dim"),
                             (self.title, "bold"))
        parts: list[RenderableType] = [Panel(Text(self.words), title=head, title_align="left")]
        if self.body is not None:
            parts += [Text(""), self.body()]
        return Group(*parts)


def _sample(name: str, text: str) -> Explanation:
    ws = wts.load(SAMPLES / name)
    return explain(text, tok.word_level(text), ws, seed=0)


def lesson(model: str | None = None, precision: int = 2) -> Iterator[Screen]:
    """The screens, in order; the real-model part only with a model."""
    love = _sample("i-love-ai.json", "I love AI")
    tired = _sample("animal-tired.json", "The animal was tired")

    def sections(ex: Explanation, *names: str, focus: str | None = None) -> Callable[[], Group]:
        return lambda: render.explanation(ex, show=names, focus=focus, precision=precision)

    one = "Part 1 · I love AI"
    yield Screen(one, "What self-attention does", (
        "A word's meaning depends on its neighbours: 'bank' means one thing next to 'river' "
        "and another next to 'money'. Self-attention lets every word in a sentence look at "
        "every word, itself included, decide how much each one matters, and mix in what it "
        "finds. It takes five steps, and we will do each one with real numbers, starting "
        "with a three-word sentence small enough to check on paper."))
    yield Screen(one, "Step 1: embeddings", (
        "Each token starts as a list of numbers, its embedding. Here the embeddings have just "
        "two numbers: I = [1, 0], love = [0, 1], and AI = [1, 1]. Stacked, one row per "
        "token, they make the matrix X."), sections(love, "tokens", "x"))
    yield Screen(one, "Step 2: queries, keys and values", (
        "Three weight matrices turn each embedding into three new vectors. The query "
        "(X·W_Q) says what the token is looking for. The key (X·W_K) says what it can offer "
        "to others. The value (X·W_V) is what it hands over when someone attends to it. In "
        "a trained model these matrices are learned; here they are small whole numbers, "
        "so every product can be checked."), sections(love, "w", "qkv"))
    yield Screen(one, "Step 3: compare every query with every key", (
        "The dot product of a query and a key is large when they point the same way. "
        "Computing it for every pair gives a square table, Q·Kᵀ: row = the token asking, "
        "column = the token being asked. For I and AI: [2, 0, 0, 1]·[1, 2, 1, 1] = 3."),
        sections(love, "scores"))
    yield Screen(one, "Step 4: scale, then softmax", (
        "The scores are divided by √d_k, here √4 = 2. A score is a sum of d_k products, "
        "so the more dimensions, the wider the scores spread: for random vectors, their "
        "typical size grows like √d_k. Dividing by √d_k undoes that, so the softmax does "
        "not hand nearly all the weight to the largest score. Softmax then turns each row "
        "into weights: all positive, summing to 1. A bigger score gets a bigger share."),
        sections(love, "scaled", "softmax", "bars"))
    yield Screen(one, "Step 5: the weighted sum of values", (
        "Each token's output is a blend of every value vector, weighted by its row of "
        "attention weights. I gives 51% of its attention to AI, so I's output is pulled "
        "towards AI's value. This output is the new, context-aware version of the token."),
        sections(love, "output"))

    two = "Part 2 · The animal was tired"
    yield Screen(two, "Embeddings with meaning", (
        "Now a sentence where we can read the numbers. These embeddings were designed by "
        "hand: each of the six dimensions is a grammatical feature (noun, animate, "
        "adjective, verb, determiner, pronoun), 1 when the word has it. 'animal' is a "
        "living noun; 'tired' is an adjective."), sections(tired, "x"))
    yield Screen(two, "What each word looks for, and what it offers", (
        "Read W_K by its columns: k0 = 'I am a noun', k1 = 'I am alive', k2 = 'I describe a "
        "state', k3 = 'I am a function word'. Read W_Q by its rows: an adjective looks for "
        "a noun that is alive (q0 and q1), a determiner looks for a noun (q0), a noun "
        "looks for what describes it (q2)."), sections(tired, "w", "qkv"))
    yield Screen(two, "Scores and weights", (
        "'tired' asks for a living noun, and only 'animal' offers both 'noun' and 'alive', so "
        "their score is the largest in the row. 'The' looks for a noun and also lands on "
        "'animal'; 'animal' looks for a description and finds 'tired'."),
        sections(tired, "scores", "scaled", "softmax"))
    yield Screen(two, "Where 'tired' looks", (
        "The chart from the lesson: 'tired' gives most of its attention to 'animal', because "
        "'animal' is what is tired. We wrote that rule into the weights, as features: an "
        "adjective looks for a living noun, and only 'animal' offers both. The dot products "
        "applied it. A trained model learns weights like these from data, and its features "
        "are seldom this easy to name."),
        sections(tired, "bars", focus="tired"))

    if model is None:
        yield Screen("The end", "Now try a real model", (
            "You have done self-attention by hand, twice. A trained transformer runs the same "
            "five steps in every head of every layer. Run `attn demo --model DIR` with a "
            "Hugging Face model directory (config.json, tokenizer.json, model.safetensors) to "
            "see what a real model does with 'The animal was tired', or explore any sentence "
            "with `attn explain`."))
        return

    from attncli.models import load_model

    loaded = load_model(model)
    real = explain_model("The animal was tired", loaded, "all", "all")
    ov = overview(real, "tired", "animal", top=3)
    best = next(hs for hs in real.heads
                if (hs.layer, hs.head) == (ov.top[0].layer, ov.top[0].head))
    single = Explanation(real.text, real.tokens, real.config, best.steps.x, [best])
    three = f"Part 3 · {loaded.name}"
    yield Screen(three, "A real model has many heads", (
        f"{loaded.name} has {loaded.n_layers} layers with {loaded.n_heads} heads each, and "
        "every head does the five steps with its own learned W_Q, W_K and W_V. Its tokenizer "
        "also adds tokens of its own, such as [CLS] and [SEP]. The grid shows, for every "
        "head, how much 'tired' attends to 'animal'."), lambda: render_heads.overview(ov))
    yield Screen(three, "The head that links 'tired' to 'animal'", (
        f"In layer {best.layer}, head {best.head}, 'tired' gives "
        f"{100 * ov.top[0].weight:.0f}% of its attention to 'animal'. Other heads do other "
        "jobs: some look at the next or previous token, many park their attention on [CLS] "
        "or [SEP] when nothing in the sentence is useful to them."),
        lambda: render.explanation(single, show=("softmax", "bars"), focus="tired",
                                   precision=precision))
    yield Screen("The end", "Recap", (
        "Embeddings in, queries, keys and values out, dot products, divide by √d_k, softmax, "
        "weighted sum: the same five steps, from a three-word toy to a trained model. "
        "Explore any sentence with `attn explain` and `attn heads`."))


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
