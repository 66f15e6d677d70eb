"""The `attn` command line: parse options, call the library, render or dump JSON."""

# No `from __future__ import annotations` in the modules that declare commands: typer would
# then evaluate every annotation string again at each start, a cost paid by every run.
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, cast

import typer

from attncli import __version__
from attncli.cli import interactive, output, sources
from attncli.cli.blas import one_blas_thread
from attncli.cli.exits import AttnGroup, InstallCompletionOpt, ShowCompletionOpt, exit_now
from attncli.cli.options import (
    AblateModeOpt,
    AttentionOpt,
    CausalOpt,
    DKOpt,
    DModelOpt,
    DVOpt,
    Float64Opt,
    ForceOpt,
    HeadOpt,
    HeadsOpt,
    HtmlOpt,
    JsonOpt,
    LayerOpt,
    MaxTokensOpt,
    MeasureOpt,
    ModelOpt,
    PositionsOpt,
    PrecisionOpt,
    RevisionOpt,
    SeedOpt,
    SvgOpt,
    TargetOpt,
    TokenizerOpt,
    TxtOpt,
    WeightsOpt,
)
from attncli.cli.roles import said, said_all
from attncli.cli.weights import weights_app
from attncli.errors import AttnError

if TYPE_CHECKING:
    from rich.console import RenderableType

# A bare `attn` or `attn weights` prints this help on stdout and exits 0 (see exits.py).
app = typer.Typer(
    cls=AttnGroup,
    help="See self-attention work, step by step, with its numbers.",
    epilog=output.examples(
        "attn demo",
        'attn explain "The animal was tired"',
        'attn compare "the river bank" "the bank account" --word bank',
    ),
    no_args_is_help=True,
    add_completion=True,  # typer's completion; exits.py gives its two options an optional SHELL
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
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
    install_completion_shell: InstallCompletionOpt = None,  # both run before any command
    show_completion_shell: ShowCompletionOpt = None,
) -> None:
    """See self-attention work, step by step, with its numbers."""


@app.command(epilog=output.examples(
    'attn explain "The animal was tired"',
    'attn explain "The animal was tired" -w sample_weights/animal-tired.json \\\n'
    "      --focus tired",
    'attn explain "I love AI" -w sample_weights/i-love-ai.json --precision 3',
    'attn explain "The cat sat" --heads 2 --causal --show scaled,softmax',
    'attn explain "The cat sat on the mat" --d-k 64 --no-scale --show softmax',
    'attn explain "The animal was tired" --model ./all-MiniLM-L6-v2 \\\n'
    "      --layer 5 --head 11",
    'attn explain "The animal was tired" --model ./t5-small \\\n'
    '      --target "Das Tier war müde" --from Tier --to animal',
    "echo 'The animal was tired' | attn explain - --json | jq '.heads[0].weights'",
    'attn explain --json -- "-1 is a number"',
    'attn explain "The animal was tired" --model ./all-MiniLM-L6-v2 \\\n'
    "      --layer 1 --head 10 --show bars --measure norm",
))
def explain(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The sentence to explain; - reads "
                                        "standard input.", show_default=False)],
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
    revision: RevisionOpt = None,
    layer: LayerOpt = None,
    head: HeadOpt = None,
    float64: Float64Opt = False,
    target: TargetOpt = None,
    attention: AttentionOpt = None,
    show: Annotated[list[str] | None, typer.Option(
        help="Sections to print, comma-separated: tokens, x, w, qkv, scores, scaled, softmax, "
             "bars, output, joined, or all [default: all; for a model: tokens, scores, "
             "scaled, softmax, bars, output].", metavar="SECTIONS", show_default=False)] = None,
    focus: Annotated[str | None, typer.Option(
        help="Show only what this word attends to: its softmax worked out term by term, and "
             "its bars. WORD, WORD#2 (its second occurrence) or #7 (token 7 of the tokens "
             "table).", metavar="WORD", show_default=False)] = None,
    from_word: Annotated[str | None, typer.Option(
        "--from", help="With --to: the pair view. Works out why this query word gives the "
                       "--to word its weight: q·k dimension by dimension, ÷√d_k, e^x and the "
                       "row sum, then weight × value (WORD, WORD#2 or #7).",
        metavar="WORD", show_default=False)] = None,
    to_word: Annotated[str | None, typer.Option(
        "--to", metavar="WORD", help="With --from: the key word of the pair view.",
        show_default=False)] = None,
    heatmap: Annotated[bool, typer.Option(
        "--heatmap", help="Draw the n×n matrices as shaded cells, one character per token, "
                          "for long sentences.")] = False,
    no_scale: Annotated[bool, typer.Option(
        "--no-scale", help="Skip step 4's division by √d_k, to see why it is there: a note "
                           "compares each row's largest weight with and without it. Seeded "
                           "and file weights only.")] = False,
    measure: MeasureOpt = "weight",
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
    exports = output.exports_for(svg, html, txt, force, as_json)
    if (from_word is None) != (to_word is None):
        raise AttnError("--from and --to go together: --from names the query word, --to the key")
    if focus is not None and from_word is not None:
        raise AttnError("--focus cannot be combined with --from/--to: the pair view already "
                        "works out the --from word's softmax")
    wanted = sources.parse_show(show, focus, pair=from_word is not None)
    measure = sources.check_measure(measure)
    ex = sources.build(text, sources.SourceOptions(
        weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model, d_k=d_k, d_v=d_v,
        heads=heads, causal=causal, positions=positions, model=model, layer=layer, head=head,
        max_tokens=max_tokens, join=output.join_heads_for(as_json, wanted, head),
        float64=float64, target=target, attention=attention, rows=output.rows_for(as_json),
        revision=revision, words=sources.named_words(("focus", focus, False),
                                                     ("query", from_word, False),
                                                     ("key", to_word, True)),
        skip_scale=no_scale))
    ex = sources.explain_words(ex, focus=focus, src=from_word, dst=to_word,
                               sinks=not as_json)
    norms = sources.norms(ex, model, revision) if measure == "norm" else None
    if as_json:
        from attncli import export

        output.write_json(export.document(ex, norms))
        return
    from attncli.render import explain as render

    view = render.explanation(ex, show=sources.sections_for(ex, wanted), precision=precision,
                              heatmap=heatmap, tips=output.tips(ex), norms=norms,
                              hints=output.explain_hints())
    output.show(view, exports, f"attn explain: {ex.text}")


