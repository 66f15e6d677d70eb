"""Tokenization, always through the `tokenizers` library."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, pre_tokenizers
from tokenizers.models import WordLevel

from attncli.errors import AttnError

UNK = "[UNK]"


@dataclass(frozen=True)
class Token:
    """One token: its text as the tokenizer names it, its id, and where it sits in the input."""

    text: str
    id: int
    start: int  # character offset of the first character in the input
    end: int  # character offset one past the last character

    def label(self, source: str) -> str:
        """What to call the token in a table: the input it covers, or its own name ([CLS])."""
        piece = source[self.start : self.end]
        return piece if piece.strip() else self.text


def word_level(text: str) -> list[Token]:
    """Split into words and punctuation with a word-level tokenizer.

    The vocabulary is built from the text itself: ids number the distinct
    words in order of first appearance, from 1 ([UNK] is 0).
    """
    splitter = pre_tokenizers.Whitespace()  # \w+ | [^\w\s]+
    vocab: dict[str, int] = {UNK: 0}
    for word, _ in splitter.pre_tokenize_str(text):
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = splitter
    return encode(tokenizer, text)


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a tokenizer.json with padding and truncation switched off."""
    path = Path(path)
    return parse_tokenizer(read_tokenizer(path), path)


def read_tokenizer(path: Path) -> bytes:
    """A tokenizer.json's bytes, or the one-line error naming what is wrong with the file."""
    from attncli.files import MAX_TOKENIZER, read_bytes

    # read here, as a regular file only (a FIFO would hang the Rust side beyond Ctrl-C)
    return read_bytes(path, what="tokenizer file", limit=MAX_TOKENIZER)


def parse_tokenizer(data: bytes, path: Path) -> Tokenizer:
    """The tokenizer in data (path's bytes, read_tokenizer), with padding and truncation
    switched off, or the one-line error naming path."""
    try:  # the bytes as they are: no Python str of a file that may be tens of MB
        tokenizer = Tokenizer.from_buffer(data)
    except Exception:  # a bad file: refused below, with the message that names the file
        tokenizer = None
    if tokenizer is None:
        try:
            tokenizer = Tokenizer.from_str(data.decode("utf-8"))
        except Exception as exc:  # the Rust side raises plain Exception on bad JSON
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AttnError(f"{path}: not a valid tokenizer.json ({first})") from None
    tokenizer.no_padding()  # some files pad every input to a fixed length
    tokenizer.no_truncation()
    return tokenizer


TOKENIZE_SECONDS = 20.0  # a tokenizer that takes longer on one text is stopped waiting for
# what one character of a tokenizer's normalized text can cost at most, when it becomes a
# token of its own: the library's encoding and its Python Token (each about 750 bytes)
TOKEN_BYTES = 800
UNICODE_MAX_EXPANSION = 18  # the most characters Unicode's NFKD makes of one (U+FDFA)


def expansion(tokenizer: Tokenizer) -> int:
    """How many tokens one character of input can become at most, from what the tokenizer's
    normalizer, pre-tokenizer and model declare (tokenizer.json), before any text is read.

    A tokenizer's output cannot be known before it runs, and running it is the allocation to
    avoid: a normalizer that replaces each character with 100,000 makes 100,000 tokens of
    each. So each part is bounded from its settings, and the bounds multiply: a Replace
    makes at most len(content) characters of each one its pattern matches (a regex may
    match every character: 1 + len(content)), a Prepend adds its text once per piece (at
    most once per character), a Unicode normal form makes at most 18 of one, a precompiled
    (SentencePiece) map at most its longest replacement, a lowercase at most 3; ByteLevel
    makes a character of each UTF-8 byte (at most 4, and a space before), Metaspace a mark
    before each word (2); a BPE model with byte fallback makes up to 4 tokens of a character,
    any other at most one. Worked out once per tokenizer (a corpus encodes many texts)."""
    import json

    known = _EXPANSION.get(id(tokenizer))
    if known is not None and known[0] is tokenizer:
        return known[1]

    def state(part: Any) -> dict[str, Any]:  # a normalizer, pre-tokenizer or model
        if part is None:
            return {}
        try:
            return json.loads(part.__getstate__())
        except (AttributeError, TypeError, ValueError):  # not serialisable: assume the worst
            return {"type": "unknown"}

    factor = _normalizer_factor(state(tokenizer.normalizer)) \
        * _pre_tokenizer_factor(state(tokenizer.pre_tokenizer))
    # the model's two settings are read as attributes: its state would be its whole vocabulary
    # and merges, serialised and parsed again
    most = factor * (4 if _byte_fallback(tokenizer.model) else 1)
    if len(_EXPANSION) >= 8:  # a process loads few tokenizers; forget the oldest
        del _EXPANSION[next(iter(_EXPANSION))]
    _EXPANSION[id(tokenizer)] = (tokenizer, most)
    return most


# by id, holding the tokenizer so the id stays its own: older tokenizers releases cannot be
# weakly referenced
_EXPANSION: dict[int, tuple[Tokenizer, int]] = {}


def _byte_fallback(model: Any) -> bool:
    """Whether model is a BPE that spells an unknown character as byte tokens (an unreadable
    setting: assume it does)."""
    from tokenizers.models import BPE

    return isinstance(model, BPE) and bool(getattr(model, "byte_fallback", True))


