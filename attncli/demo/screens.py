"""One screen of the lesson, and how it is laid out in pages that fit the terminal.

A screen is a heading, a few sentences, and blocks of numbers (matrices, bars) drawn by the
same views `attn explain` uses. When its blocks do not fit under the words in a terminal of
the given height, they are spread over pages, whole blocks first; a block taller than a page
is cut into parts, each marked. Every page repeats the heading and the words, so what the
numbers mean is always on screen with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.text import Text

MIN_ROOM = 4  # lines of numbers a page holds at the least, however long the words are


@dataclass(frozen=True)
class Screen:
    """One screen: where we are, what to notice, and the numbers.

    words and body are functions when they need a result: they run when the screen is shown.
    body gives the blocks of numbers, each drawn whole when it fits on a page.
    """

    part: str
    title: str
    words: str | Callable[[], str]
    body: Callable[[], list[RenderableType]] | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def text(self) -> str:
        return self.words() if callable(self.words) else self.words

    def blocks(self) -> list[RenderableType]:
        if "blocks" not in self._cache:
            self._cache["blocks"] = [] if self.body is None else list(self.body())
        return self._cache["blocks"]

    def heading(self, number: int, total: int, page: tuple[int, int] | None = None) -> Text:
        """'[5/13] Part 1 · I love AI · Step 3: …', wrapped rather than cut."""
        return Text.assemble((f"[{number}/{total}] ", "dim"), (f"{self.part} · ", "dim"),
                             (self.title, "bold"),
                             (f"  (page {page[0]} of {page[1]})" if page and page[1] > 1
                              else "", "dim"))

    def render(self, number: int, total: int) -> Group:
        """The whole screen, however tall: for printing straight through and for pictures."""
        parts: list[RenderableType] = [self.heading(number, total), Text(self.text())]
        for block in self.blocks():
            parts += [Text(""), block]
        return Group(*parts)

    def pages(self, number: int, total: int, console: Console, height: int) -> list[Group]:
        """The screen in pages of at most `height` lines each, at the console's width."""
        options = console.options.update(width=console.width, height=None)
        words = Text(self.text())
        top = len(console.render_lines(self.heading(number, total, (9, 9)), options,
                                       pad=False)) + len(console.render_lines(words, options,
                                                                             pad=False))
        room = max(MIN_ROOM, height - top - 1)  # a blank line after the words
        chunks: list[list[RenderableType]] = [[]]
        used = 0
        queue = [(block, 1) for block in self.blocks()]  # (block, blank lines before it)
        while queue:
            block, gap = queue.pop(0)
            lines = console.render_lines(block, options, pad=False)
            parts = _parts(block)
            if len(lines) > room and parts:  # too tall: its parts, each drawn whole if it can
                tight = 0 if isinstance(block, Group) else 1  # a Group's lines stay together
                queue[:0] = [(part, gap if k == 0 else tight) for k, part in enumerate(parts)]
                continue
            gap = gap if chunks[-1] else 0
            need = len(lines) + gap
            if used + need <= room:
                chunks[-1] += [Text("")] * gap + [block]
                used += need
                continue
            if len(lines) <= room:  # whole, on a page of its own
                chunks.append([block])
                used = len(lines)
                continue
            # taller than a page: cut into parts of room - 1 lines and a "continues" mark
            step = room - 1
            for at in range(0, len(lines), step):
                part = lines[at:at + step]
                if chunks[-1]:
                    chunks.append([])
                more = at + step < len(lines)
                chunks[-1] = [Lines(part), *([Text("… continued on the next page",
                                                   style="dim")] if more else [])]
                used = len(part) + more
        chunks = [chunk for chunk in chunks if chunk] or [[]]
        return [Group(self.heading(number, total, (k + 1, len(chunks))), words,
                      *([Text("")] if chunk else []), *chunk)
                for k, chunk in enumerate(chunks)]


def _parts(block: RenderableType) -> list[RenderableType]:
    """What a block is made of, one under another: a Flow's items, a Group's renderables."""
    from attncli.render.widgets import Flow

    if isinstance(block, Flow) and len(block.items) > 1:
        return list(block.items)
    if isinstance(block, Group) and len(block.renderables) > 1:
        return list(block.renderables)
    return []


class Lines:
    """Lines already rendered, drawn as they are (part of a block cut between pages)."""

    def __init__(self, lines: list[list[Segment]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield from line
            yield Segment.line()
