"""`attn weights`: make and inspect weights files."""

# No `from __future__ import annotations` in the modules that declare commands: typer would
# then evaluate every annotation string again at each start, a cost paid by every run.
from pathlib import Path
from typing import Annotated

import typer

from attncli.cli import output, sources
from attncli.cli.exits import HelpGroup

weights_app = typer.Typer(
    cls=HelpGroup,  # a bare `attn weights` prints this help on stdout and exits 0
    help="Make and inspect weights files (JSON, npz, safetensors).",
    epilog=output.examples(
        "attn weights init -o my.json",
        "attn weights show sample_weights/animal-tired.json",
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


@weights_app.command("init", epilog=output.examples(
    "attn weights init -o my.json",
    'attn weights init --text "The animal was tired" -o animal.json',
    "attn weights init --heads 2 --d-model 8 -o two-heads.safetensors",
))
def weights_init(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write; its suffix "
                                         "(.json, .npz, .safetensors) picks the format.",
                                         metavar="FILE", show_default=False)],
    seed: Annotated[int, typer.Option(min=0, metavar="N", help="Seed for the weights.")] = 0,
    d_model: Annotated[int, typer.Option(metavar="N", help="Embedding size.")] = 8,
    d_k: Annotated[int | None, typer.Option(
        help="Query/key size per head [default: d_model/2 for one head, d_model/heads for "
             "several].", metavar="N", show_default=False)] = None,
    d_v: Annotated[int | None, typer.Option(
        metavar="N", help="Value size per head [default: d_k's default].",
        show_default=False)] = None,
    heads: Annotated[int, typer.Option(metavar="N", help="Number of heads.")] = 1,
    text: Annotated[str | None, typer.Option(
        help="Also write an embeddings table for this text's words (seeded, to edit).",
        metavar="SENTENCE", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --output file "
                                                        "if it exists.")] = False,
) -> None:
    """Write seeded weights to a file, to edit and load with --weights."""
    from attncli.weights import files as weightfiles

    ws = sources.seeded_file(seed, d_model, d_k, d_v, heads, text)
    weightfiles.save(ws, output, force=force)
    from attncli.safe_text import visible

    typer.echo(f"wrote {visible(str(output))} (d_model {ws.d_model}, d_k {ws.d_k}, d_v {ws.d_v}, "
               f"{len(ws.heads)} head{'s' if len(ws.heads) > 1 else ''})", err=True)


@weights_app.command("show", epilog=output.examples(
    "attn weights show sample_weights/animal-tired.json",
))
def weights_show(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A .json, .npz or .safetensors "
                                         "weights file.", show_default=False)],
    precision: Annotated[int, typer.Option(min=0, max=10, metavar="N",
                                           help="Decimal places.")] = 2,
) -> None:
    """Print a weights file: description, embeddings and W matrices.

    FILE is a .json, .npz or .safetensors file; sample_weights/NAME also finds the samples
    that ship with attn.
    """
    from attncli.render.weights import weight_set
    from attncli.weights import files as weightfiles

    output.show(weight_set(weightfiles.load(file), precision=precision))
