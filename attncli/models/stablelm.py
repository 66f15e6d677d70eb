"""StableLM (stablelm-3b-4e1t, StableLM 2): Llama's decoder with LayerNorms and partial RoPE.

As transformers' modeling_stablelm does it:

  - input_layernorm, post_attention_layernorm and the final norm are LayerNorms with biases
    (layer_norm_eps);
  - only the first int(head_dim · partial_rotary_factor) dimensions of each query and key are
    rotated (a quarter by default), the rest pass through;
  - q, k and v have biases with use_qkv_bias; o never has one; the MLP is SiLU-gated;
  - with qk_layernorm (StableLM 2 12B) each head has its own LayerNorm over head_dim, with a
    weight and no bias, on its query and on its key before RoPE: the Variant's qk_norm,
    the head's own weights;
  - with use_parallel_residual the attention and the MLP both read input_layernorm's output
    and are added to the stream at once (no post_attention_layernorm).

The LM head (predict) is the final norm, then lm_head (untied by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Table
from attncli.models.blocks import AttentionWeights, Norm, Parallel, PreNorm
from attncli.models.config import Config
from attncli.models.layers import HeldNorm, held_layer_norm, layer_norm
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama
from attncli.models.rope import RopeScaling, partial_factor

L = "layers.{i}."
NORMS = ("ln_attn", "ln_mlp", "final_norm")
TABLE: Table = {
    **{k: v for k, v in LLAMA.items() if k not in ("b_o", "b_gate", "b_up", "b_down")},
    **{k + "_b": (LLAMA[k][0].replace(".weight", ".bias"), ("d",)) for k in NORMS},
    "q_head_norm": (L + "self_attn.q_layernorm.norms.{h}.weight", ("hd",)),
    "k_head_norm": (L + "self_attn.k_layernorm.norms.{h}.weight", ("hd",)),
}
QKV_BIASES = ("b_q", "b_k", "b_v")
PARALLEL = {"ln_mlp": (L + "input_layernorm.weight", ("d",)),  # one norm feeds both parts
            "ln_mlp_b": (L + "input_layernorm.bias", ("d",))}


NormFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (x, weight) -> normalised x


@dataclass(frozen=True)
class PerHeadNorm:
    """Each head's own norm (a weight row, no bias) over head_dim on its query and key:
    q_w (n_heads, hd), k_w (n_kv_heads, hd), by norm(x, w). Called on every head at once,
    (..., heads, n, hd); for_head gives the callable for one head's (n, hd)."""

    q_w: np.ndarray
    k_w: np.ndarray
    norm: NormFn

    def __call__(self, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.norm(q, self.q_w[:, None, :]), self.norm(k, self.k_w[:, None, :])

    def for_head(self, head: int, kv_head: int
                 ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        q_w, k_w = self.q_w[head], self.k_w[kv_head]
        return lambda q, k: (self.norm(q, q_w), self.norm(k, k_w))


def per_head_variant(plain: Variant, attn: AttentionWeights, norm: NormFn) -> Variant:
    """plain with attn's per-head q and k norm weights (rows) as its qk_norm, if it has them."""
    if attn.q_norm is None or attn.k_norm is None:
        return plain
    return replace(plain, qk_norm=PerHeadNorm(attn.q_norm, attn.k_norm, norm))


def one_head(variant: Variant, head: int, group: int) -> Variant | None:
    """A per-head qk_norm's Variant as one head sees it (group: query heads per key/value
    head); None for any other Variant."""
    norm = variant.qk_norm
    if not isinstance(norm, PerHeadNorm):
        return None
    return replace(variant, qk_norm=norm.for_head(head, head // group))


class StableLm(Llama):
    """stablelm (stablelm-3b-4e1t, stablelm-2-1_6b, stablelm-2-12b)."""

    model_types = ("stablelm",)
    table = TABLE
    slides = False  # StableLM has no sliding window

    def configure(self, config: Config) -> None:
        """llama's dimensions, LayerNorms, partial RoPE, q/k/v biases, per-head q/k norms and
        the parallel block, each from a StableLmConfig."""
        super().configure(config)
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-5)
        self.qk_layernorm = config.boolean("qk_layernorm", default=False)
        bias = config.boolean("use_qkv_bias", default=False)
        parallel = config.boolean("use_parallel_residual", default=False)
        self.block = Parallel if parallel else PreNorm
        dropped = (*QKV_BIASES * (not bias),
                   *("q_head_norm", "k_head_norm") * (not self.qk_layernorm))
        self.table = {**{k: v for k, v in TABLE.items() if k not in dropped},
                      **(PARALLEL if parallel else {})}

    def rope_scaling(self, config: Config) -> RopeScaling:
        """RoPE over the first partial_rotary_factor of each head (a quarter by default)."""
        factor = partial_factor(config, "partial_rotary_factor", default=0.25)
        return RopeScaling(config, self.head_dim, partial_rotary_factor=factor)

    def load_attention(self, i: int, dtype: type = np.float32, **names: Any
                       ) -> AttentionWeights:
        """llama's, with each head's q and k LayerNorm weights stacked as rows."""
        attn = super().load_attention(i, dtype, **names)
        if not self.qk_layernorm:
            return attn
        q = np.stack([self.tensor("q_head_norm", dtype, i, h=h) for h in range(self.n_heads)])
        k = np.stack([self.tensor("k_head_norm", dtype, i, h=h)
                      for h in range(self.n_kv_heads)])
        return replace(attn, q_norm=q, k_norm=k)  # (n_heads, hd), (n_kv_heads, hd)

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """RoPE and the causal mask, and with qk_layernorm each head's own q/k LayerNorm."""
        plain = super().variant(n, i, replace(attn, q_norm=None, k_norm=None), x)
        return per_head_variant(plain, attn, lambda t, w: layer_norm(
            t, w, np.zeros_like(w), self.eps))

    def head_variant(self, variant: Variant, head: int) -> Variant:
        """The layer's Variant with head's own q norm and its key/value head's k norm."""
        own = one_head(variant, head, self.n_heads // self.n_kv_heads)
        return own if own is not None else super().head_variant(variant, head)

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """LayerNorm."""
        assert norm.b is not None
        return layer_norm(x, norm.w, norm.b, self.eps)

    def held_norm(self, x: np.ndarray, norm: Norm) -> HeldNorm:
        return held_layer_norm(x, norm.w, norm.b, self.eps)
