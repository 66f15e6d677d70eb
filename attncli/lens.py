"""What the final head reads off the residual stream: the logit lens and direct logit attribution.

The logit lens (nostalgebraist 2020): the stream at one position, after each layer, put
through the model's final norm and LM head as if that layer were the last. The last layer's
reading is the model's own prediction; an earlier one is only what the final head would make
of that stream, which the layers after it were never trained to hand over.

Direct logit attribution (Elhage et al. 2021, "A Mathematical Framework for Transformer
Circuits"): in a pre-norm or parallel model the stream entering the final norm is a sum of
parts (the embeddings, each head's output through its slice of W_O, each MLP's output, the
biases), so with the final norm's scale held at the value the full run uses (HeldNorm: then
the norm is linear), the target token's logit splits into one number per part:

    logit = sum over parts of  held_final(part) . W_U[target]  +  final norm's b . W_U[target]
            + the LM head's bias[target]

A norm on the attention's output (Gemma 2, OLMo 2) is held the same way, at the value it
takes on the whole attention output, before its heads are split. The parts are worked out
again from the weights (each head from its output before W_O, each MLP from its input), not
read off as differences of the stream, so their sum checks them: it equals the model's logit
to float rounding. A post-norm model (BERT) normalises the stream after each part, so no part
keeps a share of it to attribute: refused. Pure numpy, no rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from attncli.errors import AttnError, Worded
from attncli.explain import MAX_TOKENS, check_token_count
from attncli.lookup import Words, find_one
from attncli.models import Hooks
from attncli.models.blocks import mlp
from attncli.models.layers import linear
from attncli.predict import (
    MASK_TOKENS,
    Candidate,
    mask_positions,
    one_stack,
    softmax,
    token_id,
    top_k,
)
from attncli.tokens import Token

if TYPE_CHECKING:
    from attncli.models.base import Model, Progress
    from attncli.models.blocks import LMHead

BIASES = ("attention_bias", "norm_bias", "lm_bias")


@dataclass(frozen=True)
class Where:
    """The position read, and what it is."""

    position: int  # index into the tokens
    kind: str  # "next" (a decoder's next token), "mask" (a masked LM's fill) or "token"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LensRow:
    """The final head's reading of the stream after one layer."""

    layer: int | None  # the layer whose output this is; None for the embeddings
    top: list[Candidate]


@dataclass(frozen=True)
class Lens:
    """What `attn lens` shows: one reading per layer, the embeddings first."""

    text: str
    model: str
    model_type: str
    tokens: list[Token]
    where: Where
    rows: list[LensRow]
    logits: np.ndarray  # (n_layers + 1, vocab), float32: each row's reading, in order
    final: np.ndarray  # (n_layers + 1,): each row's probability of the last row's top token
    byte_level: bool = False  # the vocabulary spells bytes as characters (GPT-2's Ġ)


@dataclass(frozen=True)
class Part:
    """One part of the stream and its direct contribution to the target's logit."""

    kind: str  # "embeddings", "head", "mlp", "attention_bias", "norm_bias" or "lm_bias"
    value: float
    layer: int | None = None  # a head's or an MLP's
    head: int | None = None


@dataclass(frozen=True)
class Attribution:
    """What `attn attribute` shows: every part's share of the target's logit, and their sum."""

    text: str
    model: str
    model_type: str
    tokens: list[Token]
    where: Where
    target: Candidate  # its probability and logit as the model gives them (soft-cap included)
    top_id: int  # the top prediction at the position
    heads: np.ndarray  # (n_layers, n_heads): each head's part, also among parts
    parts: list[Part]  # in the stream's order: embeddings, each layer's heads then MLP, biases
    logit: float  # the target's logit before any soft-cap: what the parts add up to
    softcap: float | None = None  # the family's soft-cap of the logits (target.logit after it)
    byte_level: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> float:
        """The sum of every part."""
        return float(sum(p.value for p in self.parts))

    @property
    def difference(self) -> float:
        """The logit minus the sum of the parts: float rounding."""
        return self.logit - self.total

    def ranked(self, n: int) -> tuple[list[Part], list[Part]]:
        """The n largest positive parts, largest first, and the n most negative, most
        negative first (ties: in the stream's order)."""
        return ([p for p in sorted(self.parts, key=lambda p: -p.value) if p.value > 0][:n],
                [p for p in sorted(self.parts, key=lambda p: p.value) if p.value < 0][:n])

    def groups(self) -> list[tuple[str, int, float]]:
        """(kind, how many parts, their sum) for the embeddings, the heads, the MLPs and the
        biases, in that order (those there are)."""
        out = []
        for kind, kinds in (("embeddings", ("embeddings",)), ("head", ("head",)),
                            ("mlp", ("mlp",)), ("bias", BIASES)):
            found = [p.value for p in self.parts if p.kind in kinds]
            if found:
                out.append((kind, len(found), float(sum(found))))
        return out


