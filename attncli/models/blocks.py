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

from attncli.attention import softmax
from attncli.models.layers import Packed, add_fresh, linear


@dataclass(eq=False)
class Norm:
    """A norm's weight (d,) and, for a LayerNorm, its bias (d,)."""

    w: np.ndarray
    b: np.ndarray | None = None


@dataclass(eq=False)
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


@dataclass(eq=False)
class MLPWeights:
    """One MLP part: act(x @ w_up + b_up) @ w_down + b_down, or gated,
    (act(x @ w_gate + b_gate) * (x @ w_up + b_up)) @ w_down + b_down."""

    w_up: np.ndarray | Packed  # (d_model, d_ff)
    w_down: np.ndarray | Packed  # (d_ff, d_model)
    w_gate: np.ndarray | Packed | None = None  # (d_model, d_ff)
    b_up: np.ndarray | None = None  # (d_ff,)
    b_down: np.ndarray | None = None  # (d_model,)
    b_gate: np.ndarray | None = None  # (d_ff,)
    norm: Norm | None = None  # as AttentionWeights.norm
    out_norm: Norm | None = None  # on the MLP's output, before the residual add


@dataclass(eq=False)
class Experts(MLPWeights):
    """A mixture-of-experts MLP part (Mixtral, Qwen-MoE): a router scores every expert for
    each token, softmax(x @ router), the token goes through its top_k experts (each a gated
    MLP, stacked here: w_gate and w_up (E, d_model, ff), w_down (E, ff, d_model)), and their
    outputs are added, each times its probability (divided by the top_k's sum when
    renormalise). A shared expert, if any, reads every token and is added times
    sigmoid(x @ shared_gate). seen, if set, is told each token's experts and weights."""

    router: np.ndarray | None = None  # (d_model, n_experts)
    top_k: int = 1
    renormalise: bool = True
    shared: MLPWeights | None = None
    shared_gate: np.ndarray | None = None  # (d_model, 1)
    seen: Callable[[np.ndarray, np.ndarray], None] | None = None


@dataclass(eq=False)
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
    """(n, d_model) -> (n, d_model) through the MLP, gated when w has a gate; a mixture of
    experts (Experts) through the experts each token is routed to."""
    if isinstance(w, Experts):
        return experts(x, w, act)
    if w.w_gate is None:
        return linear(act(linear(x, w.w_up, w.b_up)), w.w_down, w.b_down)
    gate = act(linear(x, w.w_gate, w.b_gate))  # (n, ff)
    up = linear(x, w.w_up, w.b_up)  # (n, ff)
    return linear(gate * up, w.w_down, w.b_down)  # (n, d)


def route(x: np.ndarray, w: Experts) -> tuple[np.ndarray, np.ndarray]:
    """Each row of x (..., d_model) routed: its top_k experts, the most probable first
    (..., top_k) int, and their weights (..., top_k): the softmax of the router's logits over
    every expert, kept for the top_k, divided by their sum when w.renormalise."""
    assert w.router is not None
    probs = softmax(x @ w.router)  # (..., E)
    ids = np.argsort(-probs, axis=-1, kind="stable")[..., :w.top_k]  # (..., k)
    weights = np.take_along_axis(probs, ids, axis=-1)  # (..., k)
    if w.renormalise:
        weights = weights / weights.sum(axis=-1, keepdims=True)
    return ids, weights


def experts(x: np.ndarray, w: Experts, act: Activation) -> np.ndarray:
    """(..., n, d_model) -> the same, each row through its own top_k experts (route), plus
    the gated shared expert if w has one. Only the rows routed to an expert go through it."""
    ids, weights = route(x, w)  # (..., n, k) each
    if w.seen is not None:
        w.seen(ids, weights)
    flat, flat_ids = x.reshape(-1, x.shape[-1]), ids.reshape(-1, w.top_k)  # (N, d), (N, k)
    flat_weights = weights.reshape(-1, w.top_k)  # (N, k)
    out = np.zeros_like(flat)  # (N, d)
    up, down, gate = w.w_up, w.w_down, w.w_gate
    assert isinstance(up, np.ndarray) and isinstance(down, np.ndarray) and \
        not isinstance(gate, Packed), "the experts' weights are stacked arrays"
    for e in np.unique(flat_ids):
        rows, slot = np.nonzero(flat_ids == e)  # the rows that chose e, and in which place
        one = MLPWeights(up[e], down[e], None if gate is None else gate[e])
        out[rows] += mlp(flat[rows], one, act) * flat_weights[rows, slot][:, None]
    if w.shared is not None:
        shared = mlp(flat, w.shared, act)  # (N, d)
        if w.shared_gate is not None:
            shared = shared * (0.5 + 0.5 * np.tanh(0.5 * (flat @ w.shared_gate)))  # sigmoid
        out += shared
    return out.reshape(x.shape)


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
