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

STATIC_ROPE_TYPES = ("default", "linear", "llama3")  # fixed speeds, nothing else
ROPE_TYPES = (*STATIC_ROPE_TYPES, "dynamic", "yarn", "longrope")


FEW_ROWS = 64  # up to this many rows of x, linear multiplies the other way round


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """x @ w (+ b), with w stored (in, out).

    For a few rows (a sentence through a model), and w the transpose of a C-ordered
    (out, in) matrix as checkpoints store them, the product is taken as (w.T @ x.T).T: BLAS
    runs its kernel over w's many rows instead of x's few, 15-45 % faster. Each number is
    the same dot product; recent OpenBLAS builds sum it in the same order (the same bits as
    x @ w), older ones (numpy 1.21's) may not, so tests/test_layers_linear.py holds it to a
    dot product's rounding. The result is copied back to C order, so what follows it reads
    the same layout."""
    if (x.ndim == 2 and w.ndim == 2 and len(x) <= FEW_ROWS and w.T.flags.c_contiguous
            and x.dtype == w.dtype):
        y = np.ascontiguousarray((w.T @ x.T).T)  # (n, out)
    else:
        y = x @ w  # (n, out)
    return y if b is None else add_fresh(y, b)


def add_fresh(y: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y + b, into y (a new array nobody else holds) when that gives the same array: the same
    sums without a second (n, out) array."""
    if isinstance(y, np.ndarray) and np.result_type(y, b) == y.dtype and \
            np.broadcast_shapes(y.shape, np.shape(b)) == y.shape:
        y += b
        return y
    return y + b


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis, with the biased variance torch uses."""
    mu = x.mean(axis=-1, keepdims=True)  # (n, 1)
    centred = x - mu  # (n, d)
    var = np.square(centred).mean(axis=-1, keepdims=True)  # (n, 1)
    if np.result_type(centred, w, b) != centred.dtype:
        return centred / np.sqrt(var + eps) * w + b
    centred /= np.sqrt(var + eps)  # the same operations, in place: ((x - mu) / s) * w + b
    centred *= w
    centred += b
    return centred


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """RMSNorm (Llama): scale by 1 / root-mean-square, no centring, no bias.

    The normalising runs in float32 whatever x is, then the result returns to x's dtype before
    the weight, as transformers' RMSNorms do even in a float64 model (so --float64 matches
    them)."""
    x32 = x.astype(np.float32, copy=False)
    variance = np.square(x32).mean(axis=-1, keepdims=True)  # (n, 1)
    normed = x32 * (np.float32(1) / np.sqrt(variance + np.float32(eps)))  # x · rsqrt, as torch
    return normed.astype(x.dtype, copy=False) * w


BLOCK = 1 << 15  # numbers per pass of erfc and gelu: their scratch arrays stay in cache
# erfc's polynomial in t, innermost coefficient first (Numerical Recipes' erfcc)
ERFC_POLY = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
             0.09678418, 0.37409196, 1.00002368, -1.26551223)


def _erfc_block(z: np.ndarray, out: np.ndarray, a: np.ndarray, t: np.ndarray,
                negative: np.ndarray) -> None:
    """erfc of one block z into out, with a, t and negative as scratch (all of z's length).

    Each step is the same operation on the same operands as the plain expression
        t = 1 / (1 + 0.5·|z|),  y = t · exp(-|z|·|z| + poly(t)),  erfc = y, or 2 - y for z < 0
    so the bits are the same; there is just no full-size temporary per step."""
    np.abs(z, out=a)
    np.multiply(a, 0.5, out=t)
    np.add(t, 1, out=t)
    np.divide(1, t, out=t)  # t = 1 / (1 + 0.5 a)
    np.multiply(t, ERFC_POLY[0], out=out)
    for c in ERFC_POLY[1:-1]:
        np.add(out, c, out=out)
        np.multiply(out, t, out=out)
    np.add(out, ERFC_POLY[-1], out=out)  # poly(t)
    np.multiply(a, a, out=a)
    np.negative(a, out=a)  # -(a·a), which is (-a)·a exactly
    np.add(a, out, out=a)
    np.exp(a, out=a)
    np.multiply(t, a, out=out)  # y
    np.greater_equal(z, 0, out=negative)
    np.logical_not(negative, out=negative)  # not z >= 0 (NaN too): 2 - y
    np.copyto(t, negative)  # 1 there, else 0 (a select with where= is 30 times slower)
    np.multiply(t, -2, out=t)
    np.add(t, 1, out=t)  # -1 there, else 1
    np.multiply(out, t, out=out)  # -y there, else y: exact
    np.subtract(1, t, out=t)  # 2 there, else 0
    np.add(out, t, out=out)  # 2 - y there (the same rounding), else y + 0 = y (y >= +0)


