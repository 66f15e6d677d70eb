"""A layer's weights, typed per block kind, and the three ways a layer adds its parts back.

Every family's layer is an attention part and an MLP part around the residual stream h:

    pre-norm (GPT-2, Llama, T5, ...)  h = h + W_O(attn(norm(h)));  h = h + mlp(norm(h))
    post-norm (BERT, opt-350m)        h = norm(h + W_O(attn(h)));  h = norm(h + mlp(h))
    parallel (GPT-NeoX, Pythia)       h = h + W_O(attn(norm_1(h))) + mlp(norm_2(h))

Gemma 2 and OLMo 2 also normalise each part's output before adding it (out_norm); OLMo 2 has
no norm before the parts. A family picks a block and its norm (Model.normalise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from attncli.models.layers import add_fresh, linear


@dataclass(frozen=True)
class Norm:
    """A norm's weight (d,) and, for a LayerNorm, its bias (d,)."""

    w: np.ndarray
    b: np.ndarray | None = None


@dataclass(frozen=True)
class AttentionWeights:
    """One attention part: projections stored (in, out), so that q = x @ w_q + b_q."""

    w_q: np.ndarray  # (d_model, n_heads * head_dim)
    w_k: np.ndarray  # (d_model, n_kv_heads * head_dim)
    w_v: np.ndarray  # (d_model, n_kv_heads * head_dim)
    w_o: np.ndarray  # (n_heads * head_dim, d_model)
    b_q: np.ndarray | None = None  # (n_heads * head_dim,)
    b_k: np.ndarray | None = None  # (n_kv_heads * head_dim,)
    b_v: np.ndarray | None = None  # (n_kv_heads * head_dim,)
    b_o: np.ndarray | None = None  # (d_model,)
    norm: Norm | None = None  # pre-norm: on the part's input; post-norm: after its residual add
    out_norm: Norm | None = None  # on W_O's output, before the residual add
    q_norm: np.ndarray | None = None  # q and k normalised before RoPE (per head or full width)
    k_norm: np.ndarray | None = None


@dataclass(frozen=True)
class MLPWeights:
    """One MLP part: act(x @ w_up + b_up) @ w_down + b_down, or gated,
    (act(x @ w_gate + b_gate) * (x @ w_up + b_up)) @ w_down + b_down."""

    w_up: np.ndarray  # (d_model, d_ff)
    w_down: np.ndarray  # (d_ff, d_model)
    w_gate: np.ndarray | None = None  # (d_model, d_ff)
    b_up: np.ndarray | None = None  # (d_ff,)
    b_down: np.ndarray | None = None  # (d_model,)
    b_gate: np.ndarray | None = None  # (d_ff,)
    norm: Norm | None = None  # as AttentionWeights.norm
    out_norm: Norm | None = None  # on the MLP's output, before the residual add


@dataclass(frozen=True)
class LMHead:
    """The final norm and the LM head: logits = norm(x) @ w.T + b, where x is the last
    layer's output, or for BERT's masked-LM head first act(h @ w_in + b_in)."""

    norm: Norm
    w: np.ndarray  # (vocab, d_model)
    b: np.ndarray | None = None  # (vocab,)
    w_in: np.ndarray | None = None  # (d_model, d_model)
    b_in: np.ndarray | None = None  # (d_model,)
    act: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def nbytes(self) -> int:
        """What its arrays hold."""
        arrays = (self.norm.w, self.norm.b, self.w, self.b, self.w_in, self.b_in)
        return sum(a.nbytes for a in arrays if a is not None)


Normalise = Callable[[np.ndarray, Norm], np.ndarray]
Activation = Callable[[np.ndarray], np.ndarray]


def mlp(x: np.ndarray, w: MLPWeights, act: Activation) -> np.ndarray:
    """(n, d_model) -> (n, d_model) through the MLP, gated when w has a gate."""
    if w.w_gate is None:
        return linear(act(linear(x, w.w_up, w.b_up)), w.w_down, w.b_down)
    gate = act(linear(x, w.w_gate, w.b_gate))  # (n, ff)
    up = linear(x, w.w_up, w.b_up)  # (n, ff)
    return linear(gate * up, w.w_down, w.b_down)  # (n, d)


def _out(x: np.ndarray, norm: Norm | None, normalise: Normalise) -> np.ndarray:
    return x if norm is None else normalise(x, norm)  # a part without that norm: x as it is


class PreNorm:
    """Each part reads a norm of h (if it has one) and adds its output to h."""

    adds_parts = True  # h after the layer is h plus each part's output, as they are

    @staticmethod
    def attention_input(h: np.ndarray, attn: AttentionWeights, normalise: Normalise
                        ) -> np.ndarray:
        return _out(h, attn.norm, normalise)  # (n, d)

    @staticmethod
    def finish(h: np.ndarray, z: np.ndarray, attn: AttentionWeights, m: MLPWeights,
               normalise: Normalise, act: Activation) -> np.ndarray:
        """h after the layer, from the heads' joined output z (n, n_heads * head_dim)."""
        h = h + _out(linear(z, attn.w_o, attn.b_o), attn.out_norm, normalise)  # (n, d)
        x = _out(h, m.norm, normalise)  # (n, d)
        return h + _out(mlp(x, m, act), m.out_norm, normalise)  # (n, d)

    @staticmethod
    def mlp_input(h: np.ndarray, added: np.ndarray, attn: AttentionWeights, m: MLPWeights,
                  normalise: Normalise) -> np.ndarray:
        """What the MLP reads, from h entering the layer and what the attention part added."""
        return _out(h + added, m.norm, normalise)  # (n, d)


class PostNorm:
    """Each part reads h and the sum h + its output is normalised."""

    adds_parts = False  # the stream is normalised after each part: no part's output stays

    @staticmethod
    def attention_input(h: np.ndarray, attn: AttentionWeights, normalise: Normalise
                        ) -> np.ndarray:
        return h

    @staticmethod
    def finish(h: np.ndarray, z: np.ndarray, attn: AttentionWeights, m: MLPWeights,
               normalise: Normalise, act: Activation) -> np.ndarray:
        assert attn.norm is not None and m.norm is not None
        h = normalise(add_fresh(linear(z, attn.w_o, attn.b_o), h), attn.norm)  # (n, d)
        return normalise(add_fresh(mlp(h, m, act), h), m.norm)  # (n, d)

    @staticmethod
    def mlp_input(h: np.ndarray, added: np.ndarray, attn: AttentionWeights, m: MLPWeights,
                  normalise: Normalise) -> np.ndarray:
        assert attn.norm is not None
        return normalise(h + added, attn.norm)  # (n, d)


class Parallel:
    """Both parts read h, each through its own norm, and both outputs are added at once."""

    adds_parts = True
    attention_input = PreNorm.attention_input

    @staticmethod
    def finish(h: np.ndarray, z: np.ndarray, attn: AttentionWeights, m: MLPWeights,
               normalise: Normalise, act: Activation) -> np.ndarray:
        a = linear(z, attn.w_o, attn.b_o)  # (n, d)
        return mlp(_out(h, m.norm, normalise), m, act) + a + h  # (n, d)

    @staticmethod
    def mlp_input(h: np.ndarray, added: np.ndarray, attn: AttentionWeights, m: MLPWeights,
                  normalise: Normalise) -> np.ndarray:
        return _out(h, m.norm, normalise)  # (n, d)


Block = type[PreNorm] | type[PostNorm] | type[Parallel]
