"""Llama, Qwen2 and Mistral: pre-RMSNorm causal decoders with rotary positions (RoPE).

The attention input x of layer i is input_layernorm (RMSNorm) of the residual
stream. q and k are rotated by position after their bias, so the Steps' q and k
are the rotated ones. With grouped-query attention (num_key_value_heads <
num_attention_heads) each key/value head serves n_heads / n_kv_heads query heads.

Weight map, checkpoint name (after an optional "model." prefix) -> ours.
nn.Linear stores (out, in); T marks the transposition to (in, out).
Biases: qwen2 has them on q, k, v; llama has them on q, k, v, o with
attention_bias and on the MLP with mlp_bias; mistral has none.

    embed_tokens.weight                           (vocab, d)         wte, only the rows used
    layers.{i}.input_layernorm.weight             (d,)               ln_1
    layers.{i}.self_attn.q_proj                   (H*hd, d) T        w_q, b_q
    layers.{i}.self_attn.k_proj                   (Hkv*hd, d) T      w_k, b_k
    layers.{i}.self_attn.v_proj                   (Hkv*hd, d) T      w_v, b_v
    layers.{i}.self_attn.o_proj                   (d, H*hd) T        w_o, b_o
    layers.{i}.post_attention_layernorm.weight    (d,)               ln_2
    layers.{i}.mlp.gate_proj                      (ff, d) T          w_gate
    layers.{i}.mlp.up_proj                        (ff, d) T          w_up
    layers.{i}.mlp.down_proj                      (d, ff) T          w_down
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from attncli.attention import Rotate, causal_mask
from attncli.errors import AttnError
from attncli.models.common import Layer, Model, activation, count, linear, rms_norm

ROPE_TYPES = ("default", "linear", "llama3")


class Llama(Model):
    """llama, qwen2 and mistral."""

    causal = True
    order = "rope"

    def configure(self, config: dict[str, Any]) -> None:
        """Dimensions, RoPE and sliding windows from a LlamaConfig / Qwen2Config / MistralConfig."""
        self.n_layers = count(config, "num_hidden_layers")
        self.n_heads = count(config, "num_attention_heads")
        self.n_kv_heads = int(config.get("num_key_value_heads") or self.n_heads)
        self.d_model = count(config, "hidden_size")
        self.head_dim = int(config.get("head_dim") or self.d_model // self.n_heads)
        self.d_ff = count(config, "intermediate_size")
        self.vocab_size = count(config, "vocab_size")
        limit = config.get("max_position_embeddings")
        self.max_positions = None if limit is None else int(limit)
        self.eps = float(config.get("rms_norm_eps", 1e-6))
        self.act = activation(config.get("hidden_act", "silu"))
        self.attention_bias = bool(config.get("attention_bias", False))
        self.qkv_bias = self.model_type == "qwen2" or self.attention_bias
        self.mlp_bias = bool(config.get("mlp_bias", False))
        self.inv_freq = rope_frequencies(config, self.head_dim)  # (head_dim / 2,)
        self.windows = sliding_windows(config, self.model_type, self.n_layers)
        self.prefix = self.checkpoint.prefix("embed_tokens.weight", ("model.", ""))

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Token embeddings: positions enter later, by rotating q and k."""
        return self.checkpoint.read(self.prefix + "embed_tokens.weight",
                                    (self.vocab_size, self.d_model), rows=ids)  # (n, d)

    def bias(self, name: str, size: int, present: bool) -> np.ndarray | None:
        """A bias the config says the layer has, else None."""
        return self.checkpoint.read(name, (size,)) if present else None

    def load_attention(self, i: int) -> Layer:
        """Layer i's input_layernorm and q, k, v projections, transposed to (in, out)."""
        p, read, bias = f"{self.prefix}layers.{i}.", self.checkpoint.read, self.bias
        d, q, kv = self.d_model, self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        return {
            "ln_1_w": read(p + "input_layernorm.weight", (d,)),
            "w_q": read(p + "self_attn.q_proj.weight", (q, d)).T,  # (d, H*hd)
            "b_q": bias(p + "self_attn.q_proj.bias", q, self.qkv_bias),
            "w_k": read(p + "self_attn.k_proj.weight", (kv, d)).T,  # (d, Hkv*hd)
            "b_k": bias(p + "self_attn.k_proj.bias", kv, self.qkv_bias),
            "w_v": read(p + "self_attn.v_proj.weight", (kv, d)).T,  # (d, Hkv*hd)
            "b_v": bias(p + "self_attn.v_proj.bias", kv, self.qkv_bias),
        }

    def load_rest(self, i: int) -> Layer:
        """Layer i's o_proj, post_attention_layernorm and gated MLP, transposed to (in, out)."""
        p, read, bias = f"{self.prefix}layers.{i}.", self.checkpoint.read, self.bias
        d, ff, q = self.d_model, self.d_ff, self.n_heads * self.head_dim
        return {
            "w_o": read(p + "self_attn.o_proj.weight", (d, q)).T,  # (H*hd, d)
            "b_o": bias(p + "self_attn.o_proj.bias", d, self.attention_bias),
            "ln_2_w": read(p + "post_attention_layernorm.weight", (d,)),
            "w_gate": read(p + "mlp.gate_proj.weight", (ff, d)).T,  # (d, ff)
            "b_gate": bias(p + "mlp.gate_proj.bias", ff, self.mlp_bias),
            "w_up": read(p + "mlp.up_proj.weight", (ff, d)).T,  # (d, ff)
            "b_up": bias(p + "mlp.up_proj.bias", ff, self.mlp_bias),
            "w_down": read(p + "mlp.down_proj.weight", (d, ff)).T,  # (ff, d)
            "b_down": bias(p + "mlp.down_proj.bias", d, self.mlp_bias),
        }

    def attention_input(self, h: np.ndarray, layer: Layer) -> np.ndarray:
        """input_layernorm (RMSNorm) of the residual stream."""
        return rms_norm(h, layer["ln_1_w"], self.eps)  # (n, d)

    def rotation(self, n: int) -> Rotate:
        """RoPE for positions 0..n-1."""
        return rope(n, self.inv_freq)

    def mask(self, n: int, i: int) -> np.ndarray:
        """Causal, and in a sliding-window layer also blind to keys `window` or more back."""
        mask = causal_mask(n)  # (n, n)
        window = self.windows[i]
        if window is not None and n > window:
            mask |= np.tril(np.ones((n, n), dtype=bool), k=-window)  # key j <= query i - window
        return mask

    def finish_layer(self, h: np.ndarray, attn: np.ndarray, rest: Layer) -> np.ndarray:
        """Residual add of the projected heads, then of the gated MLP on the second RMSNorm."""
        h = h + linear(attn, rest["w_o"], rest["b_o"])  # (n, d)
        x = rms_norm(h, rest["ln_2_w"], self.eps)  # (n, d)
        gate = self.act(linear(x, rest["w_gate"], rest["b_gate"]))  # (n, ff)
        up = linear(x, rest["w_up"], rest["b_up"])  # (n, ff)
        return h + linear(gate * up, rest["w_down"], rest["b_down"])  # (n, d)