def _blocks(x: np.ndarray, body: Callable[..., None]) -> np.ndarray:
    """body(x_block, out_block, scratch…) over x (a float array), BLOCK numbers at a time:
    a new array of x's shape and dtype."""
    x = np.asarray(x)
    flat = x.reshape(-1)
    out = np.empty(flat.shape, dtype=x.dtype)
    size = min(BLOCK, flat.size)
    scratch = (np.empty(size, x.dtype), np.empty(size, x.dtype), np.empty(size, x.dtype),
               np.empty(size, bool))
    for start in range(0, flat.size, BLOCK):
        block = flat[start:start + BLOCK]
        body(block, out[start:start + len(block)], *(s[:len(block)] for s in scratch))
    return out.reshape(x.shape)


def erfc(z: np.ndarray) -> np.ndarray:
    """Complementary error function, relative error < 1.2e-7 (Numerical Recipes' erfcc), in
    z's float dtype (float64 for integers)."""
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)

    def body(zb: np.ndarray, out: np.ndarray, a: np.ndarray, t: np.ndarray, _: np.ndarray,
             negative: np.ndarray) -> None:
        _erfc_block(zb, out, a, t, negative)

    return _blocks(z, body)


_ERF = np.frompyfunc(math.erf, 1, 1)


def erf64(z: np.ndarray) -> np.ndarray:
    """The error function to float64's precision (math.erf, element by element): for
    --float64, where erfc's 1.2e-7 would show."""
    return _ERF(z).astype(np.float64)


def erf(z: np.ndarray) -> np.ndarray:
    """Error function, absolute error < 1e-7."""
    return 1 - erfc(z)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Φ(x) = x/2 * erfc(-x/√2), within 2e-8 of the erf formula (float64:
    with math.erf itself)."""
    if x.dtype == np.float64:
        return 0.5 * x * (1.0 + erf64(x / math.sqrt(2.0)))
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)

    def body(xb: np.ndarray, out: np.ndarray, a: np.ndarray, t: np.ndarray, z: np.ndarray,
             negative: np.ndarray) -> None:  # (0.5 · x) · erfc(-x / √2), block by block
        np.negative(xb, out=z)
        np.divide(z, math.sqrt(2.0), out=z)
        _erfc_block(z, out, a, t, negative)
        np.multiply(xb, 0.5, out=z)
        np.multiply(z, out, out=out)

    return _blocks(x, body)


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
    refused.

    Only the types whose speeds are all there is to them (default, linear, llama3): dynamic
    depends on the sequence length and yarn and longrope also scale cos and sin, so they are
    refused here; a family that supports them uses RopeScaling."""
    params = config.get("rope_parameters") or config.get("rope_scaling") or {}
    kind = params.get("rope_type", params.get("type", "default"))
    if kind in ROPE_TYPES and kind not in STATIC_ROPE_TYPES:
        raise AttnError(f"config.json: rope type {kind!r} is not supported for this model"
                        f" family (supported here: {', '.join(STATIC_ROPE_TYPES)})")
    return RopeScaling(config, head_dim, partial_rotary_factor).inv_freq


