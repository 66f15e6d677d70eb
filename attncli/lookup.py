"""Which tokens a word names: --focus, --from, --to and --word all look tokens up here.

A name is matched against each token as the table shows it ("animal"), and as the tokenizer
spells it ("##ization", "Ġanimal"), first with its case as given, then ignoring case:

    tired      every token "tired" (or "Tired" when no token is exactly "tired")
    the#2      the second of those
    #7         token 7, by its position in the tokens table
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from attncli.errors import AttnError
from attncli.explain import Explanation
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


Named = Explanation | Words  # what a word is looked up in: its text, tokens and labels


def find_all(ex: Named, name: str, option: str) -> list[int]:
    """Positions of every token that name matches (one, with #N or WORD#N)."""
    spec = name.strip()
    if m := re.fullmatch(r"#(\d+)", spec):
        index = int(m[1])
        if index >= len(ex.tokens):
            raise AttnError(f"{option} {visible(name)!r}: there is no token #{index}; the text "
                            f"has {len(ex.tokens)} (#0 to #{len(ex.tokens) - 1})")
        return [index]
    word, nth = spec, None
    if m := re.fullmatch(r"(.+)#(\d+)", spec):
        word, nth = m[1], int(m[2])
    found = _matches(ex, word)
    if not found:
        raise AttnError(_missing(ex, word, option))
    if nth is None:
        return found
    if not 1 <= nth <= len(found):
        raise AttnError(f"{option} {visible(name)!r}: {visible(word)!r} occurs "
                        f"{_times(len(found))}, so #{nth} is not one of them")
    return [found[nth - 1]]


def find_one(ex: Named, name: str, option: str) -> tuple[int, str | None]:
    """The first token name matches, and a note naming the others when there are several."""
    found = find_all(ex, name, option)
    if len(found) == 1:
        return found[0], None
    word = visible(name.strip())
    flag = option.split()[0]  # "--from", or a plain name ("the query word") below the CLI
    how = (f"Pick another with {flag} '{word}#2' or {flag} '#{found[1]}'." if flag.startswith("-")
           else f"Name another as '{word}#2' or '#{found[1]}'.")
    return found[0], (f"{option} {word!r} matches {len(found)} tokens "
                      f"({', '.join(f'#{i}' for i in found)}); this is the first, #{found[0]}. "
                      + how)


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


def _missing(ex: Named, word: str, option: str) -> str:
    """Why word names no token: it was split into pieces, or it is not in the text."""
    for _, _, pieces in word_pieces(ex.text, ex.tokens, word):
        if len(pieces) > 1:
            named = ", ".join(f"#{i} {visible(ex.tokens[i].text)}" for i in pieces)
            return (f"{option} {visible(word)!r} is split into {len(pieces)} tokens here "
                    f"({named}): name one of them, e.g. {option} '#{pieces[0]}'")
    listed = ", ".join(visible(label) for label in ex.labels[:LISTED])
    more = f", … ({len(ex.labels) - LISTED} more)" if len(ex.labels) > LISTED else ""
    return f"{option} {visible(word)!r} is not one of the tokens: {listed}{more}"


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")
