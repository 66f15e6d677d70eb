"""The pieces layers are made of, shared by every family: linear maps, norms, activations and
sliding-window layouts (float32 in, float32 out, or float64 with --float64). RoPE, with its
scaling types, is in rope.py."""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from attncli.models.config import Config, as_config
from attncli.models.read_ahead import ReadAhead, usable_cpus

FEW_ROWS = 64  # up to this many rows of x, linear multiplies the other way round

# Set (corpus records): linear multiplies a batch of streams stream by stream, each as it
# would be alone. BLAS may sum a row in a different order in a larger product (another
# kernel for another size), so one product over every row can change a stream's last bits.
BY_STREAM: ContextVar[bool] = ContextVar("BY_STREAM", default=False)


HIGH_HALF = 1 if sys.byteorder == "little" else 0  # which uint16 of a uint32 is its top half
PACKED_BLOCK = 1 << 20  # numbers of a Packed matrix converted at a time: 4 MiB, in cache


@dataclass(eq=False)
class Packed:
    """A bfloat16 matrix W (in, out), kept as the checkpoint stores it: bits, (out, in), the
    16 bits of each number, mapped from the file. linear multiplies by it a block of rows
    of bits at a time: each block is converted to float32 (bfloat16 is the top half of a
    float32) into a small buffer that stays in the CPU's cache, and multiplied there. The
    float32 matrix is never written out whole, so a layer's weights cross memory once, at
    half their float32 size."""

    bits: np.ndarray  # (out, in) uint16
    ndim = 2

    @property
    def shape(self) -> tuple[int, int]:
        return self.bits.shape[1], self.bits.shape[0]

    def times(self, x: np.ndarray) -> np.ndarray:
        """x @ W for x (n, in) float32: (n, out), each number a float32 dot product of a row
        of x and a column of W, as with W converted whole."""
        if x.dtype != np.float32:
            return x @ self.whole()
        n_out, n_in = self.bits.shape
        y = np.empty((len(x), n_out), dtype=np.float32)  # (n, out)
        rows = max(1, PACKED_BLOCK // n_in)
        starts = range(0, n_out, rows)
        parts = min(len(starts), _product_threads())
        cuts = [starts[len(starts) * k // parts] for k in range(parts)] + [n_out]
        others = [ReadAhead(self._columns, x, y, cuts[k], cuts[k + 1], rows)
                  for k in range(1, parts)]  # the other parts, on threads of their own
        self._columns(x, y, cuts[0], cuts[1], rows)
        for other in others:
            other.result()
        return y

    def _columns(self, x: np.ndarray, y: np.ndarray, begin: int, end: int, rows: int) -> None:
        """y[:, begin:end] = x @ W[:, begin:end], converting rows rows of bits at a time
        (begin is a multiple of rows, and end too unless it is the last column)."""
        block = _block_buffer(rows * self.bits.shape[1])
        for start in range(begin, end, rows):
            w = widen_bf16(self.bits[start:start + rows], block)  # (r, in)
            y[:, start:start + len(w)] = (w @ x.T).T if len(x) <= FEW_ROWS else x @ w.T

    def whole(self) -> np.ndarray:
        """W (in, out) converted to float32 at once."""
        return widen_bf16(self.bits, np.zeros(self.bits.size, dtype=np.uint32)).T


_BLOCKS = threading.local()  # each thread's buffer for Packed.times


def widen_bf16(bits: np.ndarray, words: np.ndarray) -> np.ndarray:
    """bfloat16 numbers (their 16 bits, uint16, any shape) as float32, written into words
    (uint32, at least bits.size of them, their low halves zero): bfloat16 is the top half
    of a float32, so each number's bits are copied into the top half of a word (twice as
    fast as a shift, which writes all four bytes). The float32 view of words, bits' shape."""
    count = bits.size
    words[:count].view(np.uint16).reshape(count, 2)[:, HIGH_HALF] = bits.reshape(count)
    return words[:count].view(np.float32).reshape(bits.shape)


def _product_threads() -> int:
    """How many threads a Packed product is split over: the usable CPUs, when BLAS runs on
    one thread (as `attn` asks it to) and the product is not already on a worker thread
    (a split of the work above it); else one, and BLAS's own threads share the work."""
    one = any(os.environ.get(name, "").strip() == "1"
              for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
    if not one or threading.current_thread() is not threading.main_thread():
        return 1
    return usable_cpus()


def _block_buffer(count: int) -> np.ndarray:
    """This thread's (count,) uint32 buffer, zeroed when made: Packed.times writes only the
    top halves of its words, so the low halves stay zero."""
    buffer = getattr(_BLOCKS, "buffer", None)
    if buffer is None or buffer.size < count:
        buffer = _BLOCKS.buffer = np.zeros(count, dtype=np.uint32)
    return buffer


def linear(x: np.ndarray, w: np.ndarray | Packed, b: np.ndarray | None = None) -> np.ndarray:
    """x @ w (+ b), with w stored (in, out), or Packed.

    For a few rows (a sentence through a model), and w the transpose of a C-ordered
    (out, in) matrix as checkpoints store them, the product is taken as (w.T @ x.T).T: BLAS
    runs its kernel over w's many rows instead of x's few, 15-45 % faster. Each number is
    the same dot product; recent OpenBLAS builds sum it in the same order (the same bits as
    x @ w), older ones (numpy 1.21's) may not, so tests/test_layers_linear.py holds it to a
    dot product's rounding. The result is copied back to C order, so what follows it reads
    the same layout. A batch of streams (b, n, in) is multiplied as one (b * n, in) matrix,
    which BLAS runs far faster than b products; with BY_STREAM set, b products, each
    stream's bits as alone."""
    if x.ndim > 2 and w.ndim == 2:  # a batch of streams
        if BY_STREAM.get():
            streams = x.reshape(-1, *x.shape[-2:])  # (b, n, in)
            return np.stack([linear(s, w, b) for s in streams]).reshape(
                *x.shape[:-1], w.shape[-1])
        return linear(x.reshape(-1, x.shape[-1]), w, b).reshape(*x.shape[:-1], w.shape[-1])
    if isinstance(w, Packed):
        y = w.times(x)
    elif (x.ndim == 2 and w.ndim == 2 and len(x) <= FEW_ROWS and w.T.flags.c_contiguous
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


@dataclass(eq=False)
class HeldNorm:
    """A norm taken at one input x with its scale held there: a linear map of any part of x,
    plus a bias. For parts that sum to x, norm(x) = sum of map(part) + b, so each part's
    share of what follows the norm can be read off (direct logit attribution). In float64.

        LayerNorm  map(c) = (c - mean(c)) * scale * w,  scale = 1 / sqrt(var(x) + eps), b
        RMSNorm    map(c) = c * scale * w,              scale = 1 / sqrt(mean(x^2) + eps)

    w is the weight the norm multiplies by: (1 + weight) for Gemma's norm."""

    scale: np.ndarray  # (..., 1): held at x
    w: np.ndarray  # (d,)
    centre: bool  # LayerNorm takes each part's mean away (a linear step too)
    b: np.ndarray | None = None  # (d,), added once, not per part

    def __call__(self, part: np.ndarray) -> np.ndarray:
        """(..., d) one part of x -> (..., d) its share of norm(x), bias left out."""
        c = np.asarray(part, dtype=np.float64)
        if self.centre:
            c = c - c.mean(axis=-1, keepdims=True)
        return c * self.scale * self.w


def held_layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, eps: float
                    ) -> HeldNorm:
    """layer_norm at x, its 1 / sigma held."""
    x64 = np.asarray(x, dtype=np.float64)
    var = np.square(x64 - x64.mean(axis=-1, keepdims=True)).mean(axis=-1, keepdims=True)
    return HeldNorm(1 / np.sqrt(var + eps), np.asarray(w, np.float64), True,
                    None if b is None else np.asarray(b, np.float64))


def held_rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> HeldNorm:
    """rms_norm at x (w as the family multiplies by it), its 1 / RMS held."""
    x64 = np.asarray(x, dtype=np.float64)
    mean_square = np.square(x64).mean(axis=-1, keepdims=True)  # (..., 1)
    return HeldNorm(1 / np.sqrt(mean_square + eps), np.asarray(w, np.float64), False)


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
    np.copyto(t, negative)  # 1 there, else 0 (a copy, not a select with where=, which is slow)
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


def activation(config: Config, *keys: str, default: str) -> Callable[[np.ndarray], np.ndarray]:
    """The activation config.json names in the first of keys set (default if none is); a name
    attncli does not compute (transformers' ACT2FN has more: relu2, mish, gelu_10, …) is
    refused, naming the field."""
    return ACTIVATIONS[config.choice(*keys, options=sorted(ACTIVATIONS), default=default)]


SLIDING = ("sliding_attention", "full_attention")  # the layer_types attncli runs


def layer_kinds(config: Config | Mapping[str, Any], n_layers: int, pattern: int | None = None
                ) -> list[str] | None:
    """Each layer's kind, "sliding_attention" or "full_attention": layer_types, or in configs
    written before it, the family's pattern if it has one (Gemma 2 and 3: layer i slides
    unless (i + 1) % sliding_window_pattern == 0); else None."""
    config = as_config(config)
    if pattern is not None:
        pattern = config.integer("sliding_window_pattern", default=pattern)
    types = config.choices("layer_types", options=SLIDING, length=n_layers)
    if types is not None or pattern is None:
        return types
    return ["sliding_attention" if (i + 1) % pattern else "full_attention"
            for i in range(n_layers)]


def sliding_windows(config: Config, n_layers: int, *, every_layer: bool = False,
                    from_layer: bool = False, pattern: int | None = None) -> list[int | None]:
    """Per layer, how many keys back a query may see (None: all of them): sliding_window in
    the layers layer_kinds says slide; without their kinds, in every layer (every_layer:
    Mistral, Phi-3), or with use_sliding_window from layer max_window_layers on (from_layer:
    Qwen2, Qwen3); else in none (Llama)."""
    window = config.optional_integer("sliding_window")
    types = layer_kinds(config, n_layers, pattern)
    first = None
    if from_layer and config.boolean("use_sliding_window", default=False):
        first = config.integer("max_window_layers", low=0, default=n_layers)
    if window is None:
        return [None] * n_layers
    if types is not None:
        return [window if t == "sliding_attention" else None for t in types]
    if every_layer:
        return [window] * n_layers
    if first is not None:
        return [window if i >= first else None for i in range(n_layers)]
    return [None] * n_layers