class RopeScaling:
    """A config's RoPE, all types: frequencies(n) gives the speeds and the factor on cos and sin
    that transformers uses for a fresh model's forward pass over positions 0..n-1.

    default, linear, llama3: fixed speeds, factor 1. dynamic (NTK): the default speeds up to
    max_position_embeddings; for a longer input (transformers 5.24 grows them when n exceeds
    the cached length, max_position_embeddings for a fresh model) the base becomes
    theta · (factor · n / max_position_embeddings - (factor - 1))^(dim / (dim - 2)), in float32.
    yarn: speeds blended between theta^(-2i/dim) and that / factor by a linear ramp between the
    correction dimensions of beta_fast and beta_slow rotations over
    original_max_position_embeddings, and cos and sin times attention_factor (default
    0.1 · ln(factor) + 1, or the mscale / mscale_all_dim ratio). longrope (Phi-3): speeds
    theta^(-2i/dim) / short_factor[i], or / long_factor[i] when n exceeds
    original_max_position_embeddings, and cos and sin times attention_factor (default
    sqrt(1 + ln(factor) / ln(original)), factor max_position_embeddings / original unless given).

    original_max_position_embeddings is config.json's top-level key if present (transformers
    gives it priority), else rope_parameters', else `original_default` (the family's: Phi-3
    4096) or max_position_embeddings."""

    def __init__(self, config: dict[str, Any], head_dim: int,
                 partial_rotary_factor: float | None = None,
                 original_default: int | None = None) -> None:
        from attncli.files import check_memory

        # a config's head_dim sizes these arrays: a wrong one must not allocate gigabytes
        check_memory(max(int(head_dim), 0) * 4 * 8, f"config.json: RoPE for head_dim "
                                                    f"{int(head_dim):,}")
        # transformers 5 keeps these in rope_parameters; 4.x in rope_theta and rope_scaling
        params = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
        self.params = params
        theta = params.get("rope_theta")
        if theta is None:
            theta = config.get("rope_theta")
        self.theta = 10000.0 if theta is None else float(theta)
        if not self.theta > 0:  # 0 used to become 10000 without a word
            raise AttnError(f"config.json: rope_theta is {theta!r}; it must be a number above 0")
        self.kind = kind = params.get("rope_type", params.get("type", "default"))
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
                raise AttnError(f"config.json: partial_rotary_factor {partial_rotary_factor}"
                                f" rotates {dim} of {head_dim} dimensions")
        self.dim = dim
        limit = config.get("max_position_embeddings")
        self.max_positions = None if limit is None else int(limit)
        original = (config.get("original_max_position_embeddings")
                    or params.get("original_max_position_embeddings")
                    or original_default or self.max_positions)
        self.original = None if original is None else int(original)
        self.attention_factor = 1.0
        self.long_freq: np.ndarray | None = None
        base = plain_frequencies(self.theta, dim)  # (dim / 2,)
        if kind == "linear":
            base = base / np.float32(params["factor"])
        elif kind == "llama3":
            base = llama3_frequencies(base, params)
        elif kind == "dynamic":
            factor = self.number("factor")
            limit = self.needed(self.max_positions, "max_position_embeddings")
            # a fresh model's speeds: seq_len = max_position_embeddings, in float64 (python)
            grown = self.theta * (factor * limit / limit - (factor - 1)) ** (dim / (dim - 2))
            base = plain_frequencies(grown, dim)
        elif kind == "yarn":
            base, self.attention_factor = self.yarn()
        elif kind == "longrope":
            base, self.long_freq, self.attention_factor = self.longrope()
        self.inv_freq = base.astype(np.float32)  # (dim / 2,)

    def number(self, key: str) -> float:
        """A number rope_parameters must have."""
        if self.params.get(key) is None:
            raise AttnError(f"config.json: rope type {self.kind!r} needs rope_parameters.{key}")
        return float(self.params[key])

    def needed(self, value: int | None, key: str) -> int:
        """A length the type needs."""
        if value is None:
            raise AttnError(f"config.json: rope type {self.kind!r} needs {key}")
        return value

    def yarn(self) -> tuple[np.ndarray, float]:
        """transformers' _compute_yarn_parameters, in float32 where it computes in float32."""
        params, dim, theta = self.params, self.dim, self.theta
        original = self.needed(self.original, "original_max_position_embeddings")
        factor = params.get("factor")
        factor = (float(factor) if factor is not None
                  else self.needed(self.max_positions, "max_position_embeddings") / original)

        def mscale(scale: float, m: float = 1.0) -> float:
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        attention = params.get("attention_factor")
        if attention is None:
            m, m_all = params.get("mscale"), params.get("mscale_all_dim")
            attention = (mscale(factor, m) / mscale(factor, m_all) if m and m_all
                         else mscale(factor))
        beta_fast = params.get("beta_fast") or 32
        beta_slow = params.get("beta_slow") or 1

        def correction_dim(rotations: float) -> float:
            return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(theta))

        low, high = correction_dim(beta_fast), correction_dim(beta_slow)
        if params.get("truncate", True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, dim - 1)
        if low == high:
            high += 0.001  # transformers' guard against a zero-width ramp
        pos = power32(theta, np.arange(0, dim, 2).astype(np.float32) / np.float32(dim))
        extrapolation = (np.float32(1.0) / pos).astype(np.float32)  # (dim / 2,)
        interpolation = (np.float32(1.0) / (np.float32(factor) * pos)).astype(np.float32)
        ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - np.float32(low))
                       / np.float32(high - low), 0, 1).astype(np.float32)
        keep = np.float32(1) - ramp  # 1: extrapolate (fast dims), 0: interpolate (slow dims)
        inv_freq = interpolation * (np.float32(1) - keep) + extrapolation * keep
        return inv_freq.astype(np.float32), float(attention)

    def longrope(self) -> tuple[np.ndarray, np.ndarray, float]:
        """transformers' _compute_longrope_parameters: short speeds, long speeds, factor."""
        params, dim = self.params, self.dim
        original = self.needed(self.original, "original_max_position_embeddings")
        factor = params.get("factor")
        factor = (float(factor) if factor is not None
                  else self.needed(self.max_positions, "max_position_embeddings") / original)
        attention = params.get("attention_factor")
        if attention is None:
            attention = (1.0 if factor <= 1.0
                         else math.sqrt(1 + math.log(factor) / math.log(original)))
        shape = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
        powers = power32(self.theta, shape)  # (dim / 2,)
        speeds = []
        for key in ("short_factor", "long_factor"):
            ext = params.get(key)
            if not isinstance(ext, list) or len(ext) != dim // 2:
                raise AttnError(f"config.json: longrope needs rope_parameters.{key}, a list of"
                                f" {dim // 2} numbers")
            speeds.append((np.float32(1.0) / (np.asarray(ext, dtype=np.float32) * powers))
                          .astype(np.float32))
        return speeds[0], speeds[1], float(attention)

    def frequencies(self, n: int) -> tuple[np.ndarray, float]:
        """(dim / 2,) float32 speeds and the factor on cos and sin for positions 0..n-1."""
        if self.kind == "dynamic" and self.max_positions is not None and n > self.max_positions:
            # transformers grows them for seq_len = n, in float32 (seq_len is a tensor)
            f32, dim = np.float32, self.dim
            ratio = f32(self.number("factor")) * f32(n) / f32(self.max_positions)
            stretch = f32(ratio - f32(self.number("factor") - 1))
            grown = f32(self.theta) * power32(stretch, np.float32(dim / (dim - 2)))
            return plain_frequencies(grown, dim), 1.0
        if self.kind == "longrope" and self.long_freq is not None and n > self.original:
            return self.long_freq, self.attention_factor
        return self.inv_freq, self.attention_factor


