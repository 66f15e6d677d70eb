"""The pieces layers are made of, shared by every family: linear maps, norms, activations,
RoPE with its scaling types, and sliding-window layouts (float32 in, float32 out, or float64
with --float64)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from attncli.attention import Rotate
from attncli.errors import AttnError

ROPE_TYPES = ("default", "linear", "llama3")


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """x @ w (+ b), with w stored (in, out)."""
    y = x @ w  # (n, out)
    return y if b is None else y + b


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis, with the biased variance torch uses."""
    mu = x.mean(axis=-1, keepdims=True)  # (n, 1)
    var = np.square(x - mu).mean(axis=-1, keepdims=True)  # (n, 1)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """RMSNorm (Llama): scale by 1 / root-mean-square, no centring, no bias."""
    return x / np.sqrt(np.square(x).mean(axis=-1, keepdims=True) + eps) * w


def erfc(z: np.ndarray) -> np.ndarray:
    """Complementary error function, relative error < 1.2e-7 (Numerical Recipes' erfcc)."""
    a = np.abs(z)
    t = 1 / (1 + 0.5 * a)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    y = t * np.exp(-a * a + poly)
    return np.where(z >= 0, y, 2 - y)


def erf(z: np.ndarray) -> np.ndarray:
    """Error function, absolute error < 1e-7."""
    return 1 - erfc(z)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Φ(x) = x/2 * erfc(-x/√2), within 2e-8 of the erf formula."""
    return 0.5 * x * erfc(-x / math.sqrt(2.0))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU's tanh approximation (GPT-2's gelu_new)."""
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), written with tanh so it never overflows."""
    return 0.5 * (1 + np.tanh(0.5 * x))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu": gelu,
    "gelu_python": gelu,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "gelu_fast": gelu_tanh,
    "quick_gelu": lambda x: x * sigmoid(1.702 * x),
    "silu": lambda x: x * sigmoid(x),
    "swish": lambda x: x * sigmoid(x),
    "relu": lambda x: np.maximum(x, 0),
}


def activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The activation config.json names."""
    if name not in ACTIVATIONS:
        raise AttnError(f"config.json: activation {name!r} is not supported"
                        f" (supported: {', '.join(sorted(ACTIVATIONS))})")
    return ACTIVATIONS[name]


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
