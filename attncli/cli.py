"""The `attn` command line: parse options, call the library, render or dump JSON."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from attncli import __version__
from attncli.errors import AttnError

EXIT_CODES = "Exit codes: 0 success, 1 internal error (rerun with --debug), 2 usage or input error."


class AttnGroup(TyperGroup):
    """Turns every user mistake into one line on stderr and exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(args, prog_name or "attn", complete_var, standalone_mode=False,
                              **extra)
        except click.exceptions.ClickException as exc:  # bad option, missing argument…
            if not standalone_mode:
                raise
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            _fail(f"{_one_line(exc.format_message())}{hint}", exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        except AttnError as exc:
            _fail(_one_line(str(exc)), 2)
        except BrokenPipeError:  # `attn … | head` closed the pipe: not an error of ours
            sys.stderr.close()
            sys.exit(0)
        except Exception as exc:
            if "--debug" in args:
                traceback.print_exc()
            _fail(f"internal error: {type(exc).__name__}: {_one_line(str(exc))}. This is a bug: "
                  "please report it with the output of the same command run with --debug", 1)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _fail(message: str, code: int) -> None:
    from attncli.safe_text import visible

    click.echo(f"attn: error: {visible(message)}", err=True)
    sys.exit(code)


app = typer.Typer(
    cls=AttnGroup,
    help="See self-attention work, step by step, with its numbers.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
weights_app = typer.Typer(help="Make and inspect weights files (JSON, npz, safetensors).",
                          no_args_is_help=True, rich_markup_mode=None)
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
                                                        "error (exit code 1).")] = False,
) -> None:
    """See self-attention work, step by step, with its numbers."""


def _read_text(text: str) -> str:
    """TEXT, or standard input when TEXT is '-'."""
    if text != "-":
        return text
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        return data.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError as exc:
        raise AttnError(f"standard input is not valid UTF-8 (byte {exc.start})") from None


def _parse_show(show: list[str] | None, focus: str | None) -> list[str]:
    from attncli.sections import SECTIONS

    if not show:
        return ["bars"] if focus else list(SECTIONS)
    wanted = [part.strip().lower() for item in show for part in item.split(",") if part.strip()]
    if "all" in wanted:
        return list(SECTIONS)
    unknown = [w for w in wanted if w not in SECTIONS]
    if unknown:
        raise AttnError(f"--show: unknown section {unknown[0]!r}; choose from "
                        f"{', '.join(SECTIONS)} or all")
    return wanted


def _sizes(d_model: int | None, d_k: int | None, d_v: int | None, heads: int | None,
           weights: Path | None) -> tuple[int, int, int, int]:
    """The seeded sizes, with their documented defaults; none of them go with --weights."""
    given = [name for name, v in (("--d-model", d_model), ("--d-k", d_k), ("--d-v", d_v),
                                  ("--heads", heads)) if v is not None]
    if weights is not None and given:
        raise AttnError(f"{given[0]} cannot be combined with --weights: the file sets the sizes")
    d_model = 8 if d_model is None else d_model
    heads = 1 if heads is None else heads
    if heads > 1 and (d_k is None or d_v is None) and d_model % heads:
        raise AttnError(f"d_model {d_model} does not split into {heads} heads; "
                        "pick a d_model divisible by --heads, or give --d-k and --d-v")
    default = d_model // heads if heads > 1 else max(1, d_model // 2)
    return d_model, d_k or default, d_v or default, heads


def _explanation(text: str, *, weights: Path | None, tokenizer: Path | None, seed: int,
                 d_model: int | None, d_k: int | None, d_v: int | None, heads: int | None,
                 causal: bool, positions: str, model: str | None, layer: str | None,
                 head: str | None, max_tokens: int = 4096):
    """Build the explanation from whichever source the options name."""
    from attncli import explain as ex

    text = _read_text(text)
    ex.check_text(text)
    if model is None:
        for name, value in (("--layer", layer), ("--head", head)):
            if value is not None:
                raise AttnError(f"{name} goes with --model")
        return _seeded_or_loaded(text, weights, tokenizer, seed, d_model, d_k, d_v, heads,
                                 causal, positions, max_tokens)
    clash = [name for name, value in (
        ("--weights", weights), ("--tokenizer", tokenizer), ("--d-model", d_model),
        ("--d-k", d_k), ("--d-v", d_v), ("--heads", heads),
        ("--causal", causal or None), ("--positions", None if positions == "none" else 1),
    ) if value is not None]
    if clash:
        raise AttnError(f"{clash[0]} cannot be combined with --model: the model sets its own "
                        "tokenizer, weights, sizes, mask and positions")
    from attncli.models import load_model

    return ex.explain_model(text, load_model(model), layer or "last", head or "0", max_tokens)


