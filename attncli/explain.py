"""Build the one "show your work" result that both the terminal view and the JSON read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, cast

import numpy as np

from attncli import weights as wts
from attncli.attention import Joined, Steps, Variant
from attncli.attention_fast import BLOCK, HeadSteps, join_heads, self_attention, with_rows
from attncli.errors import AttnError, RoleError
from attncli.tokens import Token

if TYPE_CHECKING:
    from collections.abc import Callable

    from attncli.models.base import Model, Progress
    from attncli.models.seq2seq import EncoderDecoder
    from attncli.sinks import Sink
    from attncli.sums import Pair, RowSoftmax

    # (queries' text, their tokens, keys' text and tokens when they differ: cross-attention)
    CheckWords = Callable[[str, list[Token], str | None, list[Token] | None], None]

MAX_TOKENS = 4096  # the default limit: beyond it an n×n matrix stops being something to read
MAX_TOKENS_CEILING = 8192  # the largest --max-tokens: each n×n float64 matrix is then 512 MiB


class TooManyTokens(AttnError):
    """A text longer than the token limit (the CLI says which option raises it)."""


@dataclass(frozen=True)
class Config:
    """What made the numbers: the sizes, where the weights came from, the tokenizer, the mask."""

    d_model: int
    d_k: int
    d_v: int
    heads: int  # heads per layer (all of them, not only the ones shown)
    weights: str  # "seeded", the weights file, or the model as the user named it
    embeddings: str  # "seeded", "file" or "model"
    tokenizer: str  # "word-level", a tokenizer.json path, or "model"
    causal: bool
    positions: str  # none or sinusoidal; a model's own: learned or rope
    seed: int | None = None  # None for a model
    description: str | None = None  # a weights file's own description
    model: str | None = None
    architecture: str | None = None  # config.json's model_type
    layers: tuple[int, ...] | None = None  # the layers shown, for a model
    head_indices: tuple[int, ...] = ()  # the heads shown, 0-based
    n_layers: int = 1  # layers the source has
    dtype: str = "float64"  # what a model's layers before the one shown ran in
    stack: str | None = None  # an encoder-decoder's: "encoder", or "decoder" (with --target)
    attention: str = "self"  # "cross": the decoder's queries look at the source's keys
    scale_skipped: bool = False  # step 4 left the scores undivided (the √d_k experiment)

    @property
    def source(self) -> str:
        """"seeded", "file" or "model"."""
        return "model" if self.model is not None else "seeded" if self.weights == "seeded" \
            else "file"

    def to_dict(self) -> dict:
        """The JSON's config object: the same keys as ever, the optional ones only when set."""
        doc: dict[str, object] = {
               "d_model": self.d_model, "d_k": self.d_k, "d_v": self.d_v, "heads": self.heads,
               "seed": self.seed, "weights": self.weights, "embeddings": self.embeddings,
               "tokenizer": self.tokenizer, "causal": self.causal, "positions": self.positions}
        if self.description is not None:
            doc["description"] = self.description
        if self.model is not None:
            doc.update(model=self.model, architecture=self.architecture,
                       layers=list(self.layers or ()), n_layers=self.n_layers,
                       dtype=self.dtype)
            if self.stack is not None:
                doc.update(stack=self.stack, attention=self.attention)
        doc["head_indices"] = list(self.head_indices)
        if self.scale_skipped:
            doc["scale_skipped"] = True
        return doc


@dataclass(frozen=True)
class Route:
    """Where a mixture-of-experts layer sent each token: its experts, the most probable first
    (n, top_k) int, and the weight each expert's output is added with (n, top_k)."""

    layer: int
    experts: np.ndarray
    weights: np.ndarray


