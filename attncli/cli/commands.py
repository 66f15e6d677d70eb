"""The `attn` command line: parse options, call the library, render or dump JSON."""

# No `from __future__ import annotations` in the modules that declare commands: typer would
# then evaluate every annotation string again at each start (about 8 ms of start-up).
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

    from attncli.render.console import Exports

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
        _effect(text, model, revision, effect, token, vs, corrupt, ablate_mode, top, max_tokens,
                as_json, exports, given=(
                    ("--from", from_word), ("--to", to_word), ("--rollout", rollout),
                    ("--role", role), ("--layer", layer), ("--head", head),
                    ("--weights", weights), ("--tokenizer", tokenizer), ("--d-model", d_model),
                    ("--heads", heads), ("--causal", causal or None), ("--target", target),
                    ("--attention", attention), ("--induction", induction or None),
                    ("--measure", None if measure == "weight" else measure)))
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
            max_tokens: int, as_json: bool, exports: "Exports | None",
            given: tuple[tuple[str, object], ...]) -> None:
    """`attn heads --effect`: every head knocked out alone, or patched, and the change."""
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
        return
    from attncli.render import effects as render_effects

    output.show(render_effects.effects(found, top), exports, f"attn heads: {found.text}")


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
    as_json: Annotated[bool, typer.Option(
        "--json", help='Print JSON instead: schema ("attncli.predict/1"), text, model, '
                       'model_type, kind ("next" or "mask"), tokens [{text, id, start, end}], '
                       "positions (the predicting token indices), predictions [{position, "
                       "top: [{token, id, probability, logit}]}] and heads [{position, layer, "
                       "head, key, key_token, weight}]; with --ablate also ablation {heads, "
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
    to its mean over the text's positions).
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

    if ablate is not None:
        _ablate(text, model, revision, ablate, ablate_mode, top, max_tokens, precision,
                as_json, exports)
        return
    if ablate_mode != "zero":
        raise AttnError("--ablate-mode goes with --ablate (or heads --effect): it says what "
                        "a knocked-out head's output becomes")
    with sources.max_tokens_hint(), model_progress(model) as progress:
        pr = predict(text, sources.load(model, revision), top=top, max_tokens=max_tokens,
                     progress=progress)
    if as_json:
        from attncli import export

        output.write_json(export.predict_to_dict(pr))
        return
    from attncli.render import predict as render_predict

    output.show(render_predict.prediction(pr, precision), exports, f"attn predict: {pr.text}")


def _ablate(text: str, model: str, revision: str | None, spec: str, mode: str, top: int,
            max_tokens: int, precision: int, as_json: bool, exports: "Exports | None") -> None:
    """`attn predict --ablate`: the prediction with and without the heads."""
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
        return
    from attncli.render import effects as render_effects

    output.show(render_effects.ablation(ab, precision), exports, f"attn predict: {ab.clean.text}")


def main() -> None:
    """Entry point of the `attn` script."""
    one_blas_thread()  # before anything imports numpy
    try:
        app()
    except SystemExit as exc:
        exit_now(exc.code)
    exit_now(0)