@app.command("heads", epilog=output.examples(
    "attn heads \"The animal didn't cross the street because it was tired\" \\\n"
    "      --model ./all-MiniLM-L6-v2 --from it --to animal",
    'attn heads "The animal was tired" --model ./all-MiniLM-L6-v2',
    'attn heads "The animal was tired" --heads 4 --from tired --to animal --json',
    'attn heads "The animal was tired" --model ./t5-small \\\n'
    '      --target "Das Tier war müde" --from Tier --to animal',
    'attn heads "The animal was tired" --model ./all-MiniLM-L6-v2 --measure norm',
    "attn heads \"The animal didn't cross the street because it was tired\" \\\n"
    "      --model ./all-MiniLM-L6-v2 --rollout it",
    "attn heads --model ./gpt2 --induction --length 30 --seed 1",
    'attn heads "The cat saw the cat" --model ./all-MiniLM-L6-v2 \\\n'
    '      --role previous',
    "attn heads --model ./all-MiniLM-L6-v2 --corpus sample",
    "attn heads --model ./all-MiniLM-L6-v2 --corpus texts.jsonl \\\n"
    "      --out records.jsonl --resume --workers 2",
    "attn heads --from-records records.jsonl --json",
))
def heads_cmd(
    text: Annotated[str | None, typer.Argument(
        metavar="TEXT", help="The sentence; - reads standard input. None with --induction.",
        show_default=False)] = None,
    from_word: Annotated[str | None, typer.Option(
        "--from", help="The query word: whose attention to follow (WORD, WORD#2 or #7, as for "
                        "explain --focus).", metavar="WORD", show_default=False)] = None,
    to_word: Annotated[str | None, typer.Option(
        "--to", metavar="WORD", help="The key word it attends to (WORD, WORD#2 or #7).",
        show_default=False)] = None,
    top: Annotated[int, typer.Option(min=1, max=1000, metavar="N",
                                     help="How many heads to list.")] = 5,
    measure: MeasureOpt = "weight",
    rollout: Annotated[str | None, typer.Option(
        "--rollout", metavar="WORD",
        help="Attention rollout (Abnar & Zuidema 2020) for this query word (WORD, WORD#2 or "
             "#7): how much of each input token reaches it, layer by layer, through every "
             "head and the residual path.", show_default=False)] = None,
    role: Annotated[str | None, typer.Option(
        "--role", metavar="ROLE", show_default=False,
        help="List only the heads whose strongest role is ROLE, by score: previous, next, "
             "self, first, sep, punct, duplicate, offset or broad.")] = None,
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    layer: Annotated[str | None, typer.Option(
        help="With --model: which layers, numbered from 0 (a number, last, a list or all) "
             "[default: all].", metavar="N[,N…]|last|all", show_default=False)] = None,
    head: Annotated[str | None, typer.Option(
        help="Which heads, numbered from 0 (a number, last, a list or all) [default: all].",
        metavar="N[,N…]|last|all", show_default=False)] = None,
    weights: WeightsOpt = None,
    tokenizer: TokenizerOpt = None,
    seed: Annotated[int, typer.Option(
        min=0, metavar="N", help="Seed for the seeded embeddings and weights; with "
                                 "--induction, for the probe's random tokens.")] = 0,
    d_model: DModelOpt = None,
    heads: HeadsOpt = None,
    causal: CausalOpt = False,
    target: TargetOpt = None,
    attention: AttentionOpt = None,
    induction: Annotated[bool, typer.Option(
        "--induction", help="With --model, instead of TEXT: feed N random tokens R "
                            "twice, between the model's specials ([BOS] R R, [CLS] R R [SEP]), "
                            "and score every head as an induction head (attends to the token "
                            "after the query's earlier copy) and a duplicate-token head (to "
                            "the earlier copy).")] = False,
    length: Annotated[int | None, typer.Option(
        min=3, max=2048, metavar="N", help="With --induction: how many random tokens R holds "
                                           "[default: 20].", show_default=False)] = None,
    effect: Annotated[bool, typer.Option(
        "--effect", help="With --model (one that predicts): knock out each head alone and "
                         "show how the prediction's log-probability changes (with --vs, the "
                         "logit difference; with --corrupt, patching).")] = False,
    token: Annotated[str | None, typer.Option(
        "--token", metavar="TOKEN", show_default=False,
        help="With --effect: the token whose prediction is measured [default: the top "
             "prediction].")] = None,
    vs: Annotated[str | None, typer.Option(
        "--vs", metavar="TOKEN", show_default=False,
        help="With --effect: measure logit(--token) − logit(TOKEN) instead [with --corrupt, "
             "default: the corrupted text's top prediction].")] = None,
    corrupt: Annotated[str | None, typer.Option(
        "--corrupt", metavar="TEXT", show_default=False,
        help="With --effect: activation patching. Run this text (as many tokens as TEXT) with "
             "each head's output in turn taken from TEXT's run, and show how much of the "
             "logit difference it restores.")] = None,
    ablate_mode: AblateModeOpt = "zero",
    max_tokens: MaxTokensOpt = 4096,
    as_json: JsonOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
    # ---- over a corpus (cli/corpus.py) ----
    corpus: Annotated[str | None, typer.Option(
        "--corpus", metavar="FILE", show_default=False,
        help="With --model, instead of TEXT: score every head on every text of FILE (one "
             "text a line, or JSONL with 'text' and an optional 'id'; - reads standard "
             "input; 'sample' the corpus that ships with attn) and show the mean ± sd over "
             "the texts.")] = None,
    from_records: Annotated[str | None, typer.Option(
        "--from-records", metavar="FILE", show_default=False,
        help="The aggregates of the records in FILE (a --corpus run's --out), without the "
             "model.")] = None,
    out: Annotated[str | None, typer.Option(
        "--out", metavar="FILE", show_default=False,
        help="With --corpus: append each text's record to FILE (JSONL) as it is done.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="With --out: keep FILE's records and run only the texts whose id "
                         "it does not hold yet.")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, max=256, metavar="N", show_default=False,
        help="With --corpus: worker processes, each opening the model once [default: the "
             "usable CPUs].")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", metavar="tcp://HOST:PORT", show_default=False,
        help="With --corpus: run the texts on this Dask cluster (pip install "
             "'attncli[dask]').")] = None,
    too_long: Annotated[str, typer.Option(
        "--too-long", metavar="cut|skip",
        help="With --corpus: a text over --max-tokens (or the model's positions) is cut to "
             "fit, or skipped; either is counted.")] = "cut",
    bad_lines: Annotated[str, typer.Option(
        "--bad-lines", metavar="skip|refuse",
        help="A line of --corpus or a record that cannot be read: name it on stderr and go "
             "on, or stop with its line number.")] = "skip",
) -> None:
    """Every layer and head at once, in one grid.

    With --from and --to: how much the first word attends to the second in each head, and the
    heads that link them most. Without them: each head's strongest role, and the links that
    rise most above their baseline (position and sink rows left out). With --role: the heads
    of one role. --measure norm reads the norm-based shares instead of the weights; --rollout
    WORD follows WORD through the layers. TEXT is the sentence, in quotes; - reads it from
    standard input. With --model and --induction (no TEXT): the repeated-random-token probe,
    every head's induction and duplicate-token score. With --model and --effect: each head
    knocked out alone (or, with --corrupt, patched in from TEXT's run), and the change in
    the prediction; long runs show progress on a terminal. With --model and --corpus FILE
    (no TEXT): every head scored on every text, in worker processes (or on a Dask cluster,
    --scheduler), and each score's mean ± sd over the texts; --out keeps a record per text.
    """
    from attncli import api
    from attncli.heads import best_for, by_role, check_role

    exports = output.exports_for(svg, html, txt, force, as_json)
    if corpus is not None or from_records is not None:
        from attncli.cli import corpus as over_corpus

        opts = over_corpus.CorpusOptions(
            corpus, from_records, out, resume, workers, scheduler, too_long.strip().lower(),
            bad_lines.strip().lower(), model, revision, max_tokens, role, top, as_json)
        over_corpus.check(opts, (
            ("--from", from_word), ("--to", to_word), ("--rollout", rollout),
            ("--layer", layer), ("--head", head), ("--weights", weights),
            ("--tokenizer", tokenizer), ("--d-model", d_model), ("--heads", heads),
            ("--causal", causal or None), ("--target", target), ("--attention", attention),
            ("--induction", induction or None), ("--effect", effect or None),
            ("--measure", None if measure == "weight" else measure)), text)
        over_corpus.run(opts, exports)
        return
    for name, value in (("--out", out), ("--resume", resume or None), ("--workers", workers),
                        ("--scheduler", scheduler)):
        if value is not None:
            raise AttnError(f"{name} goes with --corpus: it runs many texts")
    if effect or token is not None or vs is not None or corrupt is not None:
        shown = _effect(text, model, revision, effect, token, vs, corrupt, ablate_mode, top,
                        max_tokens, as_json, given=(
                    ("--from", from_word), ("--to", to_word), ("--rollout", rollout),
                    ("--role", role), ("--layer", layer), ("--head", head),
                    ("--weights", weights), ("--tokenizer", tokenizer), ("--d-model", d_model),
                    ("--heads", heads), ("--causal", causal or None), ("--target", target),
                    ("--attention", attention), ("--induction", induction or None),
                    ("--measure", None if measure == "weight" else measure)))
        if shown is not None:
            output.show(cast("RenderableType", shown), exports, f"attn heads: {text}")
        return
    if ablate_mode != "zero":
        raise AttnError("--ablate-mode goes with --effect: it says what a knocked-out head's "
                        "output becomes")
    if induction or length is not None:
        shown = _induction(text, induction, length, seed, top, model, revision, max_tokens,
                           as_json, given=(("--from", from_word), ("--to", to_word),
                                           ("--layer", layer), ("--head", head),
                                           ("--weights", weights), ("--tokenizer", tokenizer),
                                           ("--d-model", d_model), ("--heads", heads),
                                           ("--causal", causal or None), ("--target", target),
                                           ("--attention", attention)))
        if shown is not None:
            output.show(cast("RenderableType", shown), exports,
                        f"attn heads: {model} --induction")
        return
    if text is None:
        raise AttnError("Missing argument 'TEXT': the sentence, in quotes (or --model DIR "
                        "--induction, which needs none)")
    if (from_word is None) != (to_word is None):
        raise AttnError("--from and --to go together")
    measure = sources.check_measure(measure)
    if rollout is not None and from_word is not None:
        raise AttnError("--rollout cannot be combined with --from/--to: it follows one query "
                        "through every layer, not a word pair")
    if rollout is not None and measure == "norm":
        raise AttnError("--rollout goes with the attention weights (--measure weight): rollout "
                        "multiplies each layer's weights")
    if role is not None:
        check_role(role)
        if from_word is not None or rollout is not None:
            raise AttnError("--role lists the heads of one role: it does not go with --from or "
                            "--rollout")
    if model is not None:
        layer = "all" if layer is None else layer
        head = "all" if head is None else head
    ex = sources.build(text, sources.SourceOptions(
        weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model, heads=heads,
        causal=causal, model=model, layer=layer, head=head, max_tokens=max_tokens,
        target=target, attention=attention, revision=revision,
        words=sources.named_words(("query", from_word, False), ("key", to_word, True),
                                  ("rollout", rollout, False))))
    from attncli import flow

    norms = gap = rolled = None
    if measure == "norm":
        norms = sources.norms(ex, model, revision)
        gap = flow.largest_gap(norms)
    if rollout is not None:
        from attncli.lookup import find_one

        query, note = find_one(ex, rollout, "rollout")
        rolled = flow.rollout_of(ex, query, None if note is None else said(note))
    ov = api.heads(ex if norms is None else flow.with_shares(ex, norms), query=from_word,
                   key=to_word, top=top)
    ov = replace(ov, notes=said_all(ov.notes))
    listed = by_role(ov, role) if role is not None else None
    if as_json:
        from attncli import export

        output.write_json(export.heads_to_dict(ov, role, listed, norms=norms, gap=gap,
                                               rollout=rolled, weights=ex))
        return
    from attncli.render import heads as render_heads
    from attncli.render.header import with_header

    if rolled is not None:
        from attncli.render import probes

        body = probes.rollout_view(ex, rolled)
    elif role is not None and listed is not None:
        body = render_heads.role_list(ov, role, listed, best_for(ov, role))
    else:
        body = render_heads.overview(ov, gap=gap, norm=norms is not None)
    view = with_header(ex, body, output.tips(ex))
    output.show(view, exports, f"attn heads: {ex.text}")