def _byte_level(model: Model) -> bool:
    from tokenizers import decoders

    return isinstance(model.tokenizer.decoder, decoders.ByteLevel)


def where(model: Model, text: str, tokens: list[Token], at: str | None) -> Where:
    """The position at (a word of the text, WORD#2 or #N), or the predicting one: a decoder's
    last token, a masked LM's first mask."""
    if at is not None:
        position, note = find_one(Words(text, tokens), at, "at")
        fills = {i for name in MASK_TOKENS if (i := model.tokenizer.token_to_id(name)) is not None}
        kind = ("next" if model.causal else "mask" if tokens[position].id in fills
                else "token")
        return Where(position, kind, () if note is None else (note,))
    if model.causal:
        return Where(len(tokens) - 1, "next")
    masks = mask_positions(model, tokens)
    if len(masks) == 1:
        return Where(masks[0], "mask")
    others = ", ".join(f"#{i}" for i in masks[1:])
    return Where(masks[0], "mask", (Worded(
        lambda n: f"the text has {len(masks)} masks; this reads the first, #{masks[0]} "
                  f"(the others: {others}); pick another with {n.give('at', f'#{masks[1]}')}"),))


def _tokens(model: Model, text: str, max_tokens: int) -> list[Token]:
    tokens = model.tokens(text)
    check_token_count(tokens, max_tokens)
    return tokens


def lens(text: str, model: Model, top: int = 5, at: str | None = None,
         max_tokens: int = MAX_TOKENS, progress: Progress | None = None) -> Lens:
    """The logit lens at one position: the stream entering each layer and leaving the last,
    through the final norm and the LM head (soft-cap included), with its top tokens."""
    one_stack(model, "the logit lens")
    head = model.lm_head()  # an unsupported family or a base model is refused before running
    tokens = _tokens(model, text, max_tokens)
    place = where(model, text, tokens, at)
    p = place.position
    stream: list[np.ndarray] = []  # (d_model,) each: the embeddings, then each layer's output
    held = head.nbytes + (model.n_layers + 1) * model.vocab_size * 8
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
        model.forward([t.id for t in tokens], progress=progress, held=held,
                      hooks=Hooks(residual=lambda _, h: stream.append(h[p].copy())))
        logits = model.logits(np.stack(stream), head)  # (n_layers + 1, vocab)
    if not np.isfinite(logits).all():
        raise AttnError(f"{model.name}: the logits overflow in float32")
    rows = [LensRow(None if i == 0 else i - 1, top_k(model, row, top))
            for i, row in enumerate(logits)]
    last = rows[-1].top[0].id
    final = np.array([softmax(row)[last] for row in logits])  # (n_layers + 1,)
    return Lens(text, model.name, model.model_type, tokens, place, rows,
                logits.astype(np.float32), final, _byte_level(model))


def check_additive(model: Model, head: LMHead) -> None:
    """Refuse a model whose logit does not split into its parts' shares."""
    multiplier = getattr(model.block, "residual_multiplier", 1.0)
    if multiplier != 1.0:  # Granite: each part is multiplied before it is added
        raise AttnError(f"{model.name} ({model.model_type}) multiplies each attention and MLP "
                        f"output by residual_multiplier {multiplier:g} before adding it to the "
                        "stream; direct attribution does not split such a stream yet")
    if not model.block.adds_parts:
        raise AttnError(f"{model.name} ({model.model_type}) normalises the stream after each "
                        "attention and MLP (post-norm), so their contributions do not add up "
                        "to the logit: direct attribution needs a pre-norm model")
    if head.w_in is not None:
        raise AttnError(f"{model.name} ({model.model_type}): its LM head runs a dense layer and "
                        "an activation before its norm, so the parts' contributions do not "
                        "add up to the logit")


def attribute(text: str, model: Model, target: str | None = None, at: str | None = None,
              max_tokens: int = MAX_TOKENS, progress: Progress | None = None) -> Attribution:
    """Each part's direct contribution to the target's logit at one position (the top
    prediction's, unless target names a token): the embeddings, each head, each MLP, and the
    biases, through the final norm with its scale held; their sum and the model's logit."""
    one_stack(model, "direct logit attribution")
    head = model.lm_head()
    check_additive(model, head)
    tokens = _tokens(model, text, max_tokens)
    place = where(model, text, tokens, at)
    wanted = None if target is None else token_id(model, target)
    ids = model.check_ids([t.id for t in tokens])
    model.check_memory(len(ids), [model.n_layers - 1], 0, held=head.nbytes)
    with np.errstate(over="ignore", invalid="ignore"):
        vectors, kinds, h_last = _parts(model, ids, place.position, progress)
        uncapped = model.uncapped_logits(h_last[None], head)[0]  # (vocab,)
        logits = model.logits(h_last[None], head)[0]  # (vocab,)
    if not (np.isfinite(logits).all() and np.isfinite(vectors).all()):
        raise AttnError(f"{model.name}: the numbers overflow in float32")
    top_id = int(np.argmax(logits))
    t = top_id if wanted is None else wanted
    final = model.held_norm(h_last, head.norm)  # the final norm, its scale held
    u = head.w[t].astype(np.float64)  # (d,) the target's row of the unembedding
    values = final(vectors) @ u  # (parts,)
    parts = [Part(kind, float(v), layer, h) for (kind, layer, h), v in zip(kinds, values,
                                                                            strict=True)]
    parts += _biases(parts, final.b, u, head.b, t)
    parts = _merged(parts)
    grid = np.array([[p.value for p in parts if p.kind == "head" and p.layer == i]
                     for i in range(model.n_layers)]).reshape(model.n_layers, model.n_heads)
    probs = softmax(logits)
    name = model.tokenizer.id_to_token(t) or f"<id {t}>"
    return Attribution(text, model.name, model.model_type, tokens, place,
                       Candidate(name, t, float(probs[t]), float(logits[t])), top_id, grid,
                       parts, float(uncapped[t]), model.final_softcap, _byte_level(model),
                       place.notes)