@dataclass(eq=False)
class Explanation:
    """Everything `attn explain` shows: the input, the settings and each head's steps."""

    text: str
    tokens: list[Token]
    config: Config
    x: np.ndarray  # (n, d_model) the embeddings that went in (positions added, if any)
    heads: list[HeadSteps]
    dims: tuple[str, ...] | None = None  # names of the d_model dimensions
    positions: np.ndarray | None = None  # (n, d_model) the positional encoding added to X
    notes: list[str] = field(default_factory=list)  # facts the reader should know
    qk_dims: tuple[str, ...] | None = None  # names of the query/key dimensions (d_k)
    v_dims: tuple[str, ...] | None = None  # names of the value dimensions (d_v)
    joined: Joined | None = None  # step 6: the heads joined through W_O, for one layer
    pair: Pair | None = None  # one query-key pair worked out by hand (explain --from/--to)
    focus: tuple[int, ...] = ()  # the query tokens whose softmax is worked out term by term
    focus_rows: dict[tuple[int, int], list[RowSoftmax]] = field(default_factory=dict)
    sinks: dict[tuple[int, int], Sink] = field(default_factory=dict)  # (layer, head) -> its sink
    # a mixture of experts': each sparse layer the run went through (before the last shown)
    routes: list[Route] = field(default_factory=list)
    # an encoder-decoder's decoder (explain --target): text and tokens above are the target's,
    # the queries; these are the source's, which cross-attention's keys and values come from
    source_text: str | None = None
    source_tokens: list[Token] | None = None

    @property
    def cross(self) -> bool:
        """Whether the keys are the source's tokens, not the queries' own (cross-attention)."""
        return self.config.attention == "cross"

    @cached_property
    def keys(self) -> Explanation:
        """The explanation as the keys' side sees it: for cross-attention, the source's text
        and tokens in place of the target's; otherwise the explanation itself."""
        if not self.cross or self.source_tokens is None or self.source_text is None:
            return self
        return replace(self, text=self.source_text, tokens=self.source_tokens)

    @property
    def key_labels(self) -> list[str]:
        """How tables name each key (the columns of every score matrix)."""
        return self.keys.labels

    @property
    def from_model(self) -> bool:
        """Whether a real checkpoint made it: X is then a layer's input, heads carry layers."""
        return self.config.model is not None

    @cached_property
    def labels(self) -> list[str]:
        """How tables name each token: the input it covers, or the token's own name. Worked
        out once: naming a word looks at every token's label (it used to rebuild them all for
        each token, quadratic in the length)."""
        return [t.label(self.text) for t in self.tokens]


def check_text(text: str) -> None:
    """Refuse text with nothing in it to attend over."""
    if not text.strip():
        raise AttnError('the text is empty: give a sentence, e.g. "The animal was tired"')
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # undecodable bytes in argv arrive as lone surrogates
        stray = ord(text[exc.start])  # a byte that is no character arrives as U+DC80..U+DCFF
        byte = f" (0x{stray - 0xDC00:02x})" if 0xDC80 <= stray <= 0xDCFF else ""
        raise AttnError(f"the text is not valid UTF-8: character {exc.start + 1}{byte} is a "
                        "stray byte, not a character") from None


def check_token_count(tokens: list[Token], limit: int = MAX_TOKENS, heads: int = 1,
                      rows: int | None = None, weigh: bool = True) -> None:
    """Refuse no tokens, more than the limit, or more n×n matrices than the memory budget
    holds, before any is made: each head shown keeps scores, scaled and weights in float64,
    and one more is allowed for the work in between (the softmax works in place; a causal
    mask's where makes one), so a run stays under the 4 counted (bench/ and the memory tests
    check it). With rows, each head keeps only that many rows of each, and the work in
    between is one block of queries: four block × n matrices.
    Without weigh, only the count is checked: a real model weighs its own run
    (Model.check_memory: its dtype, layers, stacks and weights)."""
    from attncli.files import check_memory

    if not tokens:
        raise AttnError("the text has no tokens to attend over")
    if len(tokens) > limit:
        raise TooManyTokens(f"the text has {len(tokens)} tokens, more than the limit of "
                            f"{limit}")
    if not weigh:
        return
    n = len(tokens)
    kept = n if rows is None else min(n, rows)
    check_memory((3 * heads * kept + (4 * min(n, BLOCK) if rows else n)) * n * 8,
                 f"{n} tokens × {heads} head{'s' if heads > 1 else ''} ({kept}×{n} matrices)")


def check_finite(steps: Steps, source: str) -> None:
    """Refuse results that overflowed float64: no NaN or infinity may reach the output."""
    for name in ("x", "q", "k", "v", "scores", "weights", "output"):
        if not np.isfinite(getattr(steps, name)).all():
            raise AttnError(f"{source}: the numbers overflow ({name} is not finite); "
                            "use smaller weights or embeddings")
    logits = steps.logits if steps.mask is None else steps.logits[~steps.mask]
    if not np.isfinite(logits).all():
        raise AttnError(f"{source}: the numbers overflow (scaled is not finite); "
                        "use smaller weights or embeddings")


def sinusoidal_positions(n: int, d_model: int) -> np.ndarray:
    """(n, d_model) encoding of "Attention Is All You Need":
    PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))
    """
    pos = np.arange(n, dtype=np.float64)[:, None]  # (n, 1)
    two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]  # (1, ceil(d/2))
    angle = pos / np.power(10000.0, two_i / d_model)  # (n, ceil(d/2))
    pe = np.zeros((n, d_model), dtype=np.float64)  # (n, d_model)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe


