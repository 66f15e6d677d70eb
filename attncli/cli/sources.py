"""Which numbers to explain, from the command-line options: seeded, a weights file, or a model.

The commands in commands.py only parse options; this turns them into an Explanation, and
looks up the words they name (--focus, --from, --to) before anything is drawn. Below here
messages name the words' roles; cli.roles names their options.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from attncli.cli.memory import keep_freed_memory
from attncli.cli.roles import said
from attncli.errors import AttnError
from attncli.safe_text import visible

if TYPE_CHECKING:
    from attncli.explain import CheckWords, Explanation
    from attncli.flow import HeadNorms, Projection
    from attncli.models.base import Model, Progress
    from attncli.weights import WeightSet


def read_text(text: str) -> str:
    """TEXT, or standard input when TEXT is '-'."""
    if text != "-":
        return text
    from attncli.files import MAX_STDIN, MiB

    if sys.stdin is None:  # started with standard input closed (`attn explain - <&-`)
        raise AttnError("cannot read standard input: it is closed; give the text as an "
                        "argument instead of -")
    try:
        data = (sys.stdin.buffer.read(MAX_STDIN + 1) if hasattr(sys.stdin, "buffer")
                else sys.stdin.read(MAX_STDIN + 1).encode())
    except (OSError, ValueError) as exc:  # a closed standard input
        raise AttnError(f"cannot read standard input ({exc})") from None
    if len(data) > MAX_STDIN:
        raise AttnError(f"standard input holds more than {MAX_STDIN / MiB:.0f} MiB of text; "
                        "attn reads at most that")
    try:
        return data.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError as exc:
        raise AttnError(f"standard input is not valid UTF-8: byte {exc.start + 1} "
                        f"(0x{data[exc.start]:02x}) does not start a character") from None


def parse_show(show: list[str] | None, focus: str | None, pair: bool = False) -> list[str] | None:
    """The sections --show names, in the lesson's order, or None for the default."""
    from attncli.sections import SECTIONS

    if not show:
        return ["bars"] if focus else [] if pair else None
    wanted = [part.strip().lower() for item in show for part in item.split(",") if part.strip()]
    if not wanted:
        raise AttnError(f"--show: name at least one section: {', '.join(SECTIONS)} or all")
    if "all" in wanted:
        return list(SECTIONS)
    if focus and "bars" not in wanted:  # --focus names whose bars to draw: draw them
        wanted.append("bars")
    unknown = [w for w in wanted if w not in SECTIONS]
    if unknown:
        raise AttnError(f"--show: unknown section {unknown[0]!r}; choose from "
                        f"{', '.join(SECTIONS)} or all")
    return [name for name in SECTIONS if name in wanted]


def sections_for(ex: Explanation, wanted: list[str] | None) -> list[str]:
    """What to draw: the sections asked for, or the default for this source. A real model's
    d_model-wide matrices (X, the W's) and the joined heads wait for --show."""
    from attncli.sections import MODEL_DEFAULT, SECTIONS

    if wanted is not None:
        return wanted
    return list(MODEL_DEFAULT if ex.from_model else SECTIONS)


def explain_words(ex: Explanation, *, focus: str | None, src: str | None, dst: str | None,
                  sinks: bool = True) -> Explanation:
    """Look up the words --focus, --from and --to name (a word naming no token is refused
    here, before anything is drawn) and work out their sums; with sinks, also the attention
    sinks the terminal view names (the JSON has the weights themselves)."""
    if sinks and ex.from_model:  # the heads that park their weight on [CLS], BOS, the first token
        from attncli.sinks import attention_sink

        found = {(hs.layer, hs.head): attention_sink(hs.steps.weights, ex.keys.tokens,
                                                     hs.steps.mask)
                 for hs in ex.heads}
        ex = replace(ex, sinks={key: sink for key, sink in found.items() if sink is not None})
    if focus is not None:
        from attncli.explain import with_focus
        from attncli.lookup import find_all

        ex = with_focus(ex, find_all(ex, focus, "focus"))
    if src is not None and dst is not None:
        from attncli.explain import with_pair
        from attncli.lookup import find_one

        (i, note_i), (j, note_j) = find_one(ex, src, "query"), find_one(ex.keys, dst, "key")
        ex = with_pair(ex, i, j)
        notes = [said(note) for note in (note_i, note_j) if note]
        if notes:
            ex = replace(ex, notes=[*ex.notes, *notes])
    return ex


