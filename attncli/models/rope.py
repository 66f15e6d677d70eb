"""RoPE, shared by the families that turn q and k by position: the speeds θ_i that a
config.json's rope type gives (default, linear, llama3, dynamic, yarn, longrope), computed as
transformers computes them, and the rotation itself, as a Variant's `rotate`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from attncli.attention import Rotate
from attncli.errors import AttnError
from attncli.models.config import Bounds, Config, as_config

STATIC_ROPE_TYPES = ("default", "linear", "llama3")  # fixed speeds, nothing else
ROPE_TYPES = (*STATIC_ROPE_TYPES, "dynamic", "yarn", "longrope")


# RoPE's bounds in config.json. Above 1: a base of 1 or less turns every dimension alike (and
# yarn divides by its logarithm); up to 1e15, so that a dynamic base grown by the largest
# factor still fits float32. Scaling factors from 1 (transformers warns below it) to 1000;
# longrope's per-dimension factors, llama3's frequency factors and the factor on cos and sin
# from 1e-4 to 1e4.
THETA: Bounds = {"low": 1.0, "above": True, "high": 1e15}
FACTOR: Bounds = {"low": 1.0, "high": 1e3}
PER_DIMENSION: Bounds = {"low": 1e-4, "high": 1e4}
ON_COS_SIN: Bounds = {"low": 0.0, "above": True, "high": 1e4}
BETA: Bounds = {"low": 0.0, "above": True, "high": 1e4}


def rope_frequencies(config: Config | Mapping[str, Any], head_dim: int,
                     partial_rotary_factor: float | None = None, *,
                     theta_keys: Sequence[str] = ("rope_theta",), theta_default: float = 10000.0,
                     params: Config | None = None) -> np.ndarray:
    """(rotary_dim / 2,) float32 speeds θ_i = theta^(-2i/rotary_dim), computed as transformers
    does. rotary_dim is head_dim, or int(head_dim · partial_rotary_factor) for a family that
    rotates only the first dimensions of each head (GPT-NeoX, Phi-3): such a family passes
    its factor (read from its own config keys); without it a partial factor in config.json is
    refused.

    Only the types whose speeds are all there is to them (default, linear, llama3): dynamic
    depends on the sequence length and yarn and longrope also scale cos and sin, so they are
    refused here; a family that supports them uses RopeScaling."""
    return RopeScaling(config, head_dim, partial_rotary_factor, static=True,
                       theta_keys=theta_keys, theta_default=theta_default,
                       params=params).inv_freq


def partial_factor(config: Config, *keys: str, default: float) -> float:
    """The share of each head RoPE turns (GPT-NeoX, Phi-3): rope_parameters' (transformers
    5) partial_rotary_factor, else the family's own top-level key (older config.json files)."""
    params = config.section("rope_parameters", "rope_scaling")
    factor = params.optional_number("partial_rotary_factor", low=0, above=True, high=1)
    if factor is not None:
        return factor
    return config.number(*keys, low=0, above=True, high=1, default=default)


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
    4096) or max_position_embeddings; with top_level_original false (RoPE per layer kind,
    where transformers does not read the top-level key) only rope_parameters'.

    Every field is read and checked here, when the model is opened: rope_parameters (or
    transformers 4's rope_scaling), rope_theta, max_position_embeddings and the type's own.
    static refuses the types whose speeds depend on the input (rope_frequencies); renamed
    maps other names of a type to it (Phi-3's su and yarn are longrope); theta_keys and
    theta_default give the base when the parameters do not; params, a section other than
    rope_parameters (Gemma 3's per layer kind)."""

    def __init__(self, config: Config | Mapping[str, Any], head_dim: int,
                 partial_rotary_factor: float | None = None,
                 original_default: int | None = None, *, static: bool = False,
                 renamed: Mapping[str, str] | None = None,
                 theta_keys: Sequence[str] = ("rope_theta",), theta_default: float = 10000.0,
                 params: Config | None = None, top_level_original: bool = True) -> None:
        from attncli.files import check_memory

        config = as_config(config)
        self.where = config.where
        # a config's head_dim sizes these arrays: a wrong one must not allocate gigabytes
        check_memory(max(int(head_dim), 0) * 4 * 8, f"config.json: RoPE for head_dim "
                                                    f"{int(head_dim):,}")
        # transformers 5 keeps these in rope_parameters; 4.x in rope_theta and rope_scaling
        if params is None:
            params = config.section("rope_parameters", "rope_scaling")
        self.params = params
        theta = params.optional_number("rope_theta", **THETA)
        self.theta = theta if theta is not None else config.number(
            *theta_keys, **THETA, default=theta_default)
        renamed = dict(renamed or {})
        kinds = STATIC_ROPE_TYPES if static else ROPE_TYPES
        if static:  # named, so that the refusal says why
            renamed.update({k: k for k in ROPE_TYPES if k not in STATIC_ROPE_TYPES})
        kind = params.choice("rope_type", "type", options=tuple(dict.fromkeys((*kinds, *renamed))),
                             default="default")
        self.kind = kind = renamed.get(kind, kind)
        config.check(kind in kinds, f"'{params.name('rope_type')}' {kind!r} is not supported "
                     f"for this model family (supported here: {', '.join(kinds)})")
        if partial_rotary_factor is None:
            factor = params.number("partial_rotary_factor", low=0, above=True, high=1,
                                   default=1.0)
            config.check(factor == 1.0, f"'{params.name('partial_rotary_factor')}' {factor}: "
                         "partial rotary embeddings are not supported for this model family")
            dim = head_dim
        else:
            dim = int(head_dim * partial_rotary_factor)
        config.check(2 <= dim <= head_dim and dim % 2 == 0 and (dim > 2 or kind != "dynamic"),
                     f"RoPE would turn {dim} of head_dim {head_dim} dimensions (partial_rotary_"
                     f"factor {partial_rotary_factor or 1.0}); it turns pairs: an even number, "
                     f"at least {4 if kind == 'dynamic' else 2}")
        self.dim = dim
        self.max_positions = config.optional_integer("max_position_embeddings")
        top = (config.optional_integer("original_max_position_embeddings", low=2)
               if top_level_original else None)
        original = (top or params.optional_integer("original_max_position_embeddings", low=2)
                    or original_default or self.max_positions)
        self.original = original
        self.attention_factor = 1.0
        self.long_freq: np.ndarray | None = None
        self.factor = 1.0
        base = plain_frequencies(self.theta, dim)  # (dim / 2,)
        if kind == "linear":
            self.factor = params.number("factor", **FACTOR, default=None)
            base = base / np.float32(self.factor)
        elif kind == "llama3":
            base = llama3_frequencies(base, self.llama3())
        elif kind == "dynamic":
            self.factor = factor = params.number("factor", **FACTOR, default=None)
            limit = self.needed(self.max_positions, "max_position_embeddings")
            # a fresh model's speeds: seq_len = max_position_embeddings, in float64 (python)
            grown = self.theta * (factor * limit / limit - (factor - 1)) ** (dim / (dim - 2))
            base = plain_frequencies(grown, dim)
        elif kind == "yarn":
            base, self.attention_factor = self.yarn()
        elif kind == "longrope":
            base, self.long_freq, self.attention_factor = self.longrope()
        self.inv_freq = base.astype(np.float32)  # (dim / 2,)

    def reach(self, limit: int | None) -> int | None:
        """The most positions a model with this RoPE takes, given max_position_embeddings:
        dynamic NTK grows its base past it, to factor times as many."""
        if self.kind == "dynamic" and limit is not None:
            return int(self.factor * limit)
        return limit

    def needed(self, value: int | None, key: str) -> int:
        """A length the type needs."""
        if value is None:
            raise AttnError(f"{self.where}: rope type {self.kind!r} needs '{key}'")
        return value

    def scale_factor(self) -> float:
        """yarn's and longrope's factor: rope_parameters' or max_position_embeddings /
        original_max_position_embeddings."""
        factor = self.params.optional_number("factor", **FACTOR)
        if factor is not None:
            return factor
        limit = self.needed(self.max_positions, "max_position_embeddings")
        return limit / self.needed(self.original, "original_max_position_embeddings")

    def llama3(self) -> tuple[float, float, float, float]:
        """Llama 3's factor, original length and the low and high frequency factors."""
        params = self.params
        factor = params.number("factor", **FACTOR, default=None)
        old_len = params.integer("original_max_position_embeddings", low=2, default=None)
        low = params.number("low_freq_factor", **PER_DIMENSION, default=None)
        high = params.number("high_freq_factor", **PER_DIMENSION, default=None)
        params.check(high > low, f"'{params.name('high_freq_factor')}' {high:g} must be above "
                     f"'{params.name('low_freq_factor')}' {low:g}")
        return factor, old_len, low, high

    def yarn(self) -> tuple[np.ndarray, float]:
        """transformers' _compute_yarn_parameters, in float32 where it computes in float32."""
        params, dim, theta = self.params, self.dim, self.theta
        original = self.needed(self.original, "original_max_position_embeddings")
        factor = self.scale_factor()

        def mscale(scale: float, m: float = 1.0) -> float:
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        attention = params.optional_number("attention_factor", **ON_COS_SIN)
        m = params.optional_number("mscale", low=0, high=1e4)
        m_all = params.optional_number("mscale_all_dim", low=0, high=1e4)
        if attention is None:
            attention = (mscale(factor, m) / mscale(factor, m_all) if m and m_all
                         else mscale(factor))
        beta_fast = params.number("beta_fast", **BETA, default=32.0)
        beta_slow = params.number("beta_slow", **BETA, default=1.0)
        truncate = params.boolean("truncate", default=True)

        def correction_dim(rotations: float) -> float:
            return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(theta))

        low, high = correction_dim(beta_fast), correction_dim(beta_slow)
        if truncate:
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
        params.check(original >= 2, f"rope type 'longrope' needs an original length of at "
                     f"least 2 (original_max_position_embeddings), got {original}")
        factor = self.scale_factor()
        attention = params.optional_number("attention_factor", **ON_COS_SIN)
        if attention is None:
            attention = (1.0 if factor <= 1.0
                         else math.sqrt(1 + math.log(factor) / math.log(original)))
        shape = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
        powers = power32(self.theta, shape)  # (dim / 2,)
        speeds = []
        for key in ("short_factor", "long_factor"):
            ext = params.numbers(key, length=dim // 2, low=PER_DIMENSION["low"],
                                 high=PER_DIMENSION["high"])
            speeds.append((np.float32(1.0) / (np.asarray(ext, dtype=np.float32) * powers))
                          .astype(np.float32))
        return speeds[0], speeds[1], float(attention)

    def frequencies(self, n: int) -> tuple[np.ndarray, float]:
        """(dim / 2,) float32 speeds and the factor on cos and sin for positions 0..n-1."""
        if self.kind == "dynamic" and self.max_positions is not None and n > self.max_positions:
            # transformers grows them for seq_len = n, in float32 (seq_len is a tensor)
            f32, dim = np.float32, self.dim
            ratio = f32(self.factor) * f32(n) / f32(self.max_positions)
            stretch = f32(ratio - f32(self.factor - 1))
            grown = f32(self.theta) * power32(stretch, np.float32(dim / (dim - 2)))
            return plain_frequencies(grown, dim), 1.0
        if (self.kind == "longrope" and self.long_freq is not None and self.original is not None
                and n > self.original):
            return self.long_freq, self.attention_factor
        return self.inv_freq, self.attention_factor


def power32(base: float | np.floating | np.ndarray,
            exponent: np.ndarray | np.floating) -> np.ndarray:
    """float32 base ** float32 exponent, rounded once from float64, as torch's float32 pow is.

    numpy's float32 pow can be one unit in the last place off: 11 of Llama's 64 speeds at
    theta 10000 differ from torch's that way. Rounding the float64 power matches all 64."""
    exact = np.float64(np.float32(base)) ** np.asarray(exponent, dtype=np.float64)
    return np.asarray(exact, dtype=np.float32)


def plain_frequencies(theta: float | np.ndarray, dim: int) -> np.ndarray:
    """(dim / 2,) float32 theta^(-2i/dim), as transformers computes them."""
    exponent = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim
    return (np.float32(1.0) / power32(theta, exponent)).astype(np.float32)


def llama3_frequencies(inv_freq: np.ndarray, params: tuple[float, float, float, float]
                       ) -> np.ndarray:
    """Llama 3's long-context scaling: slow the low frequencies, blend the middle ones.
    params: the factor, the original length and the low and high frequency factors."""
    factor, old_len, low, high = params
    wavelen = 2 * math.pi / inv_freq  # (head_dim / 2,)
    scaled = np.where(wavelen > old_len / low, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_len / high) & (wavelen <= old_len / low)
    return np.where(medium, blended, scaled)


def rope(n: int, inv_freq: np.ndarray, attention_factor: float = 1.0) -> Rotate:
    """The rotation RoPE applies to queries and keys at positions 0..n-1, as a function.

    It turns dimensions i and i + rotary_dim/2 of the row at position p together, by the
    angle p · inv_freq[i] (transformers' rotate_half layout: the two halves pair up, not
    neighbouring dimensions). rotary_dim = 2 · len(inv_freq): the whole head for
    rope_frequencies(config, head_dim), its first dimensions with a partial factor (the rest
    pass through unturned, as in transformers' apply_rotary_pos_emb). cos and sin are
    multiplied by attention_factor (yarn, longrope), which scales the rotated part."""
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


def interleaved_rope(n: int, inv_freq: np.ndarray, attention_factor: float = 1.0) -> Rotate:
    """RoPE in GPT-J's layout: dimensions 2i and 2i + 1 turned together by the angle
    p · inv_freq[i], for positions p = 0..n-1, on the first 2 · len(inv_freq) dimensions
    (the rest pass through). cos and sin are multiplied by attention_factor, as in rope()."""
    angles = np.arange(n, dtype=np.float32)[:, None] * inv_freq[None, :]  # (n, rotary_dim / 2)
    cos = np.repeat(np.cos(angles), 2, axis=-1)  # (n, rotary_dim): each pair shares its angle
    sin = np.repeat(np.sin(angles), 2, axis=-1)
    if attention_factor != 1.0:
        cos = (cos * np.float32(attention_factor)).astype(np.float32)
        sin = (sin * np.float32(attention_factor)).astype(np.float32)
    rotary_dim = cos.shape[-1]

    def rotate(t: np.ndarray) -> np.ndarray:
        """(..., n, head_dim) -> the same, pairs of neighbouring dimensions turned."""
        part = t[..., :rotary_dim]
        turned = np.empty_like(part)
        turned[..., 0::2], turned[..., 1::2] = -part[..., 1::2], part[..., 0::2]
        return np.concatenate([part * cos + turned * sin, t[..., rotary_dim:]], axis=-1)

    return rotate


def interleaved(scaling: RopeScaling, n: int) -> Rotate:
    """interleaved_rope for n tokens with scaling's speeds and factor (any rope type)."""
    inv_freq, factor = scaling.frequencies(n)
    return interleaved_rope(n, inv_freq, factor)
