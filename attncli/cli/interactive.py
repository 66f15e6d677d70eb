"""The two interactive commands, `attn demo` (the guided lesson) and `attn explore` (the
Textual explorer): the keyboard, the terminal checks and the exports, beside commands.py."""

# No `from __future__ import annotations` in the modules that declare commands: typer would
# then evaluate every annotation string again at each start, a cost paid by every run.
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attncli.cli import output, sources
from attncli.cli.memory import keep_freed_memory
from attncli.cli.options import (
    CausalOpt,
    DModelOpt,
    ForceOpt,
    HeadsOpt,
    MaxTokensOpt,
    ModelOpt,
    PositionsOpt,
    PrecisionOpt,
    SeedOpt,
    TokenizerOpt,
    WeightsOpt,
)
from attncli.errors import AttnError

if TYPE_CHECKING:
    from attncli.effects import Ablated
    from attncli.explain import Explanation
    from attncli.generate import Generator
    from attncli.tokens import Token

DEMO_EXAMPLES = output.examples(
    "attn demo",
    'attn demo "The cat sat on the mat"',
    "attn demo --model ./all-MiniLM-L6-v2",
    "attn demo --no-pause --svg slides/",
)


def demo_cmd(
    text: Annotated[str | None, typer.Argument(
        metavar="TEXT",
        help="Your own sentence: the lesson's steps run on it [default: the worked and "
             "designed examples].", show_default=False)] = None,
    weights: WeightsOpt = None,
    model: Annotated[str | None, typer.Option(
        help="A real model: without TEXT, a last part shows which head links \"it\" to "
             "\"animal\" in the lesson's pronoun sentence; with TEXT, the lesson runs on TEXT "
             "through it, in its most specific head.",
        metavar="DIR|REPO", show_default=False)] = None,
    seed: SeedOpt = 0,
    no_pause: Annotated[bool, typer.Option(
        "--no-pause", help="Print the whole lesson straight through (also the default when "
                           "standard input or output is not a terminal).")] = False,
    precision: PrecisionOpt = 2,
    svg: Annotated[str | None, typer.Option(
        "--svg", metavar="FILE|DIR",
        help="Also save the lesson as an SVG picture; a folder (ending in / or one that "
             "exists) gets one picture per screen, 01-….svg, 02-….svg, ….",
        show_default=False)] = None,
    html: Annotated[str | None, typer.Option(
        "--html", metavar="FILE|DIR",
        help="Also save the lesson as an HTML page, or one page per screen into a folder, as "
             "--svg.", show_default=False)] = None,
    txt: Annotated[str | None, typer.Option(
        "--txt", metavar="FILE|DIR",
        help="Also save the lesson as plain text, or one file per screen into a folder, as "
             "--svg.", show_default=False)] = None,
    force: ForceOpt = False,
) -> None:
    """A guided lesson on self-attention, screen by screen.

    It runs on the worked and designed examples ("I love AI", the animal, "it", "bank"), or
    on TEXT, your own sentence (- reads standard input).
    Keys: Enter, Space, → or n next; ←, b or p back; Home or g first; a number then Enter
    jumps; ? lists the keys (Esc closes the list); q quits. Each screen fits the terminal: a
    screen with more numbers than fit is shown in pages. Ctrl-C stops at once (exit code 130,
    nothing saved).
    """
    from rich.console import Group
    from rich.text import Text

    from attncli import demo
    from attncli.render import console as screen

    exports = screen.Exports(svg, html, txt, force)
    output.check_exports(exports, allow_dirs=True)
    if text is not None:
        text = sources.read_text(text)
    if weights is not None and model is not None:
        raise AttnError("--weights cannot be combined with --model: the model has its own")
    if weights is not None and text is None:
        raise AttnError("--weights goes with TEXT: the lesson's examples bring their own "
                        "weights files")
    keep_freed_memory()
    screens = demo.lesson(text, weights=weights, model=model, seed=seed,
                          precision=precision)  # each screen is worked out when shown
    # every file, before any screen is shown
    output.check_exports(exports, allow_dirs=True, pages=[s.title for s in screens])
    out = screen.console()
    pause = not no_pause and sys.stdin.isatty() and out.is_terminal
    shown = demo.play(screens, out, pause=pause)
    total = len(screens)
    title = "attn demo: a lesson on self-attention"
    # a file gets the screens that were shown; a folder every screen, numbered as on screen
    screen.save(Group(*(item for i in shown for item in (screens[i].render(i + 1, total),
                                                         Text("")))), exports, out.width, title)
    screen.save_each([(s.title, s.render(i + 1, total)) for i, s in enumerate(screens)],
                     exports, out.width, title)


EXPLORE_EXAMPLES = output.examples(
    'attn explore "The animal was tired" -w sample_weights/animal-tired.json',
    'attn explore "The cat sat on the mat" --heads 4 --causal',
    "attn explore \"The animal didn't cross the street because it was tired\" \\\n"
    "      --model ./all-MiniLM-L6-v2",
    "attn explore \"The animal didn't cross the street because it was\" \\\n"
    "      --model sample_weights/pronoun-lm --generate 3",
)


