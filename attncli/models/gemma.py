"""Gemma: Llama's decoder with scaled embeddings, (1 + w) RMSNorms and a GELU-tanh MLP.

What differs from llama.py, as transformers' modeling_gemma does it:

  - the embeddings are multiplied by √hidden_size (a float32 number, in the weights' dtype);
  - every RMSNorm multiplies by (1 + weight), in float32: the stored weights are centred on 0;
  - the gated MLP's activation is GELU's tanh approximation ("gelu" in a config means it);
  - head_dim comes from the config (Gemma 7B: 16 heads of 256 in a hidden size of 3072);
  - no biases anywhere; the scale is 1/√head_dim (Gemma 1 has no query_pre_attn_scalar);
  - lm_head is tied to embed_tokens; `attn predict` puts the last layer's output through the
    final (1 + w) norm and it, then soft-caps the logits where the config says
    (final_logit_softcapping: Gemma 2's 30).

The weight names are llama.py's.
"""

from __future__ import annotations

import math

import numpy as np

from attncli.models.blocks import Norm
from attncli.models.config import Bounds, Config
from attncli.models.layers import HeldNorm, held_rms_norm, rms_norm
from attncli.models.llama import Llama

# soft-caps and query_pre_attn_scalar: a cap of 0 would zero every score, and bounds keep
# scores / cap and the scale query_pre_attn_scalar^-0.5 inside float32
SOFTCAP: Bounds = {"low": 1e-6, "high": 1e6}


def gemma_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """Gemma's RMSNorm: normalised in float32, then times (1 + weight)."""
    return rms_norm(x, 1.0 + w.astype(np.float32), eps).astype(x.dtype)


class Gemma(Llama):
    """gemma."""

    model_types = ("gemma",)
    tied_by_default = True
    # Gemma 1 reads hidden_act, where "gelu" means the tanh approximation
    act_keys: tuple[str, ...] = ("hidden_act", "hidden_activation")
    act_default = "gelu_pytorch_tanh"
    act_renamed = {"gelu": "gelu_pytorch_tanh"}
    mlp_biases = False  # q, k and v have biases only with attention_bias, the MLP none
    slides = False  # Gemma 1 has no sliding window

    def configure(self, config: Config) -> None:
        """llama's dimensions, then Gemma's: no biases but attention_bias, no sliding window,
        the final soft-cap."""
        super().configure(config)
        # what transformers multiplies the embeddings by: a float32 tensor of √hidden_size
        self.embed_scale = np.float32(math.sqrt(self.d_model))
        config.check(not config.boolean("use_bidirectional_attention", default=False),
                     "'use_bidirectional_attention' (a Gemma embedding model) is not supported")
        self.final_softcap = config.optional_number("final_logit_softcapping", **SOFTCAP)

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Token embeddings times √hidden_size."""
        return super().embed(ids, dtype) * self.embed_scale  # (n, d)

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """Gemma's (1 + w) RMSNorm."""
        return gemma_norm(x, norm.w, self.eps)

    def held_norm(self, x: np.ndarray, norm: Norm) -> HeldNorm:
        """The (1 + w) RMSNorm at x, its 1 / RMS held."""
        return held_rms_norm(x, 1.0 + norm.w.astype(np.float64), self.eps)
