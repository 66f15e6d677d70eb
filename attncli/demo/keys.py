"""The lesson's key loop: which key moves where, and showing one page at a time.

`press` is the whole of the navigation, a pure function of where we are and the key, so it
is tested without a terminal; `play` draws pages and reads keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rich.console import Console, RenderableType
from rich.text import Text

from attncli.demo.screens import Screen

NEXT = {"\r", "\n", " ", "n", "\x1b[C", "\x1bOC"}
BACK = {"b", "p", "\x1b[D", "\x1bOD"}
FIRST = {"g", "\x1b[H", "\x1bOH", "\x1b[1~", "\x1b[7~"}
QUIT = {"q", "Q"}
ESC = {"\x1b"}  # closes the list of keys or drops a half-typed number; it never quits
HELP = {"?"}
ERASE = {"\x7f", "\x08"}

KEYS_HELP = (
    ("Enter, Space, → or n", "next page or screen"),
    ("←, b or p", "back"),
    ("Home or g", "the first screen"),
    ("a number, then Enter", "jump to that screen"),
    ("?", "this list of keys; any key closes it (q still quits)"),
    ("Esc", "close this list, or forget a half-typed number"),
    ("q", "quit (Ctrl-C stops at once)"),
)


@dataclass(frozen=True)
class Place:
    """Where the lesson is: a screen, a page of it, a screen number being typed, help shown."""

    screen: int = 0  # 0-based
    page: int = 0
    typed: str = ""
    help: bool = False


def press(at: Place, key: str, total: int, pages: Callable[[int], int]) -> Place | None:
    """Where a key leads from `at` (None: quit). pages(i) is how many pages screen i has."""
    if at.help:  # any key closes the list of keys, Esc and ? too (q still quits)
        return None if key in QUIT else replace(at, help=False)
    if key.isdigit():
        return replace(at, typed=(at.typed + key)[-4:])
    if key in ERASE:
        return replace(at, typed=at.typed[:-1])
    if key in ("\r", "\n") and at.typed:
        target = min(max(int(at.typed), 1), total) - 1
        return Place(target)
    at = replace(at, typed="")
    if key in ESC:
        return at
    if key in QUIT:
        return None
    if key in HELP:
        return replace(at, help=True)
    if key in FIRST:
        return Place()
    if key in NEXT:
        if at.page + 1 < pages(at.screen):
            return replace(at, page=at.page + 1)
        return Place(at.screen + 1) if at.screen + 1 < total else at
    if key in BACK:
        if at.page > 0:
            return replace(at, page=at.page - 1)
        if at.screen > 0:
            return Place(at.screen - 1, pages(at.screen - 1) - 1)
        return at
    return at  # any other key: stay


def split_keys(chunk: str) -> list[str]:
    """One read from the terminal as separate keys: a fast typist's (or a paste's) "12\r"
    arrives at once, while an arrow's escape sequence ("\x1b[C") is one key."""
    keys, i = [], 0
    while i < len(chunk):
        if chunk[i] == "\x1b" and i + 1 < len(chunk) and chunk[i + 1] in "[O":
            j = i + 2
            while j < len(chunk) and not (chunk[j].isalpha() or chunk[j] == "~"):
                j += 1
            keys.append(chunk[i:j + 1])
            i = j + 1
        else:
            keys.append(chunk[i])
            i += 1
    return keys


def footer(at: Place, total: int, page_count: int) -> Text:
    """The last line: where we are and the main keys."""
    where = f"{at.screen + 1}/{total}" + (f" · page {at.page + 1}/{page_count}"
                                          if page_count > 1 else "")
    if at.typed:
        return Text.assemble((where, "bold"), f" · go to screen {at.typed}_ (Enter)",
                             style="reverse")
    last = at.screen + 1 == total and at.page + 1 == page_count
    keys = ("q: quit · ←/b: back · g: first · ?: keys" if last else
            "Enter/→: next · ←/b: back · g: first · ?: keys · q: quit")
    return Text.assemble((where, "bold"), f" · {keys}", style="reverse", no_wrap=True,
                         overflow="ellipsis")


def help_page() -> RenderableType:
    from rich.table import Table

    table = Table(title="Keys", title_justify="left", box=None, padding=(0, 2))
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("does")
    for key, does in KEYS_HELP:
        table.add_row(key, does)
    return table


def play(screens: Sequence[Screen], out: Console, *, pause: bool,
         read_key: Callable[[], str] | None = None) -> list[int]:
    """Show the lesson. Without pause, every screen whole, one after another; with pause, a
    page at a time, moved by keys. Returns the screens shown (0-based, in lesson order), to
    export them. Ctrl-C raises KeyboardInterrupt, after ending the footer's line."""
    total = len(screens)
    if not pause:
        for i, screen in enumerate(screens):
            out.print(screen.render(i + 1, total))
            out.print()
        return list(range(total))
    read_key = read_key or _getchar
    laid: dict[tuple[int, int, int], list] = {}  # (screen, width, height) -> pages

    def pages_of(i: int) -> list:
        key = (i, out.width, out.height)
        if key not in laid:
            laid[key] = screens[i].pages(i + 1, total, out, out.height - 1)  # 1: the footer
        return laid[key]

    seen: set[int] = set()
    pending: list[str] = []  # keys read together, pressed one by one
    at: Place | None = Place()
    while at is not None:
        pages = pages_of(at.screen)
        at = replace(at, page=min(at.page, len(pages) - 1))
        seen.add(at.screen)
        out.clear()
        page = help_page() if at.help else pages[at.page]
        drawn = len(out.render_lines(page, out.options, pad=False))
        out.print(page)
        out.print("\n" * max(0, out.height - 1 - drawn), end="")  # the footer on the last line
        out.print(footer(at, total, len(pages)), end="")
        if not pending:
            try:
                pending = split_keys(read_key()) or [""]
            finally:
                out.print()
        at = press(at, pending.pop(0), total, lambda i: len(pages_of(i)))
    return sorted(seen)


def _getchar() -> str:
    import typer

    try:
        return typer.getchar()  # Ctrl-C raises KeyboardInterrupt
    except EOFError:  # no more input: stop as q does
        return "q"