Kind = tuple[str, int | None, int | None]  # (kind, layer, head)


def _parts(model: Model, ids: np.ndarray, p: int, progress: Progress | None
           ) -> tuple[np.ndarray, list[Kind], np.ndarray]:
    """Every part the stream at position p is the sum of, as vectors (parts, d_model) in
    float64, what each is, and the stream leaving the last layer at p (float32). The layers
    run as the forward loop runs them (Model.layer_step), one at a time."""
    vectors: list[np.ndarray] = []
    kinds: list[Kind] = []
    nh, hd, d = model.n_heads, model.head_dim, model.d_model
    if progress is not None:
        progress(0, model.n_layers)
    h = model.embed(ids, np.float32)  # (n, d)
    vectors.append(h[p].astype(np.float64))
    kinds.append(("embeddings", None, None))
    for i in range(model.n_layers):
        attn, rest = model.load_attention(i), model.load_rest(i)
        seen: list[np.ndarray] = []

        def keep(_: int, z: np.ndarray, seen: list[np.ndarray] = seen) -> np.ndarray:
            seen.append(z[:, p])  # (n_heads, head_dim): each head's output before W_O
            return z

        h_next = model.layer_step(i, h, attn, rest, Hooks(head_outputs=keep))
        z = seen[0]  # (H, hd)
        # 1) each head through its slice of W_O (rows h*hd to (h+1)*hd)
        w_o = attn.w_o.astype(np.float64).reshape(nh, hd, d)
        by_head = np.einsum("hk,hkd->hd", z.astype(np.float64), w_o)  # (H, d)
        # 2) the attention output as the layer adds it: its norm (if any) held at the whole
        a = linear(z.reshape(1, nh * hd), attn.w_o, attn.b_o)  # (1, d), float32
        added, b_o = a, None if attn.b_o is None else attn.b_o.astype(np.float64)
        if attn.out_norm is not None:
            out = model.held_norm(a[0], attn.out_norm)
            by_head = out(by_head)
            b_o = None if b_o is None else out(b_o)
            if out.b is not None:
                vectors.append(out.b)
                kinds.append(("norm_bias", i, None))
            added = model.normalise(a, attn.out_norm)
        if b_o is not None:
            vectors.append(b_o)
            kinds.append(("attention_bias", i, None))
        vectors.extend(by_head)
        kinds.extend(("head", i, j) for j in range(nh))
        # 3) the MLP on what it reads at p, its output norm (if any) held likewise
        x = model.block.mlp_input(h[p][None], added, attn, rest, model.normalise)  # (1, d)
        m = mlp(x, rest, model.act)  # (1, d)
        part = m[0].astype(np.float64)  # (d,)
        if rest.out_norm is not None:
            out = model.held_norm(m[0], rest.out_norm)
            part = out(part)
            if out.b is not None:
                vectors.append(out.b)
                kinds.append(("norm_bias", i, None))
        vectors.append(part)
        kinds.append(("mlp", i, None))
        h = h_next
        if progress is not None:
            progress(i + 1, model.n_layers)
    return np.stack(vectors), kinds, h[p]


def _biases(parts: list[Part], final_b: np.ndarray | None, u: np.ndarray,
            lm_b: np.ndarray | None, t: int) -> list[Part]:
    """The biases that enter after the stream: the final norm's, and the LM head's."""
    out = []
    if final_b is not None:
        out.append(Part("norm_bias", float(final_b @ u)))
    if lm_b is not None:
        out.append(Part("lm_bias", float(lm_b[t])))
    return out


def _merged(parts: list[Part]) -> list[Part]:
    """The parts with each kind of bias summed over the layers into one part, placed last."""
    kept = [p for p in parts if p.kind in ("embeddings", "head", "mlp")]
    biases = []
    for kind in BIASES:
        found = [p.value for p in parts if p.kind == kind]
        if found:
            biases.append(Part(kind, float(sum(found))))
    return kept + biases
