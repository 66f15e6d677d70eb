"""Strict JSON (RFC 8259) out, block by block: full float precision, a masked entry (-inf)
as null, any other NaN or infinity refused, and the hidden characters of strings escaped.
export.py builds the documents this writes."""

from __future__ import annotations

import codecs
import io
import json
import math
import unicodedata
from collections.abc import Callable
from typing import TextIO

import numpy as np
import orjson


def write(doc: object, out: TextIO) -> None:
    """Write doc as strict JSON (RFC 8259), block by block, so memory stays flat for long
    inputs.

    The text is orjson's: compact (no spaces), floats in their shortest float64 round-trip
    form, the same as orjson.dumps(to_dict(…)) would give, but for the strings' hidden
    characters, escaped as _text says. A masked entry (-inf in an array) is null; a NaN or
    infinity anywhere else is a bug, raised as ValueError rather than written. Arrays go
    through orjson a block of rows at a time (about BLOCK numbers), as float64 (a float32
    array's numbers are written as the float64 they widen to, so they come back bit-exact).
    On a UTF-8 text stream with a binary buffer (sys.stdout) the bytes go to the buffer;
    otherwise the text is written.
    """
    sink = _Sink(out)
    _write(doc, sink)
    sink.flush()


BLOCK = 1 << 15  # numbers per orjson call: about 0.7 MB of text
FLUSH = 1 << 20  # bytes gathered before they are handed to the output
DIRECT = 1 << 16  # a piece this long (an array's block) is handed on as it is, not gathered
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


class _Sink:
    """Gathers the document's small pieces and hands them on in pieces of about FLUSH bytes;
    a piece of DIRECT bytes or more (a block of an array's numbers) goes straight on after
    them, without being copied into the gathered ones."""

    raw: Callable[[bytes | bytearray | memoryview], object]

    def __init__(self, out: TextIO) -> None:
        self.buf = bytearray()
        binary = getattr(out, "buffer", None)
        encoding = getattr(out, "encoding", None)
        if binary is not None and encoding and codecs.lookup(encoding).name == "utf-8":
            out.flush()  # whatever the text layer holds goes first
            self.raw = binary.write
        else:  # a StringIO, or a stream in another encoding: it encodes, as it always did
            self.raw = lambda data: out.write(str(data, "utf-8"))

    def write(self, data: bytes | memoryview) -> None:
        if len(data) >= DIRECT:  # an array's block: straight through, after what came before
            self.flush()
            self.raw(data)
            return
        self.buf += data
        if len(self.buf) >= FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.raw(self.buf)
            self.buf = bytearray()


def _write(value: object, sink: _Sink) -> None:
    if isinstance(value, np.ndarray):
        _array(value, sink)
    elif isinstance(value, dict):
        sink.write(b"{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                sink.write(b",")
            sink.write(_key(key))
            _write(item, sink)
        sink.write(b"}")
    elif isinstance(value, (list, tuple)):
        if not any(isinstance(v, _NESTED) for v in value):  # numbers, booleans and null
            sink.write(_scalar(value))
            return
        sink.write(b"[")
        for i, item in enumerate(value):
            if i:
                sink.write(b",")
            _write(item, sink)
        sink.write(b"]")
    elif isinstance(value, str):
        sink.write(_text(value))
    else:
        sink.write(_scalar(value))


_NESTED = (np.ndarray, dict, list, tuple, str)


def _array(arr: np.ndarray, sink: _Sink) -> None:
    """An array as nested JSON lists, BLOCK numbers at a time, -inf (masked) as null."""
    kind = arr.dtype.kind
    if kind not in "fiub":  # not numbers (an object array): element by element
        _write(arr.tolist(), sink)
        return
    if arr.ndim == 0:
        sink.write(_scalar(arr.item()))
        return
    step = max(1, BLOCK // max(1, arr[0].size)) if len(arr) else 1
    sink.write(b"[")
    for start in range(0, len(arr), step):
        block = arr[start:start + step]
        if kind == "f":
            block = np.ascontiguousarray(block, dtype=np.float64)  # float32 -> its float64
            if not np.isfinite(block).all():
                _masked_only(block)
        elif not (block.flags.c_contiguous and block.dtype.isnative):
            block = np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("="))
        if start:
            sink.write(b",")
        sink.write(memoryview(orjson.dumps(block, option=_NUMPY))[1:-1])
    sink.write(b"]")


def _masked_only(block: np.ndarray) -> None:
    """-inf is a masked entry, which orjson writes as null; NaN or +inf is a bug."""
    if np.isnan(block).any() or np.isposinf(block).any():
        raise ValueError("a NaN or infinity is not valid JSON (RFC 8259): not written")


def _scalar(value: object) -> bytes:
    """A number, boolean or null, or a flat list of them: NaN and ±infinity are refused."""
    if isinstance(value, (list, tuple)):
        value = [_finite(v) for v in value]
    else:
        value = _finite(value)
    try:
        return orjson.dumps(value, option=_NUMPY)
    except TypeError:  # orjson stops at 64-bit integers (a --seed may be larger)
        if isinstance(value, list):
            return b"[" + b",".join(_scalar(v) for v in value) + b"]"
        if isinstance(value, int):
            return str(int(value)).encode()
        raise


def _finite(value: object) -> object:
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError("a NaN or infinity is not valid JSON (RFC 8259): not written")
        return float(value)  # a numpy float32 as the float64 it is, never its float32 digits
    return value


_KEYS: dict[str, bytes] = {}


def _key(key: object) -> bytes:
    """'"key":', remembered: a document repeats a few keys many times."""
    found = _KEYS.get(key) if isinstance(key, str) else None
    if found is None:
        found = _text(str(key)) + b":"
        if len(_KEYS) < 4096 and isinstance(key, str):
            _KEYS[key] = found
    return found


def _text(value: str) -> bytes:
    """A JSON string: the text kept as it is, except that every control, format and bidi
    character (C1 controls, U+202E …) is written as \\uXXXX, still valid JSON but never raw on
    a terminal. The zero-width joiner stays: it joins emoji."""
    try:
        dumped = orjson.dumps(value)
    except TypeError:  # a lone surrogate, which UTF-8 cannot hold: escaped below
        dumped = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if dumped.isascii():
        return dumped
    return "".join(_escape(ch) if ord(ch) >= 0x80 and ch != "\u200d"
                   and unicodedata.category(ch) in _HIDDEN else ch
                   for ch in dumped.decode("utf-8", "surrogatepass")).encode()


def _escape(ch: str) -> str:
    """One character as JSON's \\uXXXX; beyond U+FFFF, as its two UTF-16 surrogates."""
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


_HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def dumps(doc: object) -> str:
    """Serialise strictly: a NaN or infinity that slipped through is a bug, not output."""
    buf = io.StringIO()
    write(doc, buf)
    return buf.getvalue()