def _effect(text: str | None, model: str | None, revision: str | None, effect: bool,
            token: str | None, vs: str | None, corrupt: str | None, mode: str, top: int,
            max_tokens: int, as_json: bool, given: tuple[tuple[str, object], ...]) -> object:
    """`attn heads --effect`: every head knocked out alone, or patched, and the change; what
    to show, or None once the JSON is written."""
    from attncli import effects

    if not effect:
        name = next(n for n, v in (("--token", token), ("--vs", vs), ("--corrupt", corrupt))
                    if v is not None)
        raise AttnError(f"{name} goes with --effect: it says which prediction the heads' "
                        "effect is measured on")
    if model is None:
        raise AttnError("--effect goes with --model: a checkpoint with its LM head, whose "
                        "prediction each head is knocked out of")
    if text is None:
        raise AttnError("Missing argument 'TEXT': the sentence whose prediction is measured")
    for name, value in given:
        if value is not None:
            raise AttnError(f"{name} cannot be combined with --effect: it measures every head "
                            "of every layer on the model's prediction")
    if corrupt is not None and mode != "zero":
        raise AttnError("--ablate-mode goes with knocking out, not with --corrupt: patching "
                        "replaces a head's output with the clean run's")
    effects.check_mode(mode)
    text = sources.read_text(text)
    from attncli.cli.progress import model_progress
    from attncli.explain import check_text

    check_text(text)
    with sources.max_tokens_hint(), model_progress(model) as progress:
        found = effects.heads_effect(text, sources.load(model, revision), mode=mode,
                                     token=token, vs=vs, corrupt=corrupt,
                                     max_tokens=max_tokens, progress=progress)
    if as_json:
        from attncli import export

        output.write_json(export.effects_to_dict(found))
        return None
    from attncli.render import effects as render_effects

    return render_effects.effects(found, top)