def _seeded_or_loaded(text, weights, tokenizer, seed, d_model, d_k, d_v, heads, causal,
                      positions, max_tokens):
    from attncli import explain as ex
    from attncli import tokens as tok
    from attncli import weights as wts

    sizes = _sizes(d_model, d_k, d_v, heads, weights)
    if tokenizer is None:
        toks, tok_name = tok.word_level(text), "word-level"
    else:
        toks, tok_name = tok.encode(tok.load_tokenizer(tokenizer), text), str(tokenizer)
    ws = wts.load(weights) if weights is not None else wts.seeded(seed, *sizes)
    return ex.explain(text, toks, ws, seed=seed, causal=causal, positions=positions,
                      tokenizer=tok_name, max_tokens=max_tokens)


# Options shared by explain, heads and compare.
WeightsOpt = Annotated[Path | None, typer.Option(
    "--weights", "-w", help="Weights file (.json, .npz or .safetensors) instead of seeded "
                            "weights.", show_default=False)]
TokenizerOpt = Annotated[Path | None, typer.Option(
    help="A tokenizer.json to split the text with [default: word-level: words and "
         "punctuation].", show_default=False)]
SeedOpt = Annotated[int, typer.Option(min=0, help="Seed for the seeded embeddings and "
                                                  "weights.")]
DModelOpt = Annotated[int | None, typer.Option(help="Embedding size [default: 8].",
                                               show_default=False)]
DKOpt = Annotated[int | None, typer.Option(
    help="Query/key size per head [default: d_model/2 for one head, d_model/heads for "
         "several].", show_default=False)]
DVOpt = Annotated[int | None, typer.Option(help="Value size per head [default: as d_k].",
                                           show_default=False)]
HeadsOpt = Annotated[int | None, typer.Option(help="Number of heads [default: 1].",
                                              show_default=False)]
CausalOpt = Annotated[bool, typer.Option(
    "--causal", help="Hide later tokens from earlier ones (masked scores are −∞).")]
PositionsOpt = Annotated[str, typer.Option(
    help="Positional encoding added to X: none or sinusoidal.")]
ModelOpt = Annotated[str | None, typer.Option(
    help="A Hugging Face model directory (config.json, tokenizer.json, *.safetensors) or a "
         "repo id in the local cache; runs that model's real attention.", show_default=False)]
LayerOpt = Annotated[str | None, typer.Option(
    help="With --model: which layer(s): a number (0-based, negative from the end), a "
         "comma-separated list, or all [default: last].", show_default=False)]
HeadOpt = Annotated[str | None, typer.Option(
    help="With --model: which head(s): a number, a comma-separated list, or all "
         "[default: 0].", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print every number as JSON (full "
                                                      "precision) instead.")]
SvgOpt = Annotated[Path | None, typer.Option(
    "--svg", help="Also save what is shown as an SVG picture.", show_default=False)]
HtmlOpt = Annotated[Path | None, typer.Option(
    "--html", help="Also save what is shown as an HTML page.", show_default=False)]
TxtOpt = Annotated[Path | None, typer.Option(
    "--txt", help="Also save what is shown as plain text.", show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Let --svg/--html/--txt overwrite "
                                                        "existing files.")]
MaxTokensOpt = Annotated[int, typer.Option(
    min=1, max=8192, help="Refuse texts with more tokens than this (each n×n matrix grows "
                          "with the square of it).")]
PrecisionOpt = Annotated[int, typer.Option(min=0, max=10, help="Decimal places in the "
                                                               "terminal.")]


@app.command(epilog="Examples:\n\n"
             "  attn explain \"The animal was tired\"\n\n"
             "  attn explain \"The animal was tired\" --weights sample_weights/animal-tired.json "
             "--focus tired\n\n"
             "  attn explain \"I love AI\" --weights sample_weights/i-love-ai.json "
             "--precision 3\n\n"
             "  attn explain \"The cat sat\" --heads 2 --causal --show scaled,softmax\n\n"
             "  attn explain \"The animal was tired\" --model ./all-MiniLM-L6-v2 --layer 5 "
             "--head 11\n\n"
             "  echo \"The animal was tired\" | attn explain - --json | jq '.heads[0].weights'\n\n"
             + EXIT_CODES)
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
             "bars, output, or all [default: all].", show_default=False)] = None,
    focus: Annotated[str | None, typer.Option(
        help="Show only what this word attends to, as bars.", show_default=False)] = None,
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
    """Tokenize TEXT and show every step of self-attention on it."""
    from attncli.screen import Exports

    exports = Exports(svg, html, txt, force)
    exports.check()
    sections = _parse_show(show, focus)
    ex = _explanation(text, weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model,
                      d_k=d_k, d_v=d_v, heads=heads, causal=causal, positions=positions,
                      model=model, layer=layer, head=head, max_tokens=max_tokens)
    if as_json:
        from attncli import export

        typer.echo(export.dumps(export.to_dict(ex)))
        return
    from attncli import render

    if focus is not None and not render.focus_indices(ex, focus):
        raise AttnError(f"--focus {focus!r} is not one of the tokens: "
                        f"{', '.join(render.visible(lab) for lab in ex.labels)}")
    _show(render.explanation(ex, show=sections, focus=focus, precision=precision,
                             heatmap=heatmap), exports)


