"""Does a head matter? Knock it out, or patch it in from another text, and measure the change.

Attention weights say where a head looks, not whether the model's prediction depends on it.
These interventions answer the second question, on the model's own forward pass:

- knocking out (ablation): a head's output, before W_O, is replaced by zeros, or by its mean
  over the text's positions, and the rest of the model runs as usual;
- patching: the model runs on a corrupted text, with one head's output taken from the run on
  the clean text, position by position.

The effect of a head is read at the predicting position (a decoder's last token, a masked
LM's mask): the change in the log-probability of the target token, or, given a token to
compare against, the change in the difference of their logits; for patching, how much of the
clean run's logit difference the head restores.

`heads_effect` knocks out every head, one at a time, without re-running the layers below the
one knocked out: a run's residual stream is saved as it enters each layer, and each layer's
weights are read once, for every knocked-out stream that passes through it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.errors import AttnError, RoleError
from attncli.explain import MAX_TOKENS, check_token_count
from attncli.files import check_memory
from attncli.heads import sink_candidates
from attncli.models.read_ahead import usable_cpus
from attncli.predict import (
    Predicted,
    Prediction,
    mask_positions,
    one_stack,
    predict,
    token_id,
    top_k,
)
from attncli.tokens import Token

if TYPE_CHECKING:
    from attncli.models.base import Hooks, Model, Progress
    from attncli.models.blocks import AttentionWeights, LMHead, MLPWeights

MODES = ("zero", "mean")  # what a knocked-out head's output becomes
HeadId = tuple[int, int]  # (layer, head), both from 0
WORK_BYTES = 256 * 1024**2  # the streams run through a layer together use about this much


def parse_heads(spec: str, n_layers: int, n_heads: int) -> list[HeadId]:
    """'3.1,5.11' -> [(3, 1), (5, 11)]: LAYER.HEAD pairs, each in range, each once."""
    pairs: list[HeadId] = []
    for part in (p.strip() for p in spec.split(",")):
        layer, dot, head = part.partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise _bad_pair(f"'{part}' is not LAYER.HEAD (such as 3.1: layer 3, head 1; "
                            "several: 3.1,5.11)")
        pair = (int(layer), int(head))
        if pair[0] >= n_layers or pair[1] >= n_heads:
            raise _bad_pair(f"layer {pair[0]}, head {pair[1]} is out of range: the model has "
                            f"{n_layers} layers and {n_heads} heads (from 0)")
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def _bad_pair(why: str) -> RoleError:
    return RoleError(lambda n: f"{n('ablate')}: {why}")


def check_mode(mode: str) -> str:
    """zero or mean."""
    if mode not in MODES:
        raise RoleError(lambda n: f"{n('ablate_mode')} must be {' or '.join(MODES)}, not "
                        f"'{mode}'")
    return mode


def knocked_out(z: np.ndarray, mode: str) -> np.ndarray:
    """One head's output z (n, head_dim) as a knock-out leaves it: zeros, or each position
    given the head's mean output over the positions."""
    if mode == "zero":
        return np.zeros_like(z)
    return np.broadcast_to(z.mean(axis=-2, keepdims=True), z.shape)


def predicting_position(model: Model, tokens: list[Token]) -> int:
    """Where an effect is measured: a decoder's last token, or a masked LM's one mask."""
    if model.causal:
        return len(tokens) - 1
    masks = mask_positions(model, tokens)
    if len(masks) > 1:
        raise AttnError(f"the text has {len(masks)} masks; the effect of a head is measured on "
                        "one prediction: keep one mask")
    return masks[0]


# ---- knocking heads out of one run ----


@dataclass(frozen=True)
class Ablated:
    """What `attn predict --ablate` shows: the prediction as the model makes it, and with the
    heads knocked out (each top token's probability in the other run beside it)."""

    clean: Predicted
    heads: list[HeadId]
    mode: str
    predictions: list[Prediction]  # with the heads knocked out, at clean's positions
    before: list[list[float]]  # per position: each ablated top token's clean probability
    after: list[list[float]]  # per position: each clean top token's ablated probability