@dataclass(frozen=True)
class SourceOptions:
    """Where the numbers come from, as the command line gave it: seeded, a file or a model."""

    weights: Path | None = None
    tokenizer: Path | None = None
    seed: int = 0
    d_model: int | None = None
    d_k: int | None = None
    d_v: int | None = None
    heads: int | None = None
    causal: bool = False
    positions: str = "none"
    model: str | None = None
    layer: str | None = None
    head: str | None = None
    max_tokens: int = 4096
    join: bool = False  # also join a model's heads through its W_O (step 6)
    float64: bool = False  # a model's whole forward pass in float64
    target: str | None = None  # an encoder-decoder's decoder input (TEXT is the source)
    attention: str | None = None  # with target: the decoder's "self" or "cross" (default)
    rows: int | None = None  # seeded and file weights: keep only this many query rows (a screen)
    revision: str | None = None  # with a Hub id: a branch, tag or commit in the cache
    # the words options name, checked against a model's tokens before any layer runs: (role,
    # word, whether it names a key: --to, a source word under cross-attention); the roles are
    # attncli.errors.ROLES
    words: tuple[tuple[str, str, bool], ...] = ()
    # another text whose tokens must hold the same words, checked before any layer too (compare
    # runs TEXT_A's layers before TEXT_B's): (text, role) pairs
    words_also_in: tuple[tuple[str, str], ...] = ()
    skip_scale: bool = False  # seeded and file weights: step 4 does not divide by √d_k


def sizes(d_model: int | None, d_k: int | None, d_v: int | None, heads: int | None,
          weights: Path | None) -> tuple[int, int, int, int]:
    """The seeded sizes, with their documented defaults; none of them go with --weights."""
    from attncli import weights as wts

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
    dims = (d_model, default if d_k is None else d_k, default if d_v is None else d_v, heads)
    problem = wts.size_problem(*dims)
    if problem:
        raise AttnError(said(problem))
    return dims


@contextmanager
def max_tokens_hint() -> Iterator[None]:
    """A text over the token limit is refused naming the option that raises the limit."""
    from attncli.explain import MAX_TOKENS_CEILING, TooManyTokens

    try:
        yield
    except TooManyTokens as exc:
        raise AttnError(f"{exc} (raise it with --max-tokens, up to {MAX_TOKENS_CEILING})") \
            from None


def build(text: str, opts: SourceOptions) -> Explanation:
    """Build the explanation from whichever source the options name."""
    keep_freed_memory()
    with max_tokens_hint():
        return _build(text, opts)


def _build(text: str, opts: SourceOptions) -> Explanation:
    from attncli.explain import check_text

    text = read_text(text)
    check_text(text)
    from attncli.files import CHARS_PER_TOKEN

    if len(text) > opts.max_tokens * CHARS_PER_TOKEN:  # before any tokenizer runs over it
        raise AttnError(f"the text has {len(text):,} characters, more than the "
                        f"{opts.max_tokens * CHARS_PER_TOKEN:,} that {opts.max_tokens} tokens "
                        f"could cover ({CHARS_PER_TOKEN} each); shorten it, or raise "
                        "--max-tokens")
    if opts.model is None:
        if opts.layer is not None:
            raise AttnError("--layer goes with --model: seeded and file weights have one layer")
        if opts.float64:
            raise AttnError("--float64 goes with --model: seeded and file weights always run "
                            "in float64")
        if opts.target is not None:
            from attncli.models import encoder_decoders

            raise AttnError("--target goes with --model and an encoder-decoder model "
                            f"({', '.join(encoder_decoders())})")
        if opts.revision is not None:
            raise AttnError("--revision goes with --model and a Hub id in the Hugging Face cache")
        return _seeded_or_loaded(text, opts)
    if opts.skip_scale:
        raise AttnError("--no-scale goes with seeded or file weights: a real model was trained "
                        "with its own scaling of the scores, and without it the weights "
                        "would not be the model's")
    clash = [name for name, value in (
        ("--weights", opts.weights), ("--tokenizer", opts.tokenizer),
        ("--d-model", opts.d_model), ("--d-k", opts.d_k), ("--d-v", opts.d_v),
        ("--heads", opts.heads), ("--causal", opts.causal or None),
        ("--positions", None if opts.positions == "none" else 1),
    ) if value is not None]

    if clash:
        raise AttnError(f"{clash[0]} cannot be combined with --model: the model sets its own "
                        "tokenizer, weights, sizes, mask and positions")
    from attncli.cli.progress import model_progress

    with model_progress(opts.model) as progress:
        return _run_model(text, opts, progress)


def _run_model(text: str, opts: SourceOptions, progress: Progress | None) -> Explanation:
    from attncli import api

    assert opts.model is not None  # build runs a model only when --model names one
    model = load(opts.model, opts.revision)
    if opts.attention not in (None, "self", "cross"):
        raise AttnError(f"--attention {visible(opts.attention)!r}: use self or cross")
    if opts.target is None and opts.attention is not None:
        raise AttnError("--attention goes with --target: without one, the heads shown are the "
                        "model's own self-attention")
    return api.explain(text, model, layers="last" if opts.layer is None else opts.layer,
                       heads="0" if opts.head is None else opts.head, target=opts.target,
                       attention=opts.attention or "cross", join=opts.join,
                       float64=opts.float64, max_tokens=opts.max_tokens,
                       check_words=_word_check(opts.words, opts.words_also_in, model),
                       progress=progress)


def named_words(*named: tuple[str, str | None, bool]) -> tuple[tuple[str, str, bool], ...]:
    """The (role, word, names a key) of each word given, for SourceOptions.words."""
    return tuple((role, word, is_key) for role, word, is_key in named if word is not None)


