"""What a model predicts: the whole forward pass, the final norm and the LM head.

A decoder (gpt2, llama, mistral, qwen2, qwen3) predicts the next token from the last
position; a masked LM (bert, roberta) fills each [MASK] / <mask> token of the text; an
encoder-decoder (t5, bart, ...) reads the text as its source and predicts the token after a
target's start (its decoder start token, then the target's tokens). Each
predicting position gets its top-k tokens with their logits and probabilities (the softmax
of the logits over the whole vocabulary), and, per layer, the head that puts the most weight
on one other token from there. That is attention weight, not attribution: it says where a
head looks, not how much that changed the prediction. Pure numpy, no rich.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from attncli import attention
from attncli.errors import AttnError, RoleError
from attncli.explain import MAX_TOKENS, check_text, check_token_count
from attncli.safe_text import visible
from attncli.tokens import Token, encode

if TYPE_CHECKING:
    from attncli.models.base import Model, Progress
    from attncli.models.seq2seq import EncoderDecoder

MASK_TOKENS = ("[MASK]", "<mask>")  # BERT's and RoBERTa's
SPACE_SIGNS = ("␣",)  # how the views show a folded space: read back as a space in a token


@dataclass(frozen=True)
class Candidate:
    """One of the top-k tokens at a position."""

    token: str  # the vocabulary's name for it (Ġ marks a leading space in byte-level BPE)
    id: int
    probability: float  # softmax of the logits over the whole vocabulary
    logit: float


@dataclass(frozen=True)
class Prediction:
    """The top-k tokens at one predicting position, most likely first."""

    position: int  # index into the tokens
    top: list[Candidate]


@dataclass(frozen=True)
class HeadPick:
    """In one layer, the head that gives one other token the largest weight from position."""

    position: int  # the predicting position (the query)
    layer: int
    head: int
    key: int  # the token it attends to most, other than itself
    weight: float


@dataclass(frozen=True)
class Predicted:
    """What `attn predict` shows."""

    text: str
    model: str
    model_type: str
    kind: str  # "next" (a decoder's next token) or "mask" (a masked LM's fills)
    tokens: list[Token]
    predictions: list[Prediction]
    heads: list[HeadPick]
    logits: np.ndarray  # (len(predictions), vocab), float32, in the order of predictions
    byte_level: bool = False  # the vocabulary spells bytes as characters (GPT-2's Ġ, Ċ)
    # an encoder-decoder's: the decoder's text; tokens, positions and heads are then its
    # tokens' (the decoder's self-attention), and source_tokens are text's, the encoder's
    target: str | None = None
    source_tokens: list[Token] | None = None

    @property
    def positions(self) -> list[int]:
        return [p.position for p in self.predictions]

    @property
    def read(self) -> str:
        """The text the tokens cover: the target's, if there is one."""
        return self.text if self.target is None else self.target


def mask_positions(model: Model, tokens: list[Token]) -> list[int]:
    """Where a masked LM's mask tokens sit in the text; refused when there are none."""
    ids = {i for name in MASK_TOKENS if (i := model.tokenizer.token_to_id(name)) is not None}
    if not ids:
        raise AttnError(f"{model.name}: its tokenizer has no mask token "
                        f"({' or '.join(MASK_TOKENS)}), so there is nothing for a masked LM "
                        "to fill")
    positions = [i for i, t in enumerate(tokens) if t.id in ids]
    if not positions:
        name = next(n for n in MASK_TOKENS if model.tokenizer.token_to_id(n) in ids)
        raise AttnError(f"{model.name} is a masked LM ({model.model_type}): it fills masks, and "
                        f"the text has none; put {name} where a word should go, e.g. "
                        f"\"The capital of France is {name}.\"")
    return positions


def softmax(row: np.ndarray) -> np.ndarray:
    """Probabilities from one row of logits: step 4b's softmax, in float64."""
    return attention.softmax(row[None, :].astype(np.float64))[0]


def top_k(model: Model, logits: np.ndarray, k: int) -> list[Candidate]:
    """The k largest logits of one position (ties: the lower id first)."""
    probs = softmax(logits)  # (vocab,)
    k = min(k, logits.size)
    # only the ids at or above the k-th largest logit are sorted, not the whole vocabulary
    kth = np.partition(logits, logits.size - k)[logits.size - k]
    near = np.flatnonzero(logits >= kth)
    order = near[np.lexsort((near, -logits[near]))][:k]
    return [Candidate(token=model.tokenizer.id_to_token(int(i)) or f"<id {int(i)}>", id=int(i),
                      probability=float(probs[i]), logit=float(logits[i])) for i in order]