def knock_out_hook(heads: Sequence[HeadId], mode: str) -> Callable[[int, np.ndarray], np.ndarray]:
    """A head_outputs hook that knocks out heads (all at once, in one run)."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def hook(layer: int, z: np.ndarray) -> np.ndarray:  # z (..., n_heads, n, head_dim)
        if layer not in by_layer:
            return z
        z = z.copy()
        for head in by_layer[layer]:
            z[..., head, :, :] = knocked_out(z[..., head, :, :], mode)
        return z

    return hook


def ablate(text: str, model: Model, heads: list[HeadId], mode: str = "zero", top: int = 5,
           max_tokens: int = MAX_TOKENS, progress: Progress | None = None) -> Ablated:
    """predict(), then the same with heads knocked out (mode: zero or mean)."""
    from attncli.models.base import Hooks
    from attncli.predict import softmax

    one_stack(model, "knocking heads out")
    clean = predict(text, model, top=top, max_tokens=max_tokens, progress=progress)
    positions = clean.positions
    head = model.lm_head()
    with np.errstate(over="ignore", invalid="ignore"):
        h, _ = model.forward([t.id for t in clean.tokens],
                             hooks=Hooks(head_outputs=knock_out_hook(heads, mode)),
                             held=head.nbytes + len(positions) * model.vocab_size * 8)
        logits = model.logits(h[positions], head)  # (positions, vocab)
    if not np.isfinite(logits).all():
        raise AttnError(f"{model.name}: the logits overflow in float32")
    predictions, before, after = [], [], []
    for p, row, clean_row in zip(clean.predictions, logits, clean.logits, strict=True):
        predictions.append(Prediction(p.position, top_k(model, row, top)))
        now, then = softmax(row), softmax(clean_row)
        before.append([float(then[c.id]) for c in predictions[-1].top])
        after.append([float(now[c.id]) for c in p.top])
    return Ablated(clean, heads, mode, predictions, before, after)


# ---- every head, one at a time ----


@dataclass(frozen=True)
class HeadEffect:
    """One head's effect, and where it looks from the predicting position."""

    layer: int
    head: int
    effect: float  # see Effects.measure
    key: int  # the token it gives the most weight, leaving out Effects.left_out
    weight: float  # that weight
    left_out: float  # the weight it gives the tokens in Effects.left_out


@dataclass(frozen=True)
class Effects:
    """What `attn heads --effect` shows."""

    text: str
    model: str
    model_type: str
    kind: str  # "next" (a decoder's next token) or "mask" (a masked LM's fill)
    tokens: list[Token]
    position: int  # the predicting position
    target: int  # the token id whose log-probability (or logit difference) is measured
    target_token: str
    vs: int | None  # the token compared against, if any
    vs_token: str | None
    mode: str  # zero, mean (knocking out) or patch
    measure: str  # "logprob": Δ log p(target); "logit_diff": Δ (logit target − logit vs);
    #               "restored": (patched − corrupted) / (clean − corrupted) logit difference
    clean: float  # the clean run's log p(target), or its logit difference
    corrupted: float | None  # patching: the corrupted run's logit difference
    corrupt_text: str | None
    grid: np.ndarray  # (n_layers, n_heads) each head's effect
    ranked: list[HeadEffect]  # every head, the largest |effect| first
    most_weight: HeadEffect  # the head giving one token the most weight from the position
    byte_level: bool = False
    # the tokens a head's key is not chosen from: the position itself and the sink
    # candidates (first and special tokens), where heads put weight they do not use
    left_out: tuple[int, ...] = ()

    @property
    def strongest(self) -> HeadEffect:
        """The head whose change is the largest."""
        return self.ranked[0]

    @property
    def weight_rank(self) -> int:
        """Where most_weight stands in ranked, from 1."""
        return 1 + [(e.layer, e.head) for e in self.ranked].index(
            (self.most_weight.layer, self.most_weight.head))

    @property
    def clean_probability(self) -> float:
        """p(target) as the model runs (measure logprob)."""
        return float(np.exp(self.clean))


@dataclass(frozen=True)
class _Run:
    """A run's residual stream entering each layer (n_layers + 1: the last is the output),
    each head's output before W_O per layer, and each layer's attention weights."""

    residual: list[np.ndarray]  # (n, d_model) each
    outputs: list[np.ndarray]  # (n_heads, n, head_dim) each
    weights: list[np.ndarray]  # (n_heads, n, n) each


def _record(model: Model, ids: list[int], held: int) -> _Run:
    from attncli.models.base import Hooks

    residual: list[np.ndarray] = []
    outputs: list[np.ndarray] = []

    def keep(layer: int, z: np.ndarray) -> np.ndarray:
        outputs.append(z.copy())
        return z

    _, weights = model.forward(ids, held=held, hooks=Hooks(
        head_outputs=keep, residual=lambda _, h: residual.append(h)))
    return _Run(residual, outputs, weights)


Swap = Callable[[int, int, np.ndarray], np.ndarray]  # (layer, head, its output) -> new output


