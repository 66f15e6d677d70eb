"""A decoder's key/value cache: one step runs only the new tokens through every layer.

In a decoder a token's query looks only at the keys before it (the causal mask), so the
rows of the earlier tokens never change when a token is added: their keys and values,
kept per layer, are all a new token needs from the past. A step takes the new tokens at
positions p.. and, in every layer, works out only their q, k and v (embedding at its
position, RoPE at its position, the family's qk-norm, scale and soft-cap as in a full pass),
appends k and v to the layer's cache, and lets the new queries attend over every key so
far, with the mask's rows for queries at p.. (the causal mask and any sliding window). A
prefill is the same step with the whole prompt (p = 0): the full forward pass itself.

The rows are those of one full forward pass over the whole sequence, to float rounding. One
exception is handled by refilling: RoPE whose speeds depend on the length (dynamic above
max_position_embeddings, longrope above original_max_position_embeddings) turns the earlier
keys differently once the text grows past that length, so the cache is worked out again from
every token when the speeds change (each such step then costs a full pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from attncli.attention import Rotate, Variant
from attncli.errors import AttnError
from attncli.models.base import NO_HOOKS, Hooks, Model
from attncli.models.blocks import AttentionWeights, LMHead, MLPWeights


def refusal(model: Model) -> str | None:
    """Why model cannot generate with a cache, in one line, or None when it can."""
    if model.stack is not None:
        return (f"{model.name} is a {model.model_type} encoder-decoder: its decoder also reads "
                "the encoder's output, which this cache does not hold (decoder-only models "
                "generate)")
    if not model.causal:
        return (f"{model.name} is an encoder ({model.model_type}): each token sees the whole "
                "text, later tokens too, so a new token would change every earlier row and "
                "there is nothing to cache")
    return None


def mask_rows(start: int, m: int, window: int | None) -> np.ndarray | None:
    """(m - start, m) bool, True where a query at start.. may not see a key: the later keys,
    and with a window the keys `window` or more places back. None when every key is seen."""
    queries = np.arange(start, m)[:, None]  # (t, 1)
    keys = np.arange(m)[None, :]  # (1, m)
    hidden = keys > queries  # (t, m)
    if window is not None:
        hidden |= keys <= queries - window
    return hidden if hidden.any() else None


def shifted(rotate: Rotate | None, start: int, m: int) -> Rotate | None:
    """A rotation for rows at positions start..m-1, from the family's one for 0..m-1: the
    rows are set at their positions in an (m, head_dim) array, turned, and taken back out."""
    if rotate is None or start == 0:
        return rotate

    def turn(t: np.ndarray) -> np.ndarray:  # (..., m - start, hd) -> the same
        full = np.zeros((*t.shape[:-2], m, t.shape[-1]), dtype=t.dtype)  # (..., m, hd)
        full[..., start:, :] = t
        return rotate(full)[..., start:, :]

    return turn


class KVCache:
    """Each layer's keys (after RoPE) and values of the tokens so far, (n_kv_heads, length,
    head_dim) each; the arrays grow by doubling, so appending costs the new rows only."""

    def __init__(self, n_layers: int, n_kv_heads: int, head_dim: int, dtype: type) -> None:
        self.shape = (n_kv_heads, head_dim)
        self.dtype = dtype
        self.keys: list[np.ndarray] = [self._empty(0)] * n_layers
        self.values: list[np.ndarray] = [self._empty(0)] * n_layers
        self.length = 0  # tokens held, in every layer, between steps

    def _empty(self, rows: int) -> np.ndarray:
        return np.zeros((self.shape[0], rows, self.shape[1]), dtype=self.dtype)

    def extend(self, layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append the new tokens' k and v (n_kv_heads, t, head_dim) to layer's cache: every
        token's keys and values so far (views of the cache, (n_kv_heads, length + t, hd))."""
        start, end = self.length, self.length + k.shape[-2]
        for store in (self.keys, self.values):
            if store[layer].shape[1] < end:
                grown = self._empty(max(end, 2 * store[layer].shape[1], 16))
                grown[:, :start] = store[layer][:, :start]
                store[layer] = grown
        self.keys[layer][:, start:end] = k
        self.values[layer][:, start:end] = v
        return self.keys[layer][:, :end], self.values[layer][:, :end]

    def layer(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Layer i's keys and values so far, (n_kv_heads, length, head_dim) each."""
        return self.keys[i][:, :self.length], self.values[i][:, :self.length]


class Decoder:
    """A decoder run one step at a time over a KVCache, its weights read once and held.

        decoder = Decoder(model)
        h = decoder.step(prompt_ids)       # the prefill: (n, d_model)
        h = decoder.step([next_id])        # one new token: (1, d_model)
        logits = decoder.logits(h[-1:])    # (1, vocab)
    """

    def __init__(self, model: Model, dtype: type = np.float32) -> None:
        why = refusal(model)
        if why is not None:
            raise AttnError(why)
        self.model = model
        self.dtype = dtype
        self.ids: list[int] = []
        self.cache = KVCache(model.n_layers, model.n_kv_heads, model.head_dim, dtype)
        self.weights: list[tuple[AttentionWeights, MLPWeights]] = []
        self.head: LMHead | None = None
        self.speeds: tuple | None = None  # RoPE speeds the cache's keys were turned with

    def layer_weights(self, i: int) -> tuple[AttentionWeights, MLPWeights]:
        """Layer i's weights, read on first use and held (never in reused buffers)."""
        while len(self.weights) <= i:
            j = len(self.weights)
            self.weights.append((self.model.load_attention(j, self.dtype),
                                 self.model.load_rest(j, self.dtype, held=True)))
        return self.weights[i]

    def rope_speeds(self, n: int) -> tuple | None:
        """The length-dependent RoPE speeds for n tokens (dynamic, longrope), else None."""
        # Gemma 3: one RoPE per layer kind (scalings), any of which may move
        every = [*getattr(self.model, "scalings", {}).values(),
                 getattr(self.model, "scaling", None)]
        moving = [s for s in every if s is not None and s.kind in ("dynamic", "longrope")]
        if not moving:
            return None
        found = [s.frequencies(n) for s in moving]
        return tuple((speeds.tobytes(), factor) for speeds, factor in found)

    def step(self, ids: Sequence[int], *, keep: list[np.ndarray] | None = None,
             hooks: Hooks = NO_HOOKS) -> np.ndarray:
        """Run the new tokens ids through every layer over the cache: their last layer's
        output (t, d_model), before the final norm. keep gets each layer's weights of the new
        queries over every key so far, (n_heads, t, m); hooks see the new rows (Hooks), the
        keys and values as the whole cache. When the RoPE speeds change with the length the
        cache is worked out again from every token (then keep has every row)."""
        model = self.model
        new = [int(i) for i in ids]
        every = model.check_ids(self.ids + new)  # (m,) every token, in the vocabulary
        m = len(every)
        speeds = self.rope_speeds(m)
        if self.ids and speeds != self.speeds:  # the earlier keys turn differently now
            self.cache = KVCache(model.n_layers, model.n_kv_heads, model.head_dim, self.dtype)
            self.ids = []
        start = len(self.ids)
        if start == 0:
            model.check_memory(m, [model.n_layers - 1], 0, kept=model.n_layers * model.n_heads)
        if model.order == "rope":  # positions enter by turning q and k: the new tokens alone
            h = model.embed(every[start:], self.dtype)  # (t, d_model)
        else:  # learned positions: each token's row at its own position
            h = model.embed(every, self.dtype)[start:]  # (t, d_model)
        t = m - start
        for i in range(model.n_layers):
            if hooks.residual is not None:
                hooks.residual(i, h)
            attn, rest = self.layer_weights(i)
            x = model.block.attention_input(h, attn, model.normalise)  # (t, d_model)
            variant: Variant = replace(model.variant(t, i, attn, x),
                                       rotate=shifted(model.rotation(m, i), start, m),
                                       mask=mask_rows(start, m, model.window(i)))
            if model.order == "alibi":  # the bias by distance: the new queries' rows of it
                bias = model.variant(m, i, attn, x).score_bias
                assert bias is not None
                variant = replace(variant, score_bias=bias[..., start:, :])
            z = model.all_heads(x, attn, variant, i, hooks, keep, past=self.cache.extend)
            h = model.finish(i, h, z, attn, rest, hooks)
        if hooks.residual is not None:
            hooks.residual(model.n_layers, h)
        self.cache.length = m
        self.ids = [int(i) for i in every]
        self.speeds = speeds
        return h

    def logits(self, h: np.ndarray) -> np.ndarray:
        """(t, vocab) logits of the rows h (step's output), the LM head read once."""
        if self.head is None:
            self.head = self.model.lm_head()
        return self.model.logits(h, self.head)