def explain(
    text: str,
    tokens: list[Token],
    ws: wts.WeightSet,
    *,
    seed: int,
    causal: bool = False,
    positions: str = "none",
    tokenizer: str = "word-level",
    max_tokens: int = MAX_TOKENS,
    heads: list[int] | None = None,
    rows: int | None = None,
    skip_scale: bool = False,
) -> Explanation:
    """Run a weight set's heads over the tokens and keep all the steps.

    heads picks the heads to keep (all by default); with several heads, every head still
    runs, so that step 6 can join them through W_O. With rows, the matrices with a row per
    query keep only the first `rows` queries' rows (what a screen shows of a long text);
    with_focus and with_pair add the rows they need. With skip_scale, step 4 does not divide
    the scores by √d_k, and a note compares each head's largest weights with a run that does."""
    check_token_count(tokens, max_tokens, heads=len(ws.heads), rows=rows)
    n = len(tokens)
    x, from_file = wts.embed(tokens, ws, seed)  # (n, d_model)
    notes = []
    if ws.source != "seeded" and not from_file:
        notes.append(f"{ws.source} has no embeddings table, so the embeddings are seeded "
                     f"(seed {seed}).")
    pe = None
    if positions == "sinusoidal":
        pe = sinusoidal_positions(n, ws.d_model)  # (n, d_model)
        x = x + pe
    elif positions != "none":
        raise AttnError(f"unknown positions {positions!r}; use none or sinusoidal")
    variant = Variant(causal=causal, skip_scale=skip_scale)
    kept = None if rows is None or rows >= n else range(rows)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
        every = [
            HeadSteps(0, h, self_attention(x, hw.w_q, hw.w_k, hw.w_v, variant=variant,
                                           rows=kept))
            for h, hw in enumerate(ws.heads)
        ]
    for hs in every:
        check_finite(hs.steps, ws.source)
    if skip_scale:
        notes.append(_skipped_note(x, ws, causal, kept, every, heads))
    joined = None
    if len(every) > 1 or ws.w_o is not None:
        w_o = ws.w_o
        if w_o is None:  # a file without w_o: join through a seeded one, and say so
            w_o = wts.seeded_w_o(seed, len(every) * ws.d_v, ws.d_model)
            notes.append(f"{ws.source} has no w_o, so the W_O that joins the heads is seeded "
                         f"(seed {seed}).")
        with np.errstate(over="ignore", invalid="ignore"):
            joined = join_heads(0, [hs.steps.output for hs in every], w_o, ws.b_o)
        if not np.isfinite(joined.output).all():
            raise AttnError(f"{ws.source}: the numbers overflow (the attention output is not "
                            "finite); use smaller weights or embeddings")
    chosen = list(range(len(every))) if heads is None else heads
    config = Config(
        d_model=ws.d_model, d_k=ws.d_k, d_v=ws.d_v, heads=len(ws.heads), seed=seed,
        weights=ws.source, embeddings="file" if from_file else "seeded", tokenizer=tokenizer,
        causal=causal, positions=positions, description=ws.description,
        head_indices=tuple(chosen), scale_skipped=skip_scale,
    )
    return Explanation(text, list(tokens), config, x, [every[h] for h in chosen], ws.dims, pe,
                       notes, ws.qk_dims, ws.v_dims, joined)


def largest_weight(steps: Steps) -> float:
    """Each query row's largest weight, averaged over the rows kept: 1 when every row puts
    all its weight on one key, 1/n when it spreads evenly."""
    return float(steps.weights.max(axis=1).mean())


def _skipped_note(x: np.ndarray, ws: wts.WeightSet, causal: bool, kept: range | None,
                  every: list[HeadSteps], heads: list[int] | None) -> str:
    """What skipping ÷√d_k did, in numbers: each shown head's average largest weight per
    row, without the division and with it."""
    plain = Variant(causal=causal)
    pairs = []
    for h in range(len(every)) if heads is None else heads:
        hw = ws.heads[h]
        divided = self_attention(x, hw.w_q, hw.w_k, hw.w_v, variant=plain, rows=kept)
        pairs.append(f"{'' if len(ws.heads) == 1 else f'head {h}: '}"
                     f"{largest_weight(every[h].steps):.3f} without it, "
                     f"{largest_weight(divided):.3f} with it")
    return (f"Step 4 skipped the division by √d_k = √{ws.d_k} = {np.sqrt(ws.d_k):.3f}. "
            f"Each row's largest weight, averaged over the rows: {'; '.join(pairs)}.")


