"""OLMo (v1): Llama's decoder with LayerNorms that have no weight and no bias.

As transformers' modeling_olmo does it: every norm (before the attention, before the MLP,
and the final one) is a LayerNorm without learnt parameters, eps 1e-5, worked out in float32;
the rest is llama.py's (RoPE, grouped-query attention, a SiLU-gated MLP, no biases unless
attention_bias). clip_qkv (OLMo 1.7: q, k and v clamped to ±clip_qkv) is refused: attncli has
no step that shows a clamp.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attncli.models.base import Table
from attncli.models.blocks import AttentionWeights, LMHead, MLPWeights, Norm
from attncli.models.config import Config
from attncli.models.layers import HeldNorm, held_layer_norm
from attncli.models.llama import TABLE as LLAMA
from attncli.models.llama import Llama

EPS = 1e-5  # OlmoLayerNorm's, fixed
TABLE: Table = {k: v for k, v in LLAMA.items() if k not in ("ln_attn", "ln_mlp", "final_norm")}
PLAIN = Norm(np.ones(0, dtype=np.float32))  # a norm with no parameters: normalise ignores w


class Olmo(Llama):
    """olmo (OLMo-1B, OLMo-7B)."""

    model_types = ("olmo",)
    table = TABLE

    def configure(self, config: Config) -> None:
        """llama's, and clip_qkv refused."""
        super().configure(config)
        clip = config.optional_number("clip_qkv", low=0, above=True, high=1e30)
        config.check(clip is None, f"'clip_qkv' {clip}: q, k and v clamped (OLMo 1.7) is "
                     "not supported")

    @classmethod
    def predicts(cls) -> tuple[str, ...]:
        return cls.model_types  # the final norm has no tensor to name in the table

    def load_attention(self, i: int, dtype: type = np.float32, **names: object
                       ) -> AttentionWeights:
        from dataclasses import replace

        return replace(super().load_attention(i, dtype, **names), norm=PLAIN)

    def load_rest(self, i: int, dtype: type = np.float32, **names: Any) -> MLPWeights:
        from dataclasses import replace

        return replace(super().load_rest(i, dtype, **names), norm=PLAIN)

    def lm_head(self) -> LMHead:
        """The parameter-free final norm, then lm_head.weight (or the tied embeddings)."""
        return LMHead(PLAIN, self.head_weight(self.d_model))

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """LayerNorm without weight or bias, rounded to float32 as transformers keeps it even
        in a float64 model (worked out in float64, then rounded), back in x's dtype."""
        x64 = x.astype(np.float32, copy=False).astype(np.float64)
        centred = x64 - x64.mean(axis=-1, keepdims=True)
        var = np.square(centred).mean(axis=-1, keepdims=True)
        return (centred / np.sqrt(var + EPS)).astype(np.float32).astype(x.dtype, copy=False)

    def held_norm(self, x: np.ndarray, norm: Norm) -> HeldNorm:
        return held_layer_norm(x, np.ones(x.shape[-1]), None, EPS)
