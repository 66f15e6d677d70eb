"""Which tokens a word names: the focus word, a pair's query and key words and the word
compared all look tokens up here. Errors and notes name the word's role (attncli.errors.ROLES).

A name is matched against each token as the table shows it ("animal"), and as the tokenizer
spells it ("##ization", "Ġanimal"), first with its case as given, then ignoring case:

    tired      every token "tired" (or "Tired" when no token is exactly "tired")
    the#2      the second of those
    #7         token 7, by its position in the tokens table
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from attncli.errors import Names, RoleError, Worded
from attncli.safe_text import visible
from attncli.tokens import Token

LISTED = 30  # tokens named in an error message before "…"


@dataclass(frozen=True)
class Words:
    """A text and its tokens, to look a word up in before any layer has run."""

    text: str
    tokens: list[Token]

    @cached_property
    def labels(self) -> list[str]:
        """How tables will name each token (as Explanation.labels)."""
        return [t.label(self.text) for t in self.tokens]


class Named(Protocol):
    """What a word is looked up in (an Explanation, or Words): its text, tokens and labels."""

    @property
    def text(self) -> str: ...
    @property
    def tokens(self) -> list[Token]: ...
    @property
    def labels(self) -> list[str]: ...


def find_all(ex: Named, name: str, role: str) -> list[int]:
    """Positions of every token that name matches (one, with #N or WORD#N); role is what the
    word is for (attncli.errors.ROLES), as errors name it."""
    spec = name.strip()
    if m := re.fullmatch(r"#(\d+)", spec):
        index, count = int(m[1]), len(ex.tokens)
        if index >= count:
            raise RoleError(lambda n: f"{n(role)} {visible(name)!r}: there is no token #{index}; "
                                      f"the text has {count} (#0 to #{count - 1})")
        return [index]
    word, nth = spec, None
    if m := re.fullmatch(r"(.+)#(\d+)", spec):
        word, nth = m[1], int(m[2])
    found = _matches(ex, word)
    if not found:
        raise RoleError(_missing(ex, word, role))
    if nth is None:
        return found
    if not 1 <= nth <= len(found):
        raise RoleError(lambda n: f"{n(role)} {visible(name)!r}: {visible(word)!r} occurs "
                                  f"{_times(len(found))}, so #{nth} is not one of them")
    return [found[nth - 1]]


def find_one(ex: Named, name: str, role: str) -> tuple[int, Worded | None]:
    """The first token name matches, and a note naming the others when there are several."""
    found = find_all(ex, name, role)
    if len(found) == 1:
        return found[0], None
    word = visible(name.strip())

    def note(n: Names) -> str:
        return (f"{n(role)} {word!r} matches {len(found)} tokens "
                f"({', '.join(f'#{i}' for i in found)}); this is the first, #{found[0]}. "
                f"Pick another with {n.give(role, f'{word}#2')} or "
                f"{n.give(role, f'#{found[1]}')}.")

    return found[0], Worded(note)


def _names(ex: Named, i: int) -> tuple[str, ...]:
    """What token i may be called: its label, its tokenizer spelling, and that spelling bare."""
    text = ex.tokens[i].text
    bare = text.removeprefix("##").lstrip("Ġ▁")
    return ex.labels[i].strip(), text, bare


def _matches(ex: Named, word: str) -> list[int]:
    exact = [i for i in range(len(ex.tokens)) if word in _names(ex, i)]
    if exact:
        return exact
    folded = word.casefold()
    return [i for i in range(len(ex.tokens))
            if folded in (n.casefold() for n in _names(ex, i))]


def word_pieces(text: str, tokens: list[Token], word: str) -> list[tuple[int, int, list[int]]]:
    """Where word stands in text as a whole word (ignoring case), and the tokens that cover
    part of it there: one (start, end, pieces) per occurrence. Special tokens ([CLS]) cover
    no text and are never pieces."""
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
    return [(m.start(), m.end(), [i for i, t in enumerate(tokens)
                                  if t.end > t.start and t.start < m.end() and t.end > m.start()])
            for m in pattern.finditer(text)]


def _missing(ex: Named, word: str, role: str) -> Callable[[Names], str]:
    """Why word names no token: it was split into pieces, or it is not in the text."""
    for _, _, pieces in word_pieces(ex.text, ex.tokens, word):
        if len(pieces) > 1:
            named = ", ".join(f"#{i} {visible(ex.tokens[i].text)}" for i in pieces)
            return lambda n: (f"{n(role)} {visible(word)!r} is split into {len(pieces)} tokens "
                              f"here ({named}): name one of them, e.g. "
                              f"{n.give(role, f'#{pieces[0]}')}")
    listed = ", ".join(visible(label) for label in ex.labels[:LISTED])
    more = f", … ({len(ex.labels) - LISTED} more)" if len(ex.labels) > LISTED else ""
    return lambda n: f"{n(role)} {visible(word)!r} is not one of the tokens: {listed}{more}"


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")