def _normalizer_factor(spec: dict) -> int:
    """The most characters a normalizer (tokenizer.json's "normalizer") makes of one."""
    kind = spec.get("type")
    if not spec or kind in ("Strip", "StripAccents", "Nmt"):  # these only remove or swap
        return 1
    if kind == "Sequence":
        return math.prod(_normalizer_factor(n) for n in spec.get("normalizers") or [])
    if kind == "Replace":
        pattern, content = spec.get("pattern") or {}, str(spec.get("content", ""))
        literal = pattern.get("String") if isinstance(pattern, dict) else None
        if isinstance(literal, str) and literal:
            return max(1, -(-len(content) // len(literal)))
        return 1 + len(content)  # a regex can match every character, or none of them
    if kind == "Prepend":
        return 1 + len(str(spec.get("prepend", "")))
    if kind == "Lowercase":
        return 3
    if kind == "BertNormalizer":  # CJK characters get a space either side; lowercasing: 3
        return 3
    if kind == "ByteLevel":
        return 4
    if kind == "Precompiled":
        return _charsmap_factor(spec.get("precompiled_charsmap"))
    return UNICODE_MAX_EXPANSION  # NFC, NFD, NFKC, NFKD (and anything unknown: the worst)


def _charsmap_factor(charsmap: object) -> int:
    """The longest replacement in a SentencePiece precompiled charsmap (base64: a u32 size,
    that many bytes of trie, then the replacements, each ending in a zero byte)."""
    import base64
    import struct

    try:
        raw = base64.b64decode(str(charsmap))
        (size,) = struct.unpack("<I", raw[:4])
        pieces = raw[4 + size:].split(b"\0")
        return max(1, *(len(p.decode("utf-8", "replace")) for p in pieces))
    except (ValueError, struct.error):  # an unreadable map: the library refused it already
        return UNICODE_MAX_EXPANSION


def _pre_tokenizer_factor(spec: dict) -> int:
    """The most characters a pre-tokenizer makes of one: ByteLevel one per UTF-8 byte and
    a space, Metaspace a mark before a word; the rest only split."""
    kind = spec.get("type", "")
    if kind == "Sequence":
        return math.prod(_pre_tokenizer_factor(p) for p in spec.get("pretokenizers") or [])
    return {"ByteLevel": 5, "Metaspace": 2}.get(kind, 1)


def check_tokenizer_memory(tokenizer: Tokenizer, text: str, source: str) -> None:
    """Refuse a text whose tokens, at the most the tokenizer can make of it (expansion),
    could exceed the memory budget, before the tokenizer runs. A tokenizer that cannot
    expand the text makes no more tokens than it has characters, and the text's length is
    capped before any tokenizer runs (CHARS_PER_TOKEN): it is not weighed here, and the
    tokens it makes are weighed by what uses them (check_token_count)."""
    from attncli.files import check_memory

    most = expansion(tokenizer)
    if most > 1:
        check_memory(len(text) * most * TOKEN_BYTES,
                     f"{source}: tokenizing {len(text):,} characters (up to {most:,} tokens "
                     "each, as its normalizer and pre-tokenizer are set)")


def encode(tokenizer: Tokenizer, text: str, *, special_tokens: bool = True,
           source: str = "the tokenizer") -> list[Token]:
    """Encode text into Tokens, with the tokenizer's own post-processing ([CLS], BOS…).

    The tokenizer runs off the main thread (its batch call lets go of Python while it works),
    so Ctrl-C still stops attn and a regex that backtracks for minutes is given up after
    TOKENIZE_SECONDS; a panic inside the Rust library (a regex over its retry limit) becomes
    one line naming source, with the library's own report kept off the terminal. What it
    can make of the text is weighed against the memory budget first (expansion)."""
    import threading

    check_tokenizer_memory(tokenizer, text, source)
    got: list = []

    def work() -> None:
        try:
            got.append(tokenizer.encode_batch([text], add_special_tokens=special_tokens)[0])
        except BaseException as exc:  # noqa: BLE001  (pyo3's PanicException is a BaseException)
            got.append(exc)

    with _quiet_stderr():
        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        worker.join(TOKENIZE_SECONDS)
    if worker.is_alive():
        raise AttnError(f"{source}: took more than {TOKENIZE_SECONDS:.0f} s on this text and "
                        "was given up (its pre-tokenizer's regex may backtrack without end)")
    enc = got[0]
    if isinstance(enc, BaseException):
        first = (str(enc).splitlines() or [type(enc).__name__])[0]
        raise AttnError(f"{source}: failed on this text ({first})")
    return [
        Token(text=t, id=int(i), start=int(s), end=int(e))
        for t, i, (s, e) in zip(enc.tokens, enc.ids, enc.offsets, strict=True)
    ]


class _quiet_stderr:  # noqa: N801  (used as a context manager)
    """Standard error's file descriptor pointed at /dev/null for the while: a Rust panic
    prints its report there directly, past Python."""

    saved: int | None  # the descriptor that was 2, None when there was none

    def __enter__(self) -> None:
        import os
        import sys

        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:  # no real descriptor 2 (an embedding host): nothing to quiet
            self.saved = None

    def __exit__(self, *exc: object) -> None:
        import os

        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)
