"""Granite (IBM Granite 3.x dense): Llama's decoder with four multipliers.

As transformers' modeling_granite does it:

  - the embeddings are multiplied by embedding_multiplier before layer 0;
  - the scores are multiplied by attention_multiplier instead of divided by √head_dim (the
    Variant's scale: step 4 shows it);
  - each attention and MLP output is multiplied by residual_multiplier before it is added to
    the stream: h + r · o_proj(attn(norm(h))), then h + r · mlp(norm(h)) (a pre-norm block
    with its multiplier, ScaledPreNorm);
  - the logits are the LM head's divided by logits_scaling: predict reads the head's weights
    already divided, so the lens and every other reader of the logits see the model's.

Direct logit attribution (attn attribute), which splits the stream into the parts that were
added to it, refuses a Granite whose residual_multiplier is not 1 (lens.check_additive).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.blocks import (
    Activation,
    AttentionWeights,
    LMHead,
    MLPWeights,
    Normalise,
    PreNorm,
    mlp,
)
from attncli.models.config import Config
from attncli.models.layers import linear
from attncli.models.llama import Llama


def scaled_pre_norm(multiplier: float) -> type[PreNorm]:
    """A pre-norm block whose parts' outputs are multiplied by multiplier before each is
    added to the stream (residual_multiplier is the class's, for the analyses to read)."""

    class ScaledPreNorm(PreNorm):
        residual_multiplier = multiplier

        @staticmethod
        def finish(h: np.ndarray, z: np.ndarray, attn: AttentionWeights, m: MLPWeights,
                   normalise: Normalise, act: Activation) -> np.ndarray:
            r = h.dtype.type(multiplier)
            h = h + linear(z, attn.w_o, attn.b_o) * r  # (n, d)
            x = h if m.norm is None else normalise(h, m.norm)  # (n, d)
            return h + mlp(x, m, act) * r  # (n, d)

        @staticmethod
        def mlp_input(h: np.ndarray, added: np.ndarray, attn: AttentionWeights, m: MLPWeights,
                      normalise: Normalise) -> np.ndarray:
            h = h + added * h.dtype.type(multiplier)
            return h if m.norm is None else normalise(h, m.norm)  # (n, d)

    return ScaledPreNorm


class Granite(Llama):
    """granite (granite-3.x-2b/8b, base and instruct)."""

    model_types = ("granite",)
    slides = False  # Granite has no sliding window

    def configure(self, config: Config) -> None:
        """llama's, and the four multipliers."""
        super().configure(config)
        embedding, attention, residual, logits = (
            config.number(key, low=0.0, above=True, high=1e4, default=1.0)
            for key in ("embedding_multiplier", "attention_multiplier", "residual_multiplier",
                        "logits_scaling"))
        self.embedding_multiplier, self.attention_multiplier = embedding, attention
        self.residual_multiplier, self.logits_scaling = residual, logits
        self.block = scaled_pre_norm(self.residual_multiplier)

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Token embeddings times embedding_multiplier."""
        x = super().embed(ids, dtype)  # (n, d)
        return x * x.dtype.type(self.embedding_multiplier)

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """llama's, the scores times attention_multiplier."""
        return replace(super().variant(n, i, attn, x), scale=self.attention_multiplier)

    def lm_head(self) -> LMHead:
        """The final norm and the LM head's weights divided by logits_scaling."""
        head = super().lm_head()
        return replace(head, w=head.w / np.float32(self.logits_scaling))