def explore_cmd(
    text: Annotated[str, typer.Argument(
        metavar="TEXT", help="The sentence to explore.",
        show_default=False)] = "The animal was tired",
    weights: WeightsOpt = None,
    tokenizer: TokenizerOpt = None,
    seed: SeedOpt = 0,
    d_model: DModelOpt = None,
    heads: HeadsOpt = None,
    causal: CausalOpt = False,
    positions: PositionsOpt = "none",
    model: ModelOpt = None,
    layer: Annotated[str | None, typer.Option(
        help="With --model: the layer to start on, numbered from 0 (a number or last) "
             "[default: last].", metavar="N|last", show_default=False)] = None,
    head: Annotated[str | None, typer.Option(
        metavar="N", help="The head to start on, numbered from 0 [default: 0].",
        show_default=False)] = None,
    max_tokens: MaxTokensOpt = 4096,
    precision: PrecisionOpt = 2,
    generate: Annotated[int | None, typer.Option(
        metavar="N", help="With --model (a decoder with an LM head): generate up to N tokens, "
                          "one per n key, greedily over the key/value cache; b takes one back.",
        show_default=False)] = None,
) -> None:
    """Pick a query and a key, and move through heads and layers, live.

    TEXT is the sentence [default: "The animal was tired"]. Keys:
    ↑/↓ query, Tab then ↑/↓ key, ←/→ head, [ and ] layer, g heads grid, m weights heat map,
    c causal mask, p positions, e edit the sentence, s save an SVG, a knock out the head
    (with --model: the prediction before and after; a again restores it), n and b (with
    --generate) the next generated token and back, ? keys, Esc closes what is open, q quit.
    It needs a terminal: for a pipe, use attn explain.
    """
    from dataclasses import replace

    from attncli.explain import select
    from attncli.explore.session import Session
    from attncli.safe_text import visible

    if text == "-":
        raise AttnError("attn explore reads the keyboard, so TEXT cannot be - (standard "
                        "input): give the sentence itself, or press e in the explorer to edit it")
    if generate is not None and (model is None or generate < 1):
        raise AttnError("--generate goes with --model DIR and a number of tokens of at least 1"
                        if model is not None else "--generate goes with --model DIR: seeded "
                        "and file weights have no LM head to pick a next token")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise AttnError("attn explore needs a terminal (its input or output is a pipe or a "
                        "file); use attn explain for the same numbers as text or --json")
    opts = sources.SourceOptions(
        weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model, heads=heads,
        causal=causal, positions=positions, model=model, max_tokens=max_tokens,
        layer="all" if model is not None else None, head="all" if model is not None else None)

    def build(sentence: str, masked: bool, order: str) -> "Explanation":
        return sources.build(sentence, replace(opts, causal=masked, positions=order))

    start, grown = _generation(model, max_tokens) if generate else (None, None)
    session = Session(text, build, causal=causal, positions=positions,
                      can_toggle=model is None, knock=_knock(model, max_tokens),
                      no_knock=("random" if weights is None else "file") + " weights have no "
                      "LM head, so there is no prediction to change (a needs --model DIR)",
                      start=start, grown=grown, limit=generate or 0,
                      no_generate="start the explorer with --model DIR --generate N to step "
                                  "through a generation")
    ex = session.ex  # worked out before the screen opens: a bad input is one line, exit 2
    if generate:
        session.begin()  # an encoder, or a model without an LM head: refused here
    start_layer = None if layer is None else session.layers[
        select(layer, len(session.layers), "layer")[0]]
    start_head = None if head is None else session.heads[
        select(head, len(session.heads), "head")[0]]
    from attncli.demo import short_name  # after the checks: it loads the lesson's rendering

    source = (short_name(ex.config.model or "") if ex.from_model
              else f"random weights (seed {seed})" if ex.config.source == "seeded"
              else Path(ex.config.weights).name)

    from attncli.explore.app import Explorer  # Textual: only for this command

    Explorer(session, layer=start_layer, head=start_head, precision=precision,
             source=visible(source)).run()


def _knock(model: str | None, max_tokens: int) -> Callable[[str, tuple[int, int]], Any] | None:
    """The explorer's a key: the model's prediction with one head knocked out."""
    if model is None:
        return None

    def knock(text: str, head: tuple[int, int]) -> "Ablated":
        from attncli.effects import ablate

        return ablate(text, sources.load(model), [head], top=1, max_tokens=max_tokens)

    return knock


def _generation(model: str | None, max_tokens: int
                ) -> tuple[Callable[[str], Any], Callable[[str, list[Any]], Any]]:
    """The explorer's n key: a greedy generation over the cache, and every head over the
    generated text's own tokens."""
    assert model is not None

    def start(prompt: str) -> "Generator":
        from attncli.generate import Generator

        return Generator(sources.load(model), prompt, max_tokens=max_tokens, top=1)

    def grown(text: str, tokens: "list[Token]") -> "Explanation":
        from attncli.explain import explain_model

        loaded = sources.load(model)
        return explain_model(text, loaded, list(range(loaded.n_layers)),
                             list(range(loaded.n_heads)), max_tokens, tokens=tokens)

    return start, grown


def register(app: typer.Typer) -> None:
    """Add demo and explore to APP, at the point of the call (the order --help lists)."""
    app.command("demo", epilog=DEMO_EXAMPLES)(demo_cmd)
    app.command("explore", epilog=EXPLORE_EXAMPLES)(explore_cmd)
