"""Tokenization, always through the `tokenizers` library."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    from attncli.files import MAX_TOKENIZER, read_bytes

    path = Path(path)
    # read here, as a regular file only (a FIFO would hang the Rust side beyond Ctrl-C)
    data = read_bytes(path, what="tokenizer file", limit=MAX_TOKENIZER)
    try:  # the bytes as they are: no Python str of a file that may be 30 MB (10% faster)
        tokenizer = Tokenizer.from_buffer(data)
    except Exception:  # a bad file: refused below, with the same message as ever
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


def encode(tokenizer: Tokenizer, text: str, *, special_tokens: bool = True,
           source: str = "the tokenizer") -> list[Token]:
    """Encode text into Tokens, with the tokenizer's own post-processing ([CLS], BOS…).

    The tokenizer runs off the main thread (its batch call lets go of Python while it works),
    so Ctrl-C still stops attn and a regex that backtracks for minutes is given up after
    TOKENIZE_SECONDS; a panic inside the Rust library (a regex over its retry limit) becomes
    one line naming source, with the library's own report kept off the terminal."""
    import threading

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
