"""Reading a corpus: plain text (one text per line) or JSONL (a `text` field and an optional
`id`), from a file, standard input or the sample corpus that ships with attncli.

A line that cannot be read (not UTF-8, not a JSON object with a string `text`, an id used
twice) becomes a Bad line, named by its number: the caller reports it and skips it, or
refuses the whole corpus. Blank lines are no texts and are passed over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from attncli.errors import AttnError

SAMPLE = "sample"  # --corpus sample: the corpus that ships with attncli
SAMPLE_FILE = Path(__file__).with_name("sample.txt")


@dataclass(frozen=True)
class Text:
    """One text of a corpus: its id (the JSONL `id`, else its line number) and its line."""

    id: str
    text: str
    line: int


@dataclass(frozen=True)
class Bad:
    """A line that could not be read, and why."""

    line: int
    why: str


def parse_lines(lines: Iterable[bytes]) -> list[Text | Bad]:
    """Every text (or Bad line) of a corpus's lines, in order. The corpus is JSONL when its
    first line that is not blank starts with '{', else plain text."""
    out: list[Text | Bad] = []
    seen: dict[str, int] = {}
    jsonl: bool | None = None
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            out.append(Bad(number, f"not valid UTF-8 (byte {exc.start + 1})"))
            continue
        if not line.strip():
            continue
        if jsonl is None:
            jsonl = line.lstrip().startswith("{")
        found = _json_line(line, number) if jsonl else Text(str(number), line.strip(), number)
        if isinstance(found, Text):
            if found.id in seen:
                found = Bad(number, f"id {found.id!r} is used already, on line {seen[found.id]}")
            else:
                seen[found.id] = number
        out.append(found)
    return out


def _json_line(line: str, number: int) -> Text | Bad:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        return Bad(number, f"not valid JSON ({exc.msg}, column {exc.colno})")
    except ValueError as exc:  # a number too long to convert
        return Bad(number, f"not valid JSON ({exc})")
    if not isinstance(doc, dict):
        return Bad(number, "not a JSON object")
    text = doc.get("text")
    if not isinstance(text, str):
        return Bad(number, "no string field 'text'")
    if not text.strip():
        return Bad(number, "'text' is empty")
    rid = doc.get("id", str(number))
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        return Bad(number, "'id' must be a string or a whole number")
    return Text(str(rid), text, number)


def read_corpus(source: str, stdin: object = None) -> list[Text | Bad]:
    """The texts of source: a file, '-' (stdin, a binary stream or one with .buffer) or
    SAMPLE."""
    if source == "-":
        stream = getattr(stdin, "buffer", stdin)
        if stream is None:
            raise AttnError("cannot read standard input: it is closed; give the corpus as a file")
        try:
            return parse_lines(stream)  # type: ignore[arg-type]
        except (OSError, ValueError) as exc:
            raise AttnError(f"cannot read standard input ({exc})") from None
    from attncli.files import check_regular

    path = SAMPLE_FILE if source == SAMPLE else Path(source)
    check_regular(path, "corpus file")
    try:
        with path.open("rb") as handle:
            return parse_lines(handle)
    except OSError as exc:
        raise AttnError(f"{path}: cannot read ({exc.strerror or exc})") from None