@app.command("heads", epilog="Examples:\n\n"
             "  attn heads \"The animal didn't cross the street because it was tired\" "
             "--model ./all-MiniLM-L6-v2 --from tired --to animal\n\n"
             "  attn heads \"The animal was tired\" --model ./all-MiniLM-L6-v2\n\n"
             "  attn heads \"The animal was tired\" --heads 4 --from tired --to animal --json\n\n"
             + EXIT_CODES)
def heads_cmd(
    text: Annotated[str, typer.Argument(help="The sentence; - reads standard input.",
                                        show_default=False)],
    from_word: Annotated[str | None, typer.Option(
        "--from", help="The query word: whose attention to follow.", show_default=False)] = None,
    to_word: Annotated[str | None, typer.Option(
        "--to", help="The key word it attends to.", show_default=False)] = None,
    top: Annotated[int, typer.Option(min=1, max=1000, help="How many heads to list.")] = 5,
    model: ModelOpt = None,
    layer: Annotated[str | None, typer.Option(
        help="With --model: which layers [default: all].", show_default=False)] = None,
    head: Annotated[str | None, typer.Option(
        help="With --model: which heads [default: all].", show_default=False)] = None,
    weights: WeightsOpt = None,
    tokenizer: TokenizerOpt = None,
    seed: SeedOpt = 0,
    d_model: DModelOpt = None,
    heads: HeadsOpt = None,
    causal: CausalOpt = False,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """Every layer and head at once: which head links one word to another (--from/--to), or
    what each head mostly does."""
    from attncli.overview import overview
    from attncli.screen import Exports

    exports = Exports(svg, html, txt, force)
    exports.check()
    if model is not None:
        layer, head = layer or "all", head or "all"
    ex = _explanation(text, weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model,
                      d_k=None, d_v=None, heads=heads, causal=causal, positions="none",
                      model=model, layer=layer, head=head)
    ov = overview(ex, from_word, to_word, top=top)
    if as_json:
        from attncli import export

        typer.echo(export.dumps(export.heads_to_dict(ov)))
        return
    from attncli import render_heads

    _show(render_heads.overview(ov), exports)


@app.command("compare", epilog="Examples:\n\n"
             "  attn compare \"I sat on the bank of the river\" \"I put money in the bank\" "
             "--word bank\n\n"
             "  attn compare \"The animal was tired\" \"The street was wide\" --word was "
             "--weights sample_weights/animal-tired.json\n\n"
             "  attn compare \"A bank by the river\" \"A bank with money\" --word bank "
             "--model ./all-MiniLM-L6-v2 --layer 5 --json\n\n" + EXIT_CODES)
def compare_cmd(
    text_a: Annotated[str, typer.Argument(help="The first sentence.", show_default=False)],
    text_b: Annotated[str, typer.Argument(help="The second sentence.", show_default=False)],
    word: Annotated[str, typer.Option(help="The word to follow; it must be in both sentences.",
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
    precision: PrecisionOpt = 2,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """One word in two contexts: its attention side by side, and how far its output moved."""
    from attncli.compare import compare
    from attncli.screen import Exports

    exports = Exports(svg, html, txt, force)
    exports.check()
    if text_a == "-" and text_b == "-":
        raise AttnError("only one of TEXT_A and TEXT_B can be read from standard input")
    options = {"weights": weights, "tokenizer": tokenizer, "seed": seed, "d_model": d_model,
               "d_k": d_k, "d_v": d_v, "heads": heads, "causal": causal,
               "positions": positions, "model": model, "layer": layer, "head": head}
    cmp = compare(_explanation(text_a, **options), _explanation(text_b, **options), word)
    if as_json:
        from attncli import export

        typer.echo(export.dumps(export.compare_to_dict(cmp)))
        return
    from attncli import render_compare

    _show(render_compare.comparison(cmp, precision), exports)


@app.command("demo", epilog="Examples:\n\n"
             "  attn demo\n\n"
             "  attn demo --model ./all-MiniLM-L6-v2\n\n"
             "  attn demo --no-pause --svg lesson.svg\n\n" + EXIT_CODES)
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
    """A guided lesson on self-attention, screen by screen: Enter advances, q quits."""
    from rich.console import Group

    from attncli import demo, screen

    exports = screen.Exports(svg, html, txt, force)
    exports.check()
    screens = list(demo.lesson(model, precision))
    out = screen.console()
    pause = not no_pause and sys.stdin.isatty() and out.is_terminal
    shown = demo.play(screens, out, pause=pause)
    screen.save(Group(*shown), exports, out.width)


def _show(renderable, exports=None) -> None:
    from attncli import screen

    screen.show(renderable, exports)


@weights_app.command("init", epilog="Examples:\n\n"
                     "  attn weights init -o my.json\n\n"
                     "  attn weights init --text \"The animal was tired\" -o animal.json\n\n"
                     "  attn weights init --heads 2 --d-model 8 -o two-heads.safetensors\n\n"
                     + EXIT_CODES)
def weights_init(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write; its suffix "
                                         "(.json, .npz, .safetensors) picks the format.",
                                         show_default=False)],
    seed: Annotated[int, typer.Option(min=0, help="Seed for the weights.")] = 0,
    d_model: Annotated[int, typer.Option(help="Embedding size.")] = 8,
    d_k: Annotated[int | None, typer.Option(
        help="Query/key size per head [default: d_model/2 for one head, d_model/heads for "
             "several].", show_default=False)] = None,
    d_v: Annotated[int | None, typer.Option(help="Value size per head [default: as d_k].",
                                            show_default=False)] = None,
    heads: Annotated[int, typer.Option(help="Number of heads.")] = 1,
    text: Annotated[str | None, typer.Option(
        help="Also write an embeddings table for this text's words (seeded, to edit).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it "
                                                        "exists.")] = False,
) -> None:
    """Write seeded weights to a file you can edit and load back with --weights."""
    from attncli import tokens as tok
    from attncli import weights as wts

    sizes = _sizes(d_model, d_k, d_v, heads, None)
    ws = wts.seeded(seed, *sizes)
    if text is not None:
        embeddings = {t.text: wts.seeded_embedding(t.text, seed, sizes[0])
                      for t in tok.word_level(text)}
    else:
        embeddings = None
    ws = wts.WeightSet(ws.heads, embeddings or None, description=f"Seeded weights (seed {seed}).")
    wts.save(ws, output, force=force)
    typer.echo(f"wrote {output} (d_model {sizes[0]}, d_k {sizes[1]}, d_v {sizes[2]}, "
               f"{sizes[3]} head{'s' if sizes[3] > 1 else ''})", err=True)


@weights_app.command("show", epilog="Example:\n\n  attn weights show "
                     "sample_weights/animal-tired.json\n\n" + EXIT_CODES)
def weights_show(
    file: Annotated[Path, typer.Argument(help="A .json, .npz or .safetensors weights file.",
                                         show_default=False)],
    precision: Annotated[int, typer.Option(min=0, max=10,
                                           help="Decimal places.")] = 2,
) -> None:
    """Print what a weights file holds: description, embeddings and W matrices."""
    from attncli import render
    from attncli import weights as wts

    _show(render.weight_set(wts.load(file), precision=precision))


def main() -> None:
    """Entry point of the `attn` script."""
    app()