def sweep(model: Model, base: _Run, swap: Swap, progress: Progress | None = None,
          held: int = 0) -> np.ndarray:
    """The residual stream leaving the last layer, (n_layers * n_heads, n, d_model), layer
    by layer and head by head: base's run with that one head's output in that one layer
    replaced by swap(layer, head, its output). Each new stream starts from base's stream
    entering its layer; each layer's weights are read once for every stream through it.
    held: bytes the caller keeps meanwhile (the LM head), weighed with the run."""
    n_layers, n_heads = model.n_layers, model.n_heads
    n, d = base.residual[0].shape
    per_stream = 4 * n * (4 * n_heads * n + 4 * max(model.d_ff, 3 * d) + 8 * d)  # bytes
    check_memory(held + 2 * n_layers * n_heads * n * d * 4 + WORK_BYTES,
                 f"{model.name}: knocking out each of {n_layers * n_heads} heads on {n} tokens")
    workers = usable_cpus()  # chunks run on threads: BLAS and numpy let go of the GIL
    streams = np.empty((0, n, d), np.float32)
    if progress is not None:
        progress(0, n_layers)
    with ThreadPoolExecutor(workers) as pool:
        for layer in range(n_layers):
            fresh = np.repeat(base.residual[layer][None].astype(np.float32), n_heads, axis=0)
            streams = np.concatenate([streams, fresh])  # (b, n, d)
            # each stream's head swapped in this layer, else -1
            swapped = np.concatenate([np.full(len(streams) - n_heads, -1), np.arange(n_heads)])
            attn, rest = model.load_attention(layer), model.load_rest(layer)
            chunk = max(1, min(WORK_BYTES // workers // per_stream, -(-len(streams) // workers)))
            for future in as_completed([
                    pool.submit(_step, model, layer, attn, rest, streams[start:start + chunk],
                                _swap_hook(swap, layer, swapped[start:start + chunk]))
                    for start in range(0, len(streams), chunk)]):
                future.result()
            if progress is not None:
                progress(layer + 1, n_layers)
    return streams


def _step(model: Model, layer: int, attn: AttentionWeights, rest: MLPWeights,
          streams: np.ndarray, hooks: Hooks) -> None:
    """Layer on some of the streams, in place."""
    streams[...] = model.layer_step(layer, streams, attn, rest, hooks)


def _swap_hook(swap: Swap, layer: int, heads: np.ndarray) -> Hooks:
    from attncli.models.base import Hooks

    def hook(at: int, z: np.ndarray) -> np.ndarray:  # z (b, n_heads, n, head_dim)
        if at != layer or not (heads >= 0).any():
            return z
        z = z.copy()
        for row in np.flatnonzero(heads >= 0):
            z[row, heads[row]] = swap(layer, int(heads[row]), z[row, heads[row]])
        return z

    return Hooks(head_outputs=hook)


def _readout(model: Model, head: LMHead, rows: np.ndarray, target: int, vs: int | None
             ) -> tuple[np.ndarray, np.ndarray]:
    """rows (b, d_model) of the last layer's output -> (log p(target), logit difference
    target − vs, or the target's logit without vs), (b,) each, in float64."""
    logprob, diff = np.empty(len(rows)), np.empty(len(rows))
    for start in range(0, len(rows), 64):
        with np.errstate(over="ignore", invalid="ignore"):
            logits = model.logits(rows[start:start + 64], head).astype(np.float64)  # (c, V)
        if not np.isfinite(logits).all():
            raise AttnError(f"{model.name}: the logits overflow in float32")
        top = logits.max(axis=1, keepdims=True)
        norm = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]  # log Σ exp
        logprob[start:start + 64] = logits[:, target] - norm
        diff[start:start + 64] = logits[:, target] - (0.0 if vs is None else logits[:, vs])
    return logprob, diff


def heads_effect(text: str, model: Model, *, mode: str = "zero", token: str | None = None,
                 vs: str | None = None, corrupt: str | None = None,
                 max_tokens: int = MAX_TOKENS, progress: Progress | None = None) -> Effects:
    """Each head's effect on the prediction at the predicting position: knocked out alone
    (mode zero or mean), or with corrupt, patched into the corrupted text's run from the
    clean one. token: the target (default: the clean run's top token); vs: the token it is
    compared against (patching's default: the corrupted run's top token)."""
    one_stack(model, "measuring each head's effect")
    head = model.lm_head()  # a family or checkpoint without one is refused before running
    tokens = model.tokens(text)
    check_token_count(tokens, max_tokens)
    position = predicting_position(model, tokens)
    ids = [t.id for t in tokens]
    clean = _record(model, ids, head.nbytes)
    target = token_id(model, token, "token") if token is not None else \
        _top_id(model, head, clean.residual[-1][position])
    vs_id = None if vs is None else token_id(model, vs, "vs")
    corrupted_value = None
    if corrupt is None:
        base, swap = clean, _knock(check_mode(mode))
    else:
        corrupt_tokens = model.tokens(corrupt)
        if len(corrupt_tokens) != len(tokens):
            raise RoleError(lambda n: f"{n('corrupt')} is {len(corrupt_tokens)} tokens and the "
                            f"text {len(tokens)}: patching takes each head's output position "
                            "by position, so the two need the same number of tokens")
        base = _record(model, [t.id for t in corrupt_tokens], head.nbytes)
        if vs_id is None:
            vs_id = _top_id(model, head, base.residual[-1][position])
            if vs_id == target:
                raise RoleError(lambda n: f"the text and {n('corrupt')} both predict "
                                f"'{_name(model, target)}': name the token to compare against "
                                f"({n('vs')})")
        mode = "patch"
        swap = _patch(clean)
    if vs_id == target:
        raise RoleError(lambda n: f"{n('vs')} is the target token itself: compare it with "
                        "another")
    clean_lp, clean_diff = _readout(model, head, clean.residual[-1][[position]], target, vs_id)
    out = sweep(model, base, swap, progress, held=head.nbytes)  # (L * H, n, d)
    lp, diff = _readout(model, head, out[:, position], target, vs_id)
    if mode == "patch":
        _, base_diff = _readout(model, head, base.residual[-1][[position]], target, vs_id)
        corrupted_value = float(base_diff[0])
        gap = float(clean_diff[0]) - corrupted_value
        if gap == 0:
            raise AttnError("the clean and corrupted texts give the same logit difference: "
                            "there is nothing for a head to restore")
        values, measure, clean_value = (diff - corrupted_value) / gap, "restored", \
            float(clean_diff[0])
    elif vs_id is not None:
        values, measure, clean_value = diff - clean_diff[0], "logit_diff", float(clean_diff[0])
    else:
        values, measure, clean_value = lp - clean_lp[0], "logprob", float(clean_lp[0])
    grid = values.reshape(model.n_layers, model.n_heads)
    left_out = tuple(sorted(set(sink_candidates(tokens)) | {position}))
    looks = _looks(clean.weights, tokens, position, left_out)
    every = [HeadEffect(layer, head, float(grid[layer, head]), *looks[layer][head])
             for layer in range(model.n_layers) for head in range(model.n_heads)]
    ranked = sorted(every, key=lambda e: (-abs(e.effect), e.layer, e.head))
    most_weight = max(every, key=lambda e: (e.weight, -e.layer, -e.head))
    from tokenizers import decoders

    return Effects(text, model.name, model.model_type, "next" if model.causal else "mask",
                   tokens, position, target,
                   _name(model, target), vs_id, None if vs_id is None else _name(model, vs_id),
                   mode, measure, clean_value, corrupted_value, corrupt, grid, ranked,
                   most_weight, byte_level=isinstance(model.tokenizer.decoder, decoders.ByteLevel),
                   left_out=left_out)


def _knock(mode: str) -> Swap:
    return lambda layer, head, z: knocked_out(z, mode)


def _patch(clean: _Run) -> Swap:
    return lambda layer, head, z: clean.outputs[layer][head]


def _top_id(model: Model, head: LMHead, row: np.ndarray) -> int:
    return int(np.argmax(model.logits(row[None], head)[0]))


def _name(model: Model, token: int) -> str:
    return model.tokenizer.id_to_token(token) or f"<id {token}>"


def _looks(weights: list[np.ndarray], tokens: list[Token], position: int,
           left_out: tuple[int, ...]) -> list[list[tuple[int, float, float]]]:
    """Per layer and head: the key given the most weight from position, leaving out the keys
    in left_out, that weight (-1, 0.0 when no other key is left), and the weight the left-out
    keys get together."""
    keys = [j for j in range(len(tokens)) if j not in left_out]
    found = []
    for w in weights:  # (n_heads, n, n)
        left = w[:, position, list(left_out)].sum(axis=1)  # (n_heads,)
        if not keys:
            found.append([(-1, 0.0, float(x)) for x in left])
            continue
        row = w[:, position, keys]  # (n_heads, k)
        best = row.argmax(axis=1)
        found.append([(keys[int(b)], float(row[h, b]), float(left[h]))
                      for h, b in enumerate(best)])
    return found