def rope_frequencies(config: dict[str, Any], head_dim: int,
                     partial_rotary_factor: float | None = None) -> np.ndarray:
    """(rotary_dim / 2,) float32 speeds θ_i = theta^(-2i/rotary_dim), computed as transformers
    does. rotary_dim is head_dim, or int(head_dim · partial_rotary_factor) for a family that
    rotates only the first dimensions of each head (GPT-NeoX, Phi-3): such a family passes
    its factor (read from its own config keys); without it a partial factor in config.json is
    refused."""
    # transformers 5 keeps these in rope_parameters; 4.x in rope_theta and rope_scaling
    params = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    theta = float(params.get("rope_theta") or config.get("rope_theta") or 10000.0)
    kind = params.get("rope_type", params.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise AttnError(f"config.json: rope type {kind!r} is not supported"
                        f" (supported: {', '.join(ROPE_TYPES)})")
    if partial_rotary_factor is None:
        if float(params.get("partial_rotary_factor", 1.0)) != 1.0:
            raise AttnError("config.json: partial rotary embeddings are not supported")
        dim = head_dim
    else:
        dim = int(head_dim * partial_rotary_factor)
        if dim < 2 or dim > head_dim:
            raise AttnError(f"config.json: partial_rotary_factor {partial_rotary_factor} rotates"
                            f" {dim} of {head_dim} dimensions")
    exponent = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim
    inv_freq = (1.0 / (np.float32(theta) ** exponent)).astype(np.float32)  # (head_dim / 2,)
    if kind == "linear":
        inv_freq = inv_freq / np.float32(params["factor"])
    elif kind == "llama3":
        inv_freq = llama3_frequencies(inv_freq, params)
    return inv_freq.astype(np.float32)  # (dim / 2,)


def llama3_frequencies(inv_freq: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Llama 3's long-context scaling: slow the low frequencies, blend the middle ones."""
    factor, old_len = float(params["factor"]), float(params["original_max_position_embeddings"])
    low, high = float(params["low_freq_factor"]), float(params["high_freq_factor"])
    wavelen = 2 * math.pi / inv_freq  # (head_dim / 2,)
    scaled = np.where(wavelen > old_len / low, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_len / high) & (wavelen <= old_len / low)
    return np.where(medium, blended, scaled)


def rope(n: int, inv_freq: np.ndarray) -> Rotate:
    """Rotate each (even, odd-half) pair of a query or key by its position times θ_i.

    The rotation covers the first 2 · len(inv_freq) dimensions of each head: all of them for
    rope_frequencies(config, head_dim), the first rotary_dim of them with a partial factor
    (the rest pass through unturned, as in transformers' apply_rotary_pos_emb)."""
    angles = np.arange(n, dtype=np.float32)[:, None] * inv_freq[None, :]  # (n, rotary_dim / 2)
    angles = np.concatenate([angles, angles], axis=-1)  # (n, rotary_dim): halves share angles
    cos, sin = np.cos(angles), np.sin(angles)  # (n, rotary_dim)
    rotary_dim = angles.shape[-1]

    def rotate(t: np.ndarray) -> np.ndarray:
        """(..., n, head_dim) -> the same, rotated (transformers' rotate_half layout)."""
        if t.shape[-1] != rotary_dim:  # partial: turn the first rotary_dim, keep the rest
            return np.concatenate([rotate(t[..., :rotary_dim]), t[..., rotary_dim:]], axis=-1)
        half = t.shape[-1] // 2
        turned = np.concatenate([-t[..., half:], t[..., :half]], axis=-1)  # (..., n, rotary_dim)
        return t * cos + turned * sin

    return rotate


def sliding_windows(config: dict[str, Any], model_type: str, n_layers: int) -> list[int | None]:
    """Per layer, how many keys back a query may see (None: all of them)."""
    window = config.get("sliding_window")
    if window is None:
        return [None] * n_layers
    if config.get("layer_types"):
        types = config["layer_types"]
        if not isinstance(types, list) or len(types) != n_layers:
            raise AttnError(f"config.json: layer_types must list all {n_layers} layers")
        return [window if t == "sliding_attention" else None for t in types]
    if model_type == "mistral":
        return [window] * n_layers
    if model_type in ("qwen2", "qwen3") and config.get("use_sliding_window"):
        first = int(config.get("max_window_layers", n_layers))
        return [window if i >= first else None for i in range(n_layers)]
    return [None] * n_layers