def _word_check(words: tuple[tuple[str, str, bool], ...],
                also_in: tuple[tuple[str, str], ...] = (),
                model: Model | None = None) -> CheckWords | None:
    """What explain_model calls with the tokens before running a layer: each word an option
    names must name a token (the same lookup, and error, as once the numbers are in); then,
    for each (text, role) of also_in, the same words in that text, as model splits it."""
    if not words:
        return None

    def check(text: str, tokens: list, key_text: str | None, key_tokens: list | None) -> None:
        from attncli.lookup import Words, find_all

        queries = Words(text, tokens)
        keys = queries if key_tokens is None or key_text is None else Words(key_text, key_tokens)
        for role, word, is_key in words:
            find_all(keys if is_key else queries, word, role)
        for other, role in also_in:
            assert model is not None  # also_in comes with the model that splits it
            for _, word, _ in words:
                find_all(Words(other, model.tokens(other)), word, role)

    return check


def _select(spec: str, count: int, what: str) -> list[int]:
    from attncli.explain import select

    return select(spec, count, what)


def load(spec: str, revision: str | None = None) -> Model:
    """The model --model names (for a command that runs it itself, as predict does), at
    --revision's snapshot when spec is a Hub id."""
    keep_freed_memory()
    if revision is not None and Path(spec).expanduser().is_dir():
        raise AttnError(f"--revision goes with a Hub id (gpt2, org/name) in the Hugging Face "
                        f"cache; {visible(spec)} is a directory")
    return _load_model(spec, revision)


@lru_cache(maxsize=2)
def _load_model(spec: str, revision: str | None = None) -> Model:
    """The model a spec names, opened once per run (compare builds two sentences from it)."""
    from attncli import api

    return api.load_model(spec, revision)


def _seeded_or_loaded(text: str, opts: SourceOptions) -> Explanation:
    from attncli import tokens as tok
    from attncli import weights as wts

    if opts.positions not in ("none", "sinusoidal"):
        raise AttnError(f"unknown --positions {visible(opts.positions)!r}; use none or "
                        "sinusoidal")
    dims = sizes(opts.d_model, opts.d_k, opts.d_v, opts.heads, opts.weights)
    if opts.tokenizer is None:
        toks, tok_name = tok.word_level(text), "word-level"
    else:
        toks, tok_name = (tok.encode(tok.load_tokenizer(opts.tokenizer), text,
                                     source=str(opts.tokenizer)),
                          str(opts.tokenizer))
    if opts.weights is not None:  # the file reader is imported only to read one
        from attncli.weights import files as weightfiles

        ws = weightfiles.load(opts.weights)
    else:
        ws = wts.seeded(opts.seed, *dims)
    chosen = None if opts.head is None else _select(opts.head, len(ws.heads), "head")
    from attncli.explain import explain

    return explain(text, toks, ws, seed=opts.seed, causal=opts.causal, positions=opts.positions,
                   tokenizer=tok_name, max_tokens=opts.max_tokens, heads=chosen, rows=opts.rows,
                   skip_scale=opts.skip_scale)


def seeded_file(seed: int, d_model: int, d_k: int | None, d_v: int | None, heads: int,
                text: str | None) -> WeightSet:
    """What `attn weights init` writes: the seeded matrices, and with text an embeddings
    table of its words, to edit and load back."""
    from attncli import tokens as tok
    from attncli import weights as wts
    from attncli.files import check_memory

    dims = sizes(d_model, d_k, d_v, heads, None)
    if text is not None:
        from attncli.explain import check_text

        check_text(text)  # a stray byte in argv would fail as the file is written
    if text is not None:  # the table, as numbers and as the file's text (~20 bytes a number)
        words = len(set(text.split()))
        check_memory(words * dims[0] * (8 + 20), f"an embeddings table of {words:,} words × "
                                                 f"{dims[0]} numbers")
    embeddings = None if text is None else {
        t.text: wts.seeded_embedding(t.text, seed, dims[0]) for t in tok.word_level(text)}
    seeded = wts.seeded(seed, *dims)
    return replace(seeded, embeddings=embeddings or None,
                   description=f"Seeded weights (seed {seed}).")


def output_projection(ex: Explanation, model: str | None,
                      revision: str | None = None) -> Projection | None:
    """For a model's explanation, what gives each layer's W_O (and b_O) of the heads shown:
    the model's own, or for a t5 decoder (--target) the decoder's; None for seeded and file
    weights (their W_O is the one that joined the heads)."""
    if model is None:
        return None
    loaded = load(model, revision)
    if ex.config.stack == "decoder" and ex.source_tokens is not None:
        loaded = loaded.for_target(ex.source_tokens, ex.config.attention)
    return loaded.output_projection


def norms(ex: Explanation, model: str | None,
          revision: str | None = None) -> list[HeadNorms]:
    """The norm-based measure (flow.head_norms) of every head ex shows."""
    from attncli import flow

    return flow.head_norms(ex, output_projection(ex, model, revision))


def check_measure(measure: str) -> str:
    """--measure's value: weight or norm."""
    value = measure.strip().lower()
    if value not in ("weight", "norm"):
        raise AttnError(f"--measure {visible(measure)!r}: use weight or norm")
    return value
