"""The `attn` command line: parse options, call the library, render or dump JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from attncli import __version__
from attncli.cli import sources
from attncli.cli.exits import AttnGroup
from attncli.cli.options import (
    CausalOpt,
    DKOpt,
    DModelOpt,
    DVOpt,
    ForceOpt,
    HeadOpt,
    HeadsOpt,
    HtmlOpt,
    JsonOpt,
    LayerOpt,
    MaxTokensOpt,
    ModelOpt,
    PositionsOpt,
    PrecisionOpt,
    SeedOpt,
    SvgOpt,
    TokenizerOpt,
    TxtOpt,
    WeightsOpt,
)
from attncli.errors import AttnError

EXIT_CODES = ("Exit codes: 0 success, 1 internal error (rerun with --debug), 2 usage or input "
              "error, 130 interrupted (Ctrl-C).")


def _examples(*lines: str) -> str:
    """An epilog of example commands, kept as written (click's \\b marker), then exit codes."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines) + "\n\n" + EXIT_CODES


# A bare `attn` or `attn weights` prints this help on stdout and exits 0 (see exits.py).
app = typer.Typer(
    cls=AttnGroup,
    help="See self-attention work, step by step, with its numbers.",
    epilog=_examples(
        "attn demo",
        'attn explain "The animal was tired"',
        'attn compare "the river bank" "the bank account" --word bank',
    ),
    no_args_is_help=True,
    add_completion=True,  # --install-completion and --show-completion [SHELL]
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
weights_app = typer.Typer(
    help="Make and inspect weights files (JSON, npz, safetensors).",
    epilog=_examples(
        "attn weights init -o my.json",
        "attn weights show sample_weights/animal-tired.json",
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(weights_app, name="weights")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attn {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an internal "
                                                        "error.")] = False,
) -> None:
    """See self-attention work, step by step, with its numbers."""


@app.command(epilog=_examples(
    'attn explain "The animal was tired"',
    'attn explain "The animal was tired" -w sample_weights/animal-tired.json \\\n'
    "      --focus tired",
    'attn explain "I love AI" -w sample_weights/i-love-ai.json --precision 3',
    'attn explain "The cat sat" --heads 2 --causal --show scaled,softmax',
    'attn explain "The animal was tired" --model ./all-MiniLM-L6-v2 \\\n'
    "      --layer 5 --head 11",
    "echo 'The animal was tired' | attn explain - --json | jq '.heads[0].weights'",
    'attn explain --json -- "-1 is a number"',
))
def explain(
    text: Annotated[str, typer.Argument(help="The sentence to explain; - reads standard input.",
                                        show_default=False)],
    weights: WeightsOpt = None,
    tokenizer: TokenizerOpt = None,
    seed: SeedOpt = 0,
    d_model: DModelOpt = None,
    d_k: DKOpt = None,
    d_v: DVOpt = None,
    heads: HeadsOpt = None,
    causal: CausalOpt = False,
    positions: PositionsOpt = "none",
    model: ModelOpt = None,
    layer: LayerOpt = None,
    head: HeadOpt = None,
    show: Annotated[list[str] | None, typer.Option(
        help="Sections to print, comma-separated: tokens, x, w, qkv, scores, scaled, softmax, "
             "bars, output, joined, or all [default: all; for a model: tokens, scores, "
             "scaled, softmax, bars, output].", show_default=False)] = None,
    focus: Annotated[str | None, typer.Option(
        help="Show only what this word attends to: its softmax worked out term by term, and "
             "its bars. WORD, WORD#2 (its second occurrence) or #7 (token 7 of the tokens "
             "table).", show_default=False)] = None,
    from_word: Annotated[str | None, typer.Option(
        "--from", help="With --to: the pair view. Works out why this query word gives the "
                       "--to word its weight: q·k dimension by dimension, ÷√d_k, e^x and the "
                       "row sum, then weight × value (WORD, WORD#2 or #7).",
        show_default=False)] = None,
    to_word: Annotated[str | None, typer.Option(
        "--to", help="With --from: the key word of the pair view.", show_default=False)] = None,
    heatmap: Annotated[bool, typer.Option(
        "--heatmap", help="Draw the n×n matrices as shaded cells, one character per token, "
                          "for long sentences.")] = False,
    max_tokens: MaxTokensOpt = 4096,
    precision: PrecisionOpt = 2,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """Tokenize TEXT and show every step of self-attention on it.

    TEXT is the sentence, in quotes; - reads it from standard input. A text that starts
    with a dash goes last, after -- (and every option before the --).
    """
    exports = _exports(svg, html, txt, force, as_json)
    if (from_word is None) != (to_word is None):
        raise AttnError("--from and --to go together: --from names the query word, --to the key")
    if focus is not None and from_word is not None:
        raise AttnError("--focus cannot be combined with --from/--to: the pair view already "
                        "works out the --from word's softmax")
    wanted = sources.parse_show(show, focus, pair=from_word is not None)
    ex = sources.build(text, sources.SourceOptions(
        weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model, d_k=d_k, d_v=d_v,
        heads=heads, causal=causal, positions=positions, model=model, layer=layer, head=head,
        max_tokens=max_tokens, join=_join(as_json, wanted, head)))
    ex = sources.explain_words(ex, focus=focus, src=from_word, dst=to_word)
    if as_json:
        from attncli import export

        _write_json(export.document(ex))
        return
    from attncli.render import explain as render

    _show(render.explanation(ex, show=sources.sections_for(ex, wanted), precision=precision,
                             heatmap=heatmap, tips=_tips(ex)), exports, f"attn explain: {ex.text}")


@app.command("heads", epilog=_examples(
    "attn heads \"The animal didn't cross the street because it was tired\" \\\n"
    "      --model ./all-MiniLM-L6-v2 --from it --to animal",
    'attn heads "The animal was tired" --model ./all-MiniLM-L6-v2',
    'attn heads "The animal was tired" --heads 4 --from tired --to animal --json',
))
def heads_cmd(
    text: Annotated[str, typer.Argument(help="The sentence; - reads standard input.",
                                        show_default=False)],
    from_word: Annotated[str | None, typer.Option(
        "--from", help="The query word: whose attention to follow (WORD, WORD#2 or #7, as for "
                        "explain --focus).", show_default=False)] = None,
    to_word: Annotated[str | None, typer.Option(
        "--to", help="The key word it attends to (WORD, WORD#2 or #7).",
        show_default=False)] = None,
    top: Annotated[int, typer.Option(min=1, max=1000, help="How many heads to list.")] = 5,
    model: ModelOpt = None,
    layer: Annotated[str | None, typer.Option(
        help="With --model: which layers, numbered from 0 (a number, last, a list or all) "
             "[default: all].", show_default=False)] = None,
    head: Annotated[str | None, typer.Option(
        help="Which heads, numbered from 0 (a number, last, a list or all) [default: all].",
        show_default=False)] = None,
    weights: WeightsOpt = None,
    tokenizer: TokenizerOpt = None,
    seed: SeedOpt = 0,
    d_model: DModelOpt = None,
    heads: HeadsOpt = None,
    causal: CausalOpt = False,
    max_tokens: MaxTokensOpt = 4096,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """Every layer and head at once, in one grid.

    With --from and --to: how much the first word attends to the second in each head, and the
    heads that link them most. Without them: what each head mostly does. TEXT is the sentence,
    in quotes; - reads it from standard input.
    """
    from attncli.heads import overview

    exports = _exports(svg, html, txt, force, as_json)
    if model is not None:
        layer = "all" if layer is None else layer
        head = "all" if head is None else head
    ex = sources.build(text, sources.SourceOptions(
        weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model, heads=heads,
        causal=causal, model=model, layer=layer, head=head, max_tokens=max_tokens))
    ov = overview(ex, from_word, to_word, top=top)
    if as_json:
        from attncli import export

        _write_json(export.heads_to_dict(ov))
        return
    from attncli.render import heads as render_heads
    from attncli.render.explain import with_header

    _show(with_header(ex, render_heads.overview(ov), _tips(ex)), exports,
          f"attn heads: {ex.text}")


@app.command("compare", epilog=_examples(
    'attn compare "I sat on the bank of the river" "I put money in the bank" \\\n'
    "      --word bank",
    'attn compare "dog bites man" "man bites dog" --word dog \\\n'
    "      --positions sinusoidal",
    'attn compare "A bank by the river" "A bank with money" --word bank \\\n'
    "      --model ./all-MiniLM-L6-v2 --layer 5 --json",
))
def compare_cmd(
    text_a: Annotated[str, typer.Argument(help="The first sentence.", show_default=False)],
    text_b: Annotated[str, typer.Argument(help="The second sentence.", show_default=False)],
    word: Annotated[str, typer.Option(help="The word to follow, in both sentences (WORD#2 takes "
                                           "its second occurrence in each).",
                                      show_default=False)],
    weights: WeightsOpt = None,
    tokenizer: TokenizerOpt = None,
    seed: SeedOpt = 0,
    d_model: DModelOpt = None,
    d_k: DKOpt = None,
    d_v: DVOpt = None,
    heads: HeadsOpt = None,
    causal: CausalOpt = False,
    positions: PositionsOpt = "none",
    model: ModelOpt = None,
    layer: LayerOpt = None,
    head: HeadOpt = None,
    max_tokens: MaxTokensOpt = 4096,
    precision: PrecisionOpt = 2,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """One word in two sentences, side by side.

    Its attention in TEXT_A and in TEXT_B, and the cosine of its two output vectors: how far
    the context moved it. TEXT_A and TEXT_B are the two sentences, in quotes; one of them (not
    both) can be -, to read it from standard input.
    """
    from attncli.compare import compare

    exports = _exports(svg, html, txt, force, as_json)
    if text_a == "-" and text_b == "-":
        raise AttnError("only one of TEXT_A and TEXT_B can be read from standard input")
    options = sources.SourceOptions(
        weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model, d_k=d_k, d_v=d_v,
        heads=heads, causal=causal, positions=positions, model=model, layer=layer, head=head,
        max_tokens=max_tokens)
    cmp = compare(sources.build(text_a, options), sources.build(text_b, options), word)
    if as_json:
        from attncli import export

        _write_json(export.compare_to_dict(cmp))
        return
    from attncli.render import compare as render_compare
    from attncli.render.explain import with_header

    _show(with_header(cmp.a, render_compare.comparison(cmp, precision), _tips(cmp.a),
                      texts=(cmp.a.text, cmp.b.text)), exports,
          f"attn compare: {cmp.a.text} | {cmp.b.text}")


@app.command("demo", epilog=_examples(
    "attn demo",
    "attn demo --model ./all-MiniLM-L6-v2",
    "attn demo --no-pause --svg lesson.svg",
))
def demo_cmd(
    model: Annotated[str | None, typer.Option(
        help="Add a third part: what this real model does with the same sentence.",
        show_default=False)] = None,
    no_pause: Annotated[bool, typer.Option(
        "--no-pause", help="Print the whole lesson straight through (also the default when "
                           "standard input or output is not a terminal).")] = False,
    precision: PrecisionOpt = 2,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """A guided lesson on self-attention, screen by screen.

    Enter advances, q quits, Ctrl-C stops at once (exit code 130, nothing saved).
    """
    from rich.console import Group

    from attncli import demo
    from attncli.render import console as screen

    exports = screen.Exports(svg, html, txt, force)
    exports.check()
    screens = demo.lesson(model, precision)  # each screen is worked out when shown
    out = screen.console()
    pause = not no_pause and sys.stdin.isatty() and out.is_terminal
    shown = demo.play(screens, out, pause=pause)
    screen.save(Group(*shown), exports, out.width, "attn demo: a lesson on self-attention")


def _exports(svg: Path | None, html: Path | None, txt: Path | None, force: bool,
             as_json: bool):
    """Where to save the screen; refused with --json, which replaces the screen."""
    from attncli.render.console import Exports

    exports = Exports(svg, html, txt, force)
    if as_json and exports.targets():
        kinds = [f"--{kind}" for kind, _ in exports.targets()]
        names = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
        raise AttnError(f"{names} cannot be combined with --json: "
                        f"{'it saves' if len(kinds) == 1 else 'they save'} what the terminal "
                        "shows, and --json prints JSON instead (to keep the JSON, redirect it: "
                        "--json > FILE)")
    exports.check()
    return exports


def _join(as_json: bool, wanted: list[str] | None, head: str | None) -> bool:
    """Whether a model also joins its heads (step 6): when --show names it, or for --json of
    every head of a layer. It runs every head in float64 and writes a d_model² W_O, so a
    one-head --json stays fast. (Seeded and file heads are always joined: they are small.)"""
    return bool(wanted and "joined" in wanted) or (
        as_json and head is not None and head.strip().lower() == "all")


def _tips(ex) -> list[str]:
    """Where to go next, under the header: seeded weights point to the lesson's file and to a
    real model."""
    if ex.config.source != "seeded":
        return []
    return ["For the lesson's pattern: -w sample_weights/animal-tired.json · for a trained "
            "model: --model DIR (see the README)"]


def _write_json(doc) -> None:
    """The document on stdout, streamed, then a newline: nothing else goes to stdout."""
    from attncli import export

    export.write(doc, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _show(renderable, exports=None, title: str = "attn") -> None:
    from attncli.render import console as screen

    screen.show(renderable, exports, title=title)


@weights_app.command("init", epilog=_examples(
    "attn weights init -o my.json",
    'attn weights init --text "The animal was tired" -o animal.json',
    "attn weights init --heads 2 --d-model 8 -o two-heads.safetensors",
))
def weights_init(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write; its suffix "
                                         "(.json, .npz, .safetensors) picks the format.",
                                         show_default=False)],
    seed: Annotated[int, typer.Option(min=0, help="Seed for the weights.")] = 0,
    d_model: Annotated[int, typer.Option(help="Embedding size.")] = 8,
    d_k: Annotated[int | None, typer.Option(
        help="Query/key size per head [default: d_model/2 for one head, d_model/heads for "
             "several].", show_default=False)] = None,
    d_v: Annotated[int | None, typer.Option(help="Value size per head [default: d_k's default].",
                                            show_default=False)] = None,
    heads: Annotated[int, typer.Option(help="Number of heads.")] = 1,
    text: Annotated[str | None, typer.Option(
        help="Also write an embeddings table for this text's words (seeded, to edit).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it "
                                                        "exists.")] = False,
) -> None:
    """Write seeded weights to a file, to edit and load with --weights."""
    from attncli.weights import files as weightfiles

    ws = sources.seeded_file(seed, d_model, d_k, d_v, heads, text)
    weightfiles.save(ws, output, force=force)
    typer.echo(f"wrote {output} (d_model {ws.d_model}, d_k {ws.d_k}, d_v {ws.d_v}, "
               f"{len(ws.heads)} head{'s' if len(ws.heads) > 1 else ''})", err=True)


@weights_app.command("show", epilog=_examples(
    "attn weights show sample_weights/animal-tired.json",
))
def weights_show(
    file: Annotated[Path, typer.Argument(help="A .json, .npz or .safetensors weights file.",
                                         show_default=False)],
    precision: Annotated[int, typer.Option(min=0, max=10,
                                           help="Decimal places.")] = 2,
) -> None:
    """Print a weights file: description, embeddings and W matrices.

    FILE is a .json, .npz or .safetensors file; sample_weights/NAME also finds the samples
    that ship with attn.
    """
    from attncli.render.weights import weight_set
    from attncli.weights import files as weightfiles

    _show(weight_set(weightfiles.load(file), precision=precision))


def main() -> None:
    """Entry point of the `attn` script."""
    app()
