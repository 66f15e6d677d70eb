"""The options several `attn` commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

WeightsOpt = Annotated[Path | None, typer.Option(
    "--weights", "-w", help="Weights file (.json, .npz or .safetensors) instead of seeded "
                            "weights.", metavar="FILE", show_default=False)]
TokenizerOpt = Annotated[Path | None, typer.Option(
    metavar="FILE",
    help="A tokenizer.json to split the text with [default: word-level: words and "
         "punctuation].", show_default=False)]
SeedOpt = Annotated[int, typer.Option(min=0, metavar="N", help="Seed for the seeded embeddings "
                                                              "and weights.")]
DModelOpt = Annotated[int | None, typer.Option(metavar="N", help="Embedding size [default: 8].",
                                               show_default=False)]
DKOpt = Annotated[int | None, typer.Option(
    metavar="N",
    help="Query/key size per head [default: d_model/2 for one head, d_model/heads for "
         "several].", show_default=False)]
DVOpt = Annotated[int | None, typer.Option(metavar="N", help="Value size per head [default: "
                                                        "d_k's default].", show_default=False)]
HeadsOpt = Annotated[int | None, typer.Option(metavar="N", help="Number of heads [default: 1].",
                                              show_default=False)]
CausalOpt = Annotated[bool, typer.Option(
    "--causal", help="Hide later tokens from earlier ones (masked scores are −∞).")]
PositionsOpt = Annotated[str, typer.Option(
    metavar="none|sinusoidal", help="Positional encoding added to X: none or sinusoidal.")]
ModelOpt = Annotated[str | None, typer.Option(
    metavar="DIR|REPO",
    help="A Hugging Face model directory (config.json, tokenizer.json, *.safetensors) or a "
         "Hub id in the local cache (gpt2, org/name); runs that model's real attention.",
    show_default=False)]
RevisionOpt = Annotated[str | None, typer.Option(
    metavar="REF",
    help="With a Hub id --model: the revision to open from the cache, a branch or tag (in "
         "refs/) or a commit hash [default: main].", show_default=False)]
LayerOpt = Annotated[str | None, typer.Option(
    help="With --model: which layer(s), numbered from 0: a number (negative counts from the "
         "end), last, a comma-separated list, or all [default: last].",
    metavar="N[,N…]|last|all", show_default=False)]
HeadOpt = Annotated[str | None, typer.Option(
    help="Which head(s) to show, numbered from 0 as everywhere: a number (negative counts "
         "from the end), last, a comma-separated list, or all [default: 0 with --model, all "
         "otherwise].", metavar="N[,N…]|last|all", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print every number as JSON (full "
                                                      "precision) instead; not with --svg, "
                                                      "--html or --txt.")]
SvgOpt = Annotated[str | None, typer.Option(
    "--svg", metavar="FILE", help="Also save what is shown as an SVG picture.", show_default=False)]
HtmlOpt = Annotated[str | None, typer.Option(
    "--html", metavar="FILE", help="Also save what is shown as an HTML page.", show_default=False)]
TxtOpt = Annotated[str | None, typer.Option(
    "--txt", metavar="FILE", help="Also save what is shown as plain text.", show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Let --svg/--html/--txt overwrite "
                                                        "existing files.")]
MaxTokensOpt = Annotated[int, typer.Option(
    min=1, max=8192, help="Refuse texts with more tokens than this (--json keeps each n×n "
                          "matrix whole, which grows with the square of it).", metavar="N")]
PrecisionOpt = Annotated[int, typer.Option(min=0, max=10, metavar="N",
                                           help="Decimal places in the terminal.")]
Float64Opt = Annotated[bool, typer.Option(
    "--float64", help="With --model: run the whole forward pass in float64, not only the head "
                      "shown (slower; matches transformers run in float64 within 1e-6).")]

TargetOpt = Annotated[str | None, typer.Option(
    metavar="SENTENCE",
    help="With an encoder-decoder --model (t5, bart, …): the decoder's text, e.g. TEXT's "
         "translation. TEXT goes into the encoder; the heads shown are the decoder's, whose "
         "queries are the target's tokens.", show_default=False)]
AttentionOpt = Annotated[str | None, typer.Option(
    metavar="cross|self",
    help="With --target: cross (the target's queries look at the source's keys: a target × "
         "source matrix) or self (the decoder's causal attention over the target) "
         "[default: cross].", show_default=False)]
MeasureOpt = Annotated[str, typer.Option(
    metavar="weight|norm",
    help="What the bars (explain) and grids (heads) show: the attention weight α_ij, or "
         "norm, the norm-based share ‖α_ij f(x_j)‖ / Σ_j ‖α_ij f(x_j)‖ with f(x_j) = "
         "(x_j W_V + b_V) W_O (Kobayashi et al. 2020): what each key sends through the head; "
         "--json then adds both.")]
AblateModeOpt = Annotated[str, typer.Option(
    "--ablate-mode", metavar="zero|mean",
    help="What a knocked-out head's output (before W_O) becomes: zero, or its mean over the "
         "text's positions.")]
