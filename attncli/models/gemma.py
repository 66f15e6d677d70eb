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
from typing import Any

import numpy as np

from attncli.errors import AttnError
from attncli.models.base import Layer
from attncli.models.layers import linear, rms_norm
from attncli.models.llama import Llama


def gemma_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """Gemma's RMSNorm: normalised in float32, then times (1 + weight)."""
    return rms_norm(x, 1.0 + w.astype(np.float32), eps).astype(x.dtype)


class Gemma(Llama):
    """gemma."""

    tied_by_default = True

    def configure(self, config: dict[str, Any]) -> None:
        """llama's dimensions, then Gemma's activation; no biases, no sliding window."""
        # llama's configure reads hidden_act, which Gemma 2 and 3 configs may leave out
        super().configure({**config, "hidden_act": self.activation_name(config)})
        self.attention_bias = bool(config.get("attention_bias", False))
        self.qkv_bias = self.attention_bias
        self.mlp_bias = False
        self.windows = [None] * self.n_layers
        # what transformers multiplies the embeddings by: a float32 tensor of √hidden_size
        self.embed_scale = np.float32(math.sqrt(self.d_model))
        if config.get("use_bidirectional_attention"):
            raise AttnError("config.json: use_bidirectional_attention (a Gemma embedding model) "
                            "is not supported")

    def activation_name(self, config: dict[str, Any]) -> str:
        """Gemma 1 reads hidden_act, where "gelu" means the tanh approximation."""
        name = config.get("hidden_act") or config.get("hidden_activation") or "gelu_pytorch_tanh"
        return "gelu_pytorch_tanh" if name == "gelu" else str(name)

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Token embeddings times √hidden_size."""
        return super().embed(ids) * self.embed_scale  # (n, d)

    def attention_input(self, h: np.ndarray, layer: Layer) -> np.ndarray:
        """input_layernorm, Gemma's (1 + w) RMSNorm, of the residual stream."""
        return gemma_norm(h, layer["ln_1_w"], self.eps)  # (n, d)

    def finish_layer(self, h: np.ndarray, attn: np.ndarray, rest: Layer) -> np.ndarray:
        """Residual add of the projected heads, then of the gated MLP on the second norm."""
        h = h + linear(attn, rest["w_o"], rest["b_o"])  # (n, d)
        x = gemma_norm(h, rest["ln_2_w"], self.eps)  # (n, d)
        gate = self.act(linear(x, rest["w_gate"]))  # (n, ff)
        up = linear(x, rest["w_up"])  # (n, ff)
        return h + linear(gate * up, rest["w_down"])  # (n, d)

    def logits(self, h: np.ndarray, head: Layer | None = None) -> np.ndarray:
        """The final (1 + w) RMSNorm, the tied LM head, then the soft-cap: (n, vocab)."""
        head = self.lm_head() if head is None else head
        out = gemma_norm(h, head["norm"], self.eps) @ head["w"].T  # (n, vocab)
        cap = self.config.get("final_logit_softcapping")
        if cap:
            out = np.tanh(out / out.dtype.type(cap)) * out.dtype.type(cap)
        return out