def _induction(text: str | None, induction: bool, length: int | None, seed: int, top: int,
               model: str | None, revision: str | None, max_tokens: int, as_json: bool,
               given: tuple[tuple[str, object], ...]) -> object:
    """`attn heads --induction`: the repeated-random-token probe over every head; what to
    show, or None once the JSON is written."""
    from attncli import induction as probe_

    if not induction:
        raise AttnError("--length goes with --induction: it sets how many random tokens the "
                        "probe repeats")
    if text is not None:
        raise AttnError("--induction takes no TEXT: it feeds the model its own sequence of "
                        "random tokens, twice (leave the text out)")
    if model is None:
        raise AttnError("--induction goes with --model: it probes a trained model's heads, "
                        "and seeded or file weights have one layer and no vocabulary to draw "
                        "random tokens from")
    for name, value in given:
        if value is not None:
            raise AttnError(f"{name} cannot be combined with --induction: the probe scores "
                            "every head of every layer on its own random tokens")
    from attncli.cli.progress import model_progress

    with sources.max_tokens_hint(), model_progress(model) as progress:
        found = probe_.probe(sources.load(model, revision),
                             probe_.DEFAULT_LENGTH if length is None else length, seed,
                             progress=progress, max_tokens=max_tokens)
    if as_json:
        from attncli import export

        output.write_json(export.induction_to_dict(found))
        return None
    from attncli.render import probes

    return probes.induction(found, top)


