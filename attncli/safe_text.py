"""Making what the user typed (or a file holds) safe to show on a terminal."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=65536)  # the same token labels are drawn in many tables
def visible(text: str) -> str:
    """Text with control, format and bidi characters escaped, e.g. ESC -> \\x1b, U+202E -> \\u202e.

    Nothing the input holds can then move the cursor, change colours or reorder the line.
    The zero-width joiner stays, because it joins emoji into one picture.
    """
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch != "\u200d":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


SPACE_MARK = "␣"
SPACE_MARKERS = ("Ġ", "▁")  # GPT-2's byte-level space, SentencePiece's word start
SPACE_LEGEND = ("␣ marks the space a byte-level tokenizer folds into a token (GPT-2 writes Ġ, "
                "SentencePiece ▁)")


def space_marked(text: str) -> str:
    """A token's own name made safe to show, its folded spaces drawn as ␣: "Ġanimal" -> "␣animal".

    For token names from a byte-level or SentencePiece vocabulary, where Ġ and ▁ stand for
    a space (at the start, or inside: "▁New▁York" -> "␣New␣York"); the text is escaped with
    `visible` first. Show SPACE_LEGEND with it wherever a ␣ appears.
    """
    shown = visible(text)
    for marker in SPACE_MARKERS:
        shown = shown.replace(marker, SPACE_MARK)
    return shown