def strongest_heads(weights: list[np.ndarray], position: int) -> list[HeadPick]:
    """Per layer, the head whose weight on its strongest other key (not the position itself)
    is the largest. weights: each layer's (n_heads, n, n). None for a one-token text."""
    picks = []
    for layer, w in enumerate(weights):
        if w.shape[-1] < 2:  # no other token to attend to
            continue
        row = w[:, position, :].astype(np.float64)  # (n_heads, n)
        row[:, position] = -1.0  # not itself
        keys = row.argmax(axis=1)  # (n_heads,)
        best = row[np.arange(len(keys)), keys]  # (n_heads,)
        head = int(best.argmax())
        picks.append(HeadPick(position, layer, head, int(keys[head]), float(best[head])))
    return picks


def check_target(model: Model, target: str | None) -> None:
    """Refuse an encoder-decoder without a target (its decoder predicts the token after one),
    and a target for any other model."""
    if target is not None and model.stack is None:
        model.for_target([], "self")  # a model with one stack refuses, saying why
    if target is None and model.stack is not None:
        raise RoleError(lambda n: f"{model.name} is an encoder-decoder ({model.model_type}): "
                        f"its decoder predicts the token after {n('target')}, with the text "
                        f"as the source; give {n('target')} (empty for its first token)")


def one_stack(model: Model, what: str) -> None:
    """Refuse an encoder-decoder for an analysis that follows one stack of layers to the LM
    head (knocking heads out, the logit lens, direct attribution)."""
    if model.stack is not None:
        raise AttnError(f"{what} does not run encoder-decoder models ({model.model_type}) yet: "
                        f"it follows one stack of layers to the LM head, and {model.name} has "
                        "two (an encoder, and a decoder that reads its output)")


def predict(text: str, model: Model, top: int = 5, max_tokens: int = MAX_TOKENS,
            progress: Progress | None = None, target: str | None = None) -> Predicted:
    """Run the whole model on text; the top tokens at each predicting position. progress is
    told of each layer run (Model.forward). An encoder-decoder needs target: text is its
    source, and the prediction is the decoder's next token after target."""
    check_target(model, target)
    head = model.lm_head()  # an unsupported family or a base model is refused before running
    tokens = model.tokens(text)
    check_token_count(tokens, max_tokens)
    source = None
    if target is not None:
        if target.strip():  # empty: the decoder predicts its first token
            check_text(target)
        source, decoder = tokens, cast("EncoderDecoder", model).for_target(tokens, "self")
        model, tokens = decoder, decoder.target_tokens(target)
        check_token_count(tokens, max_tokens)
    positions = [len(tokens) - 1] if model.causal else mask_positions(model, tokens)
    # the LM head is held through the run, and the logits (float32 or wider) follow it
    held = head.nbytes + len(positions) * model.vocab_size * 8
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
        h, weights = model.forward([t.id for t in tokens], progress=progress, held=held)
        logits = model.logits(h[positions], head)  # (positions, vocab); norms act per row
    if not np.isfinite(logits).all():
        raise AttnError(f"{model.name}: the logits overflow in float32")
    predictions = [Prediction(p, top_k(model, row, top)) for p, row in zip(positions, logits,
                                                                            strict=True)]
    picks = [pick for p in positions for pick in strongest_heads(weights, p)]
    from tokenizers import decoders

    return Predicted(text, model.name, model.model_type, "next" if model.causal else "mask",
                     tokens, predictions, picks, logits.astype(np.float32),
                     byte_level=isinstance(model.tokenizer.decoder, decoders.ByteLevel),
                     target=target, source_tokens=source)


def token_id(model: Model, name: str, role: str = "token") -> int:
    """The vocabulary id a user names for role: #ID, a token as the vocabulary spells it (Ġo),
    or text the tokenizer encodes as one token (" o", or ␣o: ␣ read as a space)."""
    if m := re.fullmatch(r"#(\d+)", name.strip()):
        i = int(m[1])
        if i >= model.vocab_size:
            raise RoleError(lambda n: f"{n(role)} {name!r}: there is no token id {i}; "
                                      f"{model.name}'s vocabulary has {model.vocab_size} "
                                      f"(#0 to #{model.vocab_size - 1})")
        return i
    found = model.tokenizer.token_to_id(name)
    if found is not None and found < model.vocab_size:
        return int(found)
    spelled = name
    for sign in SPACE_SIGNS:
        spelled = spelled.replace(sign, " ")
    pieces = encode(model.tokenizer, spelled, special_tokens=False) if spelled else []
    if len(pieces) == 1 and pieces[0].id < model.vocab_size:
        return pieces[0].id
    split = ", ".join(visible(t.text) for t in pieces[:10])
    return _no_token(name, split, len(pieces), role)


def _no_token(name: str, split: str, count: int, role: str) -> int:
    why = f"it encodes as {count} tokens ({split})" if count else "it encodes as no token"
    raise RoleError(lambda n: f"{n(role)} {visible(name)!r} is not one token of the "
                              f"vocabulary: {why}; give one of them, or #ID")