@app.command("compare", epilog=output.examples(
    'attn compare "I sat on the bank of the river" "I put money in the bank" \\\n'
    "      --word bank -w sample_weights/bank.json --toward river --toward money",
    'attn compare "dog bites man" "man bites dog" --word dog \\\n'
    "      --positions sinusoidal",
    'attn compare "A bank by the river" "A bank with money" --word bank \\\n'
    "      --model ./all-MiniLM-L6-v2",
    'attn compare "A bank by the river" "A bank with money" --word bank \\\n'
    "      --model ./all-MiniLM-L6-v2 --layer 5 --head 3 --json",
))
def compare_cmd(
    text_a: Annotated[str, typer.Argument(metavar="TEXT_A", help="The first sentence.",
                                          show_default=False)],
    text_b: Annotated[str, typer.Argument(metavar="TEXT_B", help="The second sentence.",
                                          show_default=False)],
    word: Annotated[str, typer.Option(
        "--word", metavar="WORD", help="The word to follow, in both sentences (WORD#2 takes its "
                                       "second occurrence in each).", show_default=False)],
    toward: Annotated[list[str] | None, typer.Option(
        metavar="WORD", help="Another word, in TEXT_A or TEXT_B (repeatable): the cosine of "
                             "its value vector with the word's value and output in each "
                             "sentence, to see which way attention moved the word.",
        show_default=False)] = None,
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
    revision: RevisionOpt = None,
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
    the context moved it. With --model: the cosine of its vector in context (the hidden state)
    after each layer; --layer and --head add one head's bars and output. TEXT_A and TEXT_B are
    the two sentences, in quotes; one of them (not both) can be -, to read it from standard
    input.
    """
    from attncli.compare import compare

    exports = output.exports_for(svg, html, txt, force, as_json)
    if text_a == "-" and text_b == "-":
        raise AttnError("only one of TEXT_A and TEXT_B can be read from standard input")
    options = sources.SourceOptions(
        weights=weights, tokenizer=tokenizer, seed=seed, d_model=d_model, d_k=d_k, d_v=d_v,
        heads=heads, causal=causal, positions=positions, model=model, layer=layer, head=head,
        max_tokens=max_tokens, revision=revision)
    a = sources.build(text_a, replace(options, words=(("word_a", word, False),),
                                      words_also_in=() if text_b == "-" else (
                                          (text_b, "word_b"),)))
    b = sources.build(text_b, replace(options, words=(("word_b", word, False),)))
    cmp = compare(a, b, word, model=None if model is None else sources.load(model, revision),
                  toward=toward or ())
    cmp = replace(cmp, notes=said_all(cmp.notes))
    if as_json:
        from attncli import export

        output.write_json(export.compare_to_dict(cmp))
        return
    from attncli.render import compare as render_compare
    from attncli.render.header import with_header

    # a model's view is its vector after each layer; one head's bars only when asked for
    one_head = model is None or layer is not None or head is not None
    shown = cmp.a
    if not one_head:  # the hidden states run through every layer and head: say so above
        c = shown.config
        shown = replace(shown, config=replace(c, layers=tuple(range(c.n_layers or 0)),
                                              head_indices=tuple(range(c.heads))))
    view = with_header(shown, render_compare.comparison(cmp, precision, heads=one_head),
                       output.tips(cmp.a),
                       texts=(cmp.a.text, cmp.b.text))
    output.show(view, exports, f"attn compare: {cmp.a.text} | {cmp.b.text}")


interactive.register(app)  # demo and explore, listed here in --help


@app.command("predict", epilog=output.examples(
    'attn predict "The capital of France is" --model ./gpt2',
    'attn predict "The capital of France is [MASK]." \\\n'
    "      --model ./bert-base-uncased --top 10",
    'attn predict "The capital of France is <mask>." --model ./roberta-base \\\n'
    "      --json | jq '.predictions[0].top'",
    'attn predict "translate English to German: The house is wonderful." \\\n'
    '      --model ./t5-small --target "Das Haus ist"',
))
def predict_cmd(
    text: Annotated[str, typer.Argument(
        metavar="TEXT",
        help="The sentence; for a masked LM, with [MASK] (BERT) or <mask> (RoBERTa) where a "
             "word should go; - reads standard input.", show_default=False)],
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    top: Annotated[int, typer.Option(min=1, max=1000, metavar="N",
                                     help="How many tokens to list at each position.")] = 5,
    max_tokens: MaxTokensOpt = 4096,
    precision: PrecisionOpt = 2,
    ablate: Annotated[str | None, typer.Option(
        "--ablate", metavar="L.H[,L.H…]", show_default=False,
        help="Knock out these heads (layer.head, from 0: 3.1,5.11) and show the top tokens "
             "with and without them, side by side.")] = None,
    ablate_mode: AblateModeOpt = "zero",
    target: Annotated[str | None, typer.Option(
        metavar="PREFIX", show_default=False,
        help="With an encoder-decoder --model (t5, bart, …), which needs it: TEXT goes "
             "into the encoder, and the decoder predicts the token after PREFIX (its start "
             'token, then PREFIX\'s tokens; "" for the first token).')] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help='Print JSON instead: schema ("attncli.predict/1"), text, model, '
                       'model_type, kind ("next" or "mask"), tokens [{text, id, start, end}], '
                       "positions (the predicting token indices), predictions [{position, "
                       "top: [{token, id, probability, logit}]}] and heads [{position, layer, "
                       "head, key, key_token, weight}]; with --target also target {text, "
                       "tokens}, the decoder's tokens, which positions and heads (its "
                       "self-attention) index; with --ablate also ablation {heads, "
                       "mode, predictions [{position, top: [{…, probability_before}]}], "
                       "probability_after}; not with --svg, --html or --txt.")] = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """Top next tokens or [MASK] fills, from the model's LM head.

    The whole forward pass, then the final norm and the LM head. A decoder (such as gpt2 or
    llama) gives its top next tokens after TEXT; a masked LM (such as bert) its top fills
    for each [MASK] or <mask>; a family without an LM head here is refused with the list of
    those that have one. Each with its probability (the softmax of the
    logits over the vocabulary) and, per layer, the head that attends most from the
    predicting position. The checkpoint must include its LM head. With --ablate, the same
    with heads knocked out: their output before W_O set to zero (or, with --ablate-mode mean,
    to its mean over the text's positions). An encoder-decoder (t5) reads TEXT as its source
    and predicts the decoder's next token after --target; its heads listed are the decoder's
    self-attention (--ablate does not run it yet).
    """
    from attncli.explain import check_text
    from attncli.predict import predict

    exports = output.exports_for(svg, html, txt, force, as_json)
    if model is None:
        raise AttnError("attn predict needs --model: a checkpoint with its LM head (e.g. "
                        "--model ./gpt2)")
    text = sources.read_text(text)
    check_text(text)
    from attncli.cli.progress import model_progress

    if ablate is not None and target is not None:
        raise AttnError("--target cannot be combined with --ablate: knocking heads out does "
                        "not run an encoder-decoder's decoder yet")
    if ablate is not None:
        shown = _ablate(text, model, revision, ablate, ablate_mode, top, max_tokens, precision,
                        as_json)
        if shown is not None:
            output.show(cast("RenderableType", shown), exports, f"attn predict: {text}")
        return
    if ablate_mode != "zero":
        raise AttnError("--ablate-mode goes with --ablate (or heads --effect): it says what "
                        "a knocked-out head's output becomes")
    with sources.max_tokens_hint(), model_progress(model) as progress:
        pr = predict(text, sources.load(model, revision), top=top, max_tokens=max_tokens,
                     progress=progress, target=target)
    if as_json:
        from attncli import export

        output.write_json(export.predict_to_dict(pr))
        return
    from attncli.render import predict as render_predict

    output.show(render_predict.prediction(pr, precision), exports, f"attn predict: {pr.text}")


def _ablate(text: str, model: str, revision: str | None, spec: str, mode: str, top: int,
            max_tokens: int, precision: int, as_json: bool) -> object:
    """`attn predict --ablate`: the prediction with and without the heads; what to show, or
    None once the JSON is written."""
    from attncli import effects
    from attncli.cli.progress import model_progress

    effects.check_mode(mode)
    with sources.max_tokens_hint(), model_progress(model) as progress:
        loaded = sources.load(model, revision)
        heads = effects.parse_heads(spec, loaded.n_layers, loaded.n_heads)
        ab = effects.ablate(text, loaded, heads, mode, top=top, max_tokens=max_tokens,
                            progress=progress)
    if as_json:
        from attncli import export

        output.write_json(export.ablation_to_dict(ab))
        return None
    from attncli.render import effects as render_effects

    return render_effects.ablation(ab, precision)
# ---- attn lens and attn attribute: what the final head reads off the stream ----

AtOpt = Annotated[str | None, typer.Option(
    "--at", metavar="WORD", help="Read the stream at this token instead of the predicting one "
    "(a decoder's last token, a masked LM's first mask): a word of TEXT, WORD#2 for its "
    "second occurrence, or #N for token N.", show_default=False)]


def _lens_text(text: str, model: str | None, command: str) -> str:
    from attncli.explain import check_text

    if model is None:
        raise AttnError(f"attn {command} needs --model: a checkpoint with its LM head (e.g. "
                        "--model ./gpt2)")
    text = sources.read_text(text)
    check_text(text)
    return text


@app.command("lens", epilog=output.examples(
    'attn lens "The capital of France is" --model ./gpt2',
    'attn lens "The capital of France is" --model ./gpt2 --at capital',
    'attn lens "Paris is the [MASK] of France." --model ./bert-base-uncased \\\n'
    "      --json | jq '.layers[-1].top'",
))
def lens_cmd(
    text: Annotated[str, typer.Argument(
        metavar="TEXT", help="The sentence (for a masked LM, with [MASK] or <mask>); - reads "
                             "standard input.", show_default=False)],
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    at: AtOpt = None,
    top: Annotated[int, typer.Option(min=1, max=100, metavar="K",
                                     help="How many tokens to list after each layer.")] = 5,
    max_tokens: MaxTokensOpt = 4096,
    as_json: Annotated[bool, typer.Option(
        "--json", help='Print JSON instead: schema ("attncli.lens/1"), model, model_type, '
                       "text, tokens, position, kind (next, mask or token), layers [{layer "
                       "(null for the embeddings), final_probability, top: [{token, id, "
                       "probability, logit}]}]; not with --svg, --html or --txt.")] = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """The logit lens: what the final head reads after each layer.

    At one position, the residual stream leaving each layer (first the embeddings) is put
    through the model's final norm and LM head, as if that layer were the last: its top
    tokens, with their probabilities. The last layer's reading is attn predict's. An earlier
    one is only what the final head would make of that stream, not what the model "thinks"
    there. The checkpoint must include its LM head.
    """
    from attncli.cli.progress import model_progress
    from attncli.lens import lens

    exports = output.exports_for(svg, html, txt, force, as_json)
    text = _lens_text(text, model, "lens")
    assert model is not None
    with sources.max_tokens_hint(), model_progress(model) as progress:
        found = lens(text, sources.load(model, revision), top=top, at=at,
                     max_tokens=max_tokens, progress=progress)
    found = replace(found, where=replace(found.where, notes=said_all(found.where.notes)))
    if as_json:
        from attncli import export

        output.write_json(export.lens_to_dict(found))
        return
    from attncli.render import lens as render_lens

    output.show(render_lens.lens_view(found), exports, f"attn lens: {found.text}")


@app.command("attribute", epilog=output.examples(
    'attn attribute "The capital of France is" --model ./gpt2',
    'attn attribute "The capital of France is" --model ./gpt2 --token " Paris"',
    'attn attribute "The capital of France is" --model ./gpt2 --json \\\n'
    "      | jq '.parts | sort_by(.value) | .[-3:]'",
))
def attribute_cmd(
    text: Annotated[str, typer.Argument(
        metavar="TEXT", help="The sentence; - reads standard input.", show_default=False)],
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    target: Annotated[str | None, typer.Option(
        "--token", metavar="TOKEN", help="The token whose logit is taken apart, instead of "
        "the top prediction: as the vocabulary spells it (Ġo), text that is one token ( o, "
        "␣o), or #ID.", show_default=False)] = None,
    at: AtOpt = None,
    max_tokens: MaxTokensOpt = 4096,
    precision: PrecisionOpt = 2,
    as_json: Annotated[bool, typer.Option(
        "--json", help='Print JSON instead: schema ("attncli.attribute/1"), model, '
                       "model_type, text, tokens, position, kind, target {token, id, "
                       "probability, logit}, top_id, heads (layers × heads), parts [{kind, "
                       "layer, head, value}], sum, logit, difference, softcap; not with "
                       "--svg, --html or --txt.")] = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    txt: TxtOpt = None,
    force: ForceOpt = False,
) -> None:
    """Direct logit attribution: each head's and MLP's share of a logit.

    The stream entering the final norm is a sum of parts: the embeddings, each head's output
    through its slice of W_O, each MLP's output and the biases. With the final norm's scale
    held at this run's value, the target token's logit splits into one number per part,
    and they add up to it: the view shows the sum, the logit and the difference. A share is
    direct only (what a part changes in later layers is not counted). Post-norm models (bert,
    roberta) are refused: their parts do not add up to the logit.
    """
    from attncli.cli.progress import model_progress
    from attncli.lens import attribute

    exports = output.exports_for(svg, html, txt, force, as_json)
    text = _lens_text(text, model, "attribute")
    assert model is not None
    with sources.max_tokens_hint(), model_progress(model) as progress:
        found = attribute(text, sources.load(model, revision), target=target, at=at,
                          max_tokens=max_tokens, progress=progress)
    found = replace(found, notes=said_all(found.notes),
                    where=replace(found.where, notes=said_all(found.where.notes)))
    if as_json:
        from attncli import export

        output.write_json(export.attribute_to_dict(found))
        return
    from attncli.render import lens as render_lens

    output.show(render_lens.attribution_view(found, precision), exports,
                f"attn attribute: {found.text}")
@app.command("generate", epilog=output.examples(
    'attn generate "The animal was tired because" --model ./gpt2 -n 10',
    'attn generate "Once upon a time" --model ./gpt2 --temperature 0.8 \\\n'
    "      --top-p 0.9 --seed 7",
    'attn generate "The cat sat on the" --model ./gpt2 --layer 5 --head 1',
    'attn generate "Hello" --model ./gpt2 --json | jq -c \'select(.kind=="step")\'',
))
def generate_cmd(
    prompt: Annotated[str, typer.Argument(
        metavar="PROMPT", help="The text to go on from; - reads standard input.",
        show_default=False)],
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    n: Annotated[int, typer.Option("-n", min=1, max=100_000, metavar="N",
                                   help="How many tokens to generate at most.")] = 20,
    max_tokens: MaxTokensOpt = 4096,
    temperature: Annotated[float | None, typer.Option(
        metavar="T", help="Sample from softmax(logits / T) instead of taking the most likely "
                          "token (T above 0).", show_default=False)] = None,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", metavar="K", help="Sample only among the K most likely tokens.",
        show_default=False)] = None,
    top_p: Annotated[float | None, typer.Option(
        "--top-p", metavar="P", help="Sample only among the most likely tokens whose "
                                     "probabilities reach P (0 < P <= 1).",
        show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(
        min=0, metavar="N", help="The sampler's seed: the same seed, the same tokens.",
        show_default=False)] = None,
    layer: Annotated[int | None, typer.Option(
        metavar="L", help="With --head: show this head's row as bars at each step.",
        show_default=False)] = None,
    head: Annotated[int | None, typer.Option(
        metavar="H", help="With --layer: the head whose row is shown.",
        show_default=False)] = None,
    top: Annotated[int, typer.Option(min=1, max=1000, metavar="N",
                                     help="How many likely tokens each step lists.")] = 5,
    precision: PrecisionOpt = 2,
    as_json: Annotated[bool, typer.Option(
        "--json", help='Print JSON Lines instead, one object per line as it is made: '
                       'schema ("attncli.generate/1"), kind "prompt" (its tokens), then '
                       'kind "step" per token (token, id, probability, top, heads with their '
                       'rows), then kind "end" (stopped, text, ids).')] = False,
) -> None:
    """Write on after PROMPT token by token, with a key/value cache.

    Greedy by default: the most likely token each step; --temperature, --top-k and --top-p
    sample instead (--seed repeats a run). Each step runs only the newest token through the
    model: its query, key and value in every layer, the earlier keys and values coming from
    the cache. Stops at the model's end-of-sequence token, after N tokens, or at
    --max-tokens. Each step shows the token, its probability and the heads whose link from
    the last token rises most above its baseline (or the --layer/--head row). Ctrl-C stops
    and keeps what was made. Decoders with an LM head only.
    """
    from attncli import generate as gen_mod
    from attncli.explain import check_text

    if model is None:
        raise AttnError("attn generate needs --model: a decoder checkpoint with its LM head "
                        "(e.g. --model ./gpt2)")
    if (layer is None) != (head is None):
        raise AttnError("--layer and --head go together: the head whose row each step shows")
    prompt = sources.read_text(prompt)
    check_text(prompt)
    sampler = gen_mod.Sampler(
        temperature=temperature if temperature is not None or (top_k is None and top_p is None)
        else 1.0, top_k=top_k, top_p=top_p, seed=seed)
    with sources.max_tokens_hint():
        run = gen_mod.Generator(sources.load(model, revision), prompt, sampler=sampler,
                                head=None if layer is None or head is None else (layer, head),
                                top=top, max_tokens=max_tokens)
    gen = run.generation
    steps = run.run(n)
    if as_json:
        output.write_json(gen_mod.prompt_to_dict(gen, sampler))
        try:
            for s in steps:
                output.write_json(gen_mod.step_to_dict(s))
        except KeyboardInterrupt:
            gen.stopped = "interrupted"
        output.write_json(gen_mod.end_to_dict(gen))
    else:
        from tokenizers import decoders

        from attncli.render import console as screen
        from attncli.render import generate as render_generate

        out = screen.console()
        byte_level = isinstance(run.model.tokenizer.decoder, decoders.ByteLevel)
        out.print(render_generate.header(gen, sampler.greedy))
        try:
            for s in steps:
                out.print(render_generate.step(gen, s, byte_level, precision))
        except KeyboardInterrupt:
            gen.stopped = "interrupted"
        out.print(render_generate.footer(gen))
    if gen.stopped == "interrupted":
        raise typer.Exit(130)


def only_the_command_run(args: list[str]) -> None:
    """Leave on app only the command (or group) that args run, when they name one first:
    typer reads every registered command's options at each start, and a run needs one.
    Without a command (help, --version), with another word (typer's "No such command")
    and during shell completion, every command stays."""
    import os

    from typer.main import get_command_name

    words = [a for a in args if a != "--debug"]  # the root's option that may come first
    if not words or os.environ.get("_ATTN_COMPLETE"):
        return
    commands = [c for c in app.registered_commands if words[0] == (
        c.name or get_command_name(c.callback.__name__ if c.callback else ""))]
    groups = [g for g in app.registered_groups if g.name == words[0]]
    if commands or groups:
        app.registered_commands, app.registered_groups = commands, groups


def main() -> None:
    """Entry point of the `attn` script."""
    one_blas_thread()  # before anything imports numpy
    typer_app = app if isinstance(app, typer.Typer) else None
    if typer_app is not None:
        registered = typer_app.registered_commands, typer_app.registered_groups
        only_the_command_run(sys.argv[1:])
    try:
        app()
    except SystemExit as exc:
        exit_now(exc.code)
    finally:  # as it was, for a caller that runs main again in the same process
        if typer_app is not None:
            typer_app.registered_commands, typer_app.registered_groups = registered
    exit_now(0)