def select(spec: str, count: int, what: str) -> list[int]:
    """Indices from a spec: 'all', 'last', an index (negative counts from the end), or a
    comma-separated list of them. Distinct, in ascending order, so that the first layer
    shown is the earliest and X (the first layer's input) comes before later layers' own X.
    what: the things counted, "layer" or "head", also the role errors name."""
    spec = spec.strip().lower()
    if spec == "all":
        return list(range(count))
    out = []
    for part in spec.split(","):
        part = part.strip()
        if part == "last":
            part = str(count - 1)
        try:
            index = int(part)
        except ValueError:
            raise RoleError(lambda n: f"{n(what)} {spec!r}: give a number, a comma-separated "
                                      "list, 'last' or 'all'") from None
        if not -count <= index < count:
            raise AttnError(f"{what} {index} is out of range: there are {count} {what}s "
                            f"(0 to {count - 1})")
        out.append(index % count)
    return sorted(set(out))


def explain_model(text: str, model: Model, layers: list[int], heads: list[int],
                  max_tokens: int = MAX_TOKENS, join: bool = False,
                  float64: bool = False, target: str | None = None,
                  check_words: CheckWords | None = None,
                  progress: Progress | None = None,
                  tokens: list[Token] | None = None) -> Explanation:
    """Run a real model up to the chosen layers and keep the chosen heads' steps; with join,
    also step 6 (every head joined through the model's W_O) for the last chosen layer.

    With target, model is an encoder-decoder's decoder (Model.for_target), text the source its
    encoder reads, and the heads are the decoder's over target: its own or the source's.
    check_words sees the tokens before any layer runs (a word naming none is refused then,
    not after the forward pass); progress is told of each layer run (Model.run). tokens: the
    text's tokens as given (a generation's, which need not be what the tokenizer makes of the
    text), else the model's tokenizer splits it."""
    source, source_text = None, None
    if target is not None:
        check_text(target)
        decoder = cast("EncoderDecoder", model)  # for_target's: an encoder-decoder's decoder
        source, source_text = decoder.source_tokens, text
        text, tokens = target, decoder.target_tokens(target)
    elif tokens is None:
        tokens = model.tokens(text)
    # the memory is weighed by model.run, which knows the dtype, layers and stacks it runs
    check_token_count(tokens, max_tokens, weigh=False)
    if check_words is not None:
        cross = model.attention_kind == "cross"  # the keys are then the source's tokens
        check_words(text, tokens, source_text if cross else None, source if cross else None)
    from attncli.models.base import Hooks

    routes: list[Route] = []  # where a mixture of experts sent each token, layer by layer
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
        result, joined = model.run([t.id for t in tokens], layers, heads, join=join,
                                   float64=float64, progress=progress, hooks=Hooks(
                                       routes=lambda i, e, w: routes.append(Route(i, e, w))))
    for hs in result:
        check_finite(hs.steps, f"{model.name} (layer {hs.layer}, head {hs.head})")
    if joined is not None and not np.isfinite(joined.output).all():
        raise AttnError(f"{model.name} (layer {joined.layer}): the numbers overflow")
    first = result[0].steps
    config = Config(
        d_model=int(first.x.shape[1]), d_k=first.d_k, d_v=int(first.v.shape[1]),
        heads=model.n_heads, seed=None, weights=model.name, embeddings="model",
        tokenizer="model", causal=bool(model.causal), positions=model.order, model=model.name,
        architecture=model.model_type, layers=tuple(layers), head_indices=tuple(heads),
        n_layers=model.n_layers, dtype="float64" if float64 else "float32",
        stack=model.stack, attention=model.attention_kind,
    )
    return Explanation(text, tokens, config, first.x, result, joined=joined,
                       source_text=source_text, source_tokens=source, routes=routes)


def _with_rows(queries: list[int], heads: list[HeadSteps]) -> list[HeadSteps]:
    """The heads, each also holding the queries' rows (where only some rows were kept): the
    same list when every head has them already."""
    more = [with_rows(hs.steps, queries) for hs in heads]
    if all(steps is hs.steps for steps, hs in zip(more, heads, strict=True)):
        return heads
    return [replace(hs, steps=steps) for hs, steps in zip(heads, more, strict=True)]


def with_pair(ex: Explanation, query: int, key: int) -> Explanation:
    """The explanation, plus the pair query → key worked out in the first head shown."""
    heads = _with_rows([query], ex.heads)
    from attncli.sums import pair  # the sums' module is read only for a pair or a focus

    return replace(ex, heads=heads, pair=pair(heads[0], query, key))


def with_focus(ex: Explanation, queries: list[int]) -> Explanation:
    """The explanation, plus each chosen query's softmax worked out term by term, per head."""
    from attncli.sums import row_softmax

    heads = _with_rows(queries, ex.heads)
    rows = {(hs.layer, hs.head): [row_softmax(hs.steps, i) for i in queries] for hs in heads}
    return replace(ex, heads=heads, focus=tuple(queries), focus_rows=rows)
