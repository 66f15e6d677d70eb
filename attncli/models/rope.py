"""RoPE, shared by the families that turn q and k by position: the speeds θ_i that a
config.json's rope type gives (default, linear, llama3, dynamic, yarn, longrope), computed as
transformers computes them, and the rotation itself, as a Variant's `rotate`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from attncli.attention import Rotate
from attncli.errors import AttnError

STATIC_ROPE_TYPES = ("default", "linear", "llama3")  # fixed speeds, nothing else
ROPE_TYPES = (*STATIC_ROPE_TYPES, "dynamic", "yarn", "longrope")


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