def power32(base: float, exponent: np.ndarray) -> np.ndarray:
    """float32 base ** float32 exponent, rounded once from float64, as torch's float32 pow is.

    numpy's float32 pow can be one unit in the last place off: 11 of Llama's 64 speeds at
    theta 10000 differ from torch's that way. Rounding the float64 power matches all 64."""
    exact = np.float64(np.float32(base)) ** exponent.astype(np.float64)
    return exact.astype(np.float32)


def plain_frequencies(theta: float, dim: int) -> np.ndarray:
    """(dim / 2,) float32 theta^(-2i/dim), as transformers computes them."""
    exponent = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim
    return (np.float32(1.0) / power32(theta, exponent)).astype(np.float32)


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


def rope(n: int, inv_freq: np.ndarray, attention_factor: float = 1.0) -> Rotate:
    """Rotate each (even, odd-half) pair of a query or key by its position times θ_i.

    The rotation covers the first 2 · len(inv_freq) dimensions of each head: all of them for
    rope_frequencies(config, head_dim), the first rotary_dim of them with a partial factor
    (the rest pass through unturned, as in transformers' apply_rotary_pos_emb). cos and sin
    are multiplied by attention_factor (yarn, longrope), which scales the rotated part."""
    angles = np.arange(n, dtype=np.float32)[:, None] * inv_freq[None, :]  # (n, rotary_dim / 2)
    angles = np.concatenate([angles, angles], axis=-1)  # (n, rotary_dim): halves share angles
    cos, sin = np.cos(angles), np.sin(angles)  # (n, rotary_dim)
    if attention_factor != 1.0:
        cos = (cos * np.float32(attention_factor)).astype(np.float32)
        sin = (sin * np.float32(attention_factor)).astype(np.float32)
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
