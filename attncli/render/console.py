"""The console: print a renderable, and save exactly what was printed as SVG, HTML or text.

A target may also be a folder (`attn demo --svg pics/`): save_each then writes one numbered
file per page into it.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attncli.files import atomic_write, check_folder, make_folder, wants_dir

if TYPE_CHECKING:  # rich is imported only when something is drawn (start-up time)
    from rich.console import Console, RenderableType
    from rich.terminal_theme import TerminalTheme

KINDS = ("svg", "html", "txt")


@dataclass(frozen=True)
class Exports:
    """Where to save the screen, if anywhere, and whether existing files may be replaced.

    A target is a file, or a folder for one file per page (see is_dir): give a folder as a str
    ending with "/" ("pics/"), since a Path drops the trailing separator, or as an existing
    directory.
    """

    svg: Path | str | None = None
    html: Path | str | None = None
    txt: Path | str | None = None
    force: bool = False

    def targets(self) -> list[tuple[str, Path]]:
        """Every target given, files and folders, as (kind, path)."""
        return [(kind, Path(path)) for kind in KINDS
                if (path := getattr(self, kind)) is not None]

    def is_dir(self, kind: str) -> bool:
        """Whether the target of kind ("svg", "html" or "txt") is a folder (wants_dir)."""
        path = getattr(self, kind)
        return path is not None and wants_dir(path)


def console(*, record: bool = False, width: int | None = None) -> Console:
    """A console that never interprets markup or emoji codes in what it prints.

    With NO_COLOR set it writes no escape codes at all: rich's own NO_COLOR handling
    drops only the colours and still writes bold, dim and reverse.
    """
    import os

    from rich.console import Console

    class Screen(Console):
        def on_broken_pipe(self) -> None:
            """`attn … | head` closed the pipe: rich would exit 1; the command exits 0."""
            self.quiet = True
            raise BrokenPipeError

    plain = os.environ.get("NO_COLOR", "") != ""
    return Screen(highlight=False, emoji=False, markup=False, record=record, width=width,
                  color_system=None if plain else "auto")


def show(renderable: RenderableType, exports: Exports | None = None,
         out: Console | None = None, title: str = "attn") -> Console:
    """Print renderable; then write each requested export of what was printed, atomically."""
    exports = exports or Exports()
    out = out or console()
    out.print(renderable)
    save(renderable, exports, out.width, title)
    return out


def save(renderable: RenderableType, exports: Exports, width: int, title: str = "attn") -> None:
    """Write each requested export of renderable to its file, laid out at width, atomically.

    title names the HTML page (its <title>), e.g. the command and its text. Folder targets are
    left to save_each.
    """
    files = [(kind, path) for kind, path in exports.targets() if not exports.is_dir(kind)]
    if files:
        recorder = _record(renderable, width)
        for kind, path in files:
            atomic_write(path, _export(recorder, kind, title).encode("utf-8"),
                         force=exports.force)


def save_each(pages: Sequence[tuple[str, RenderableType]], exports: Exports, width: int,
              title: str) -> list[Path]:
    """Write one file per page into each folder target, laid out at width; return the paths.

    pages are (name, renderable), in order. The files are numbered in that order and named
    after the page: 01-what-self-attention-does.svg, 02-step-1-embeddings.svg, … (three
    digits from 100 pages on). A missing folder is created if its parent exists; otherwise,
    or without --force when any of the files already exists, nothing at all is written.
    Each file is written atomically. File targets are left to save.
    """
    folders = [(kind, path) for kind, path in exports.targets() if exports.is_dir(kind)]
    if not folders or not pages:
        return []
    files = {kind: page_files([name for name, _ in pages], kind) for kind, _ in folders}
    for kind, folder in folders:  # every file is checked before the first is written
        check_folder(folder, files[kind], force=exports.force)
    for _, folder in folders:
        make_folder(folder)
    written: list[Path] = []
    for number, (name, renderable) in enumerate(pages, start=1):
        recorder = _record(renderable, width)
        page_title = f"{title} · {number}/{len(pages)} {name}"
        for kind, folder in folders:
            path = folder / files[kind][number - 1]
            atomic_write(path, _export(recorder, kind, page_title).encode("utf-8"),
                         force=exports.force)
            written.append(path)
    return written


SLUG_CAP = 40  # characters of a page's name in its file name


def slug(name: str) -> str:
    """A page's name for a file name: lowercase ASCII letters and digits joined by "-", cut
    at a word to at most SLUG_CAP characters ("Step 1 · Embeddings" -> "step-1-embeddings")."""
    # accents dropped ("é" -> "e"); any other character separates words, as a space does
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    text = "-".join(re.findall(r"[a-z0-9]+", bare.lower()))
    if len(text) > SLUG_CAP:
        cut = text[: SLUG_CAP + 1].rfind("-")
        text = text[:cut] if cut > 0 else text[:SLUG_CAP]
    return text


def page_files(names: Sequence[str], kind: str) -> list[str]:
    """The file names of pages with these names, in order: 01-slug.svg, … ("01.svg" for a name
    with no letters or digits)."""
    digits = max(2, len(str(len(names))))
    return [f"{number:0{digits}d}{'-' if slug(name) else ''}{slug(name)}.{kind}"
            for number, name in enumerate(names, start=1)]


def _record(renderable: RenderableType, width: int) -> Console:
    """The renderable laid out again at width, in colour, off screen: the files match the
    terminal even when stdout is a pipe that got no colour."""
    from rich.console import Console

    recorder = Console(file=io.StringIO(), width=width, record=True, force_terminal=True,
                       color_system="truecolor", highlight=False, emoji=False, markup=False)
    recorder.print(renderable)
    return recorder


TITLE_CAP = 80  # characters of the HTML page's title before "…"
# rich's own page, with a <title>; rich fills in {stylesheet}, {foreground}, {background}, {code}
HTML_PAGE = """\
<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<title>{title}</title>
<style>
{stylesheet}
body {{
    color: {foreground};
    background-color: {background};
}}
</style>
</head>
<body>
    <pre style="font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace"><code \
style="font-family:inherit">{code}</code></pre>
</body>
</html>
"""


# Fonts every system has one of, no web fonts: rich's own SVG fetches Fira Code from a CDN,
# which a slide deck, an offline viewer or librsvg never gets.
MONO_FONTS = "'DejaVu Sans Mono', 'Liberation Mono', Menlo, Consolas, 'Courier New', monospace"
SANS_FONTS = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif"
# The width of a cell over its height: DejaVu Sans Mono's and Menlo's advance is 0.602 em,
# Liberation Mono's and Courier New's 0.600. Renderers without textLength (librsvg) start each
# piece of text at its column but lay it out with the font's own advance: with rich's 0.61 (Fira
# Code) a long piece would fall short of the next one, or with a narrower cell run into it.
FONT_ASPECT_RATIO = 0.602
# rich's SVG template (rich/_export_format.py, unchanged from rich 13.7 to 15) without its
# @font-face rules, with local fonts, and with spaces kept: rich writes spaces as no-break
# spaces, which librsvg still strips at the start and end of a piece of text unless
# xml:space="preserve" (inherited by every element); white-space: pre is the SVG 2 spelling.
# rich fills in every {name}; {{ and }} are braces.
SVG_PAGE = """\
<svg class="rich-terminal" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" \
xml:space="preserve">
    <style>

    .{unique_id}-matrix {{
        font-family: MONO_FONTS;
        font-size: {char_height}px;
        line-height: {line_height}px;
        font-variant-east-asian: full-width;
        white-space: pre;
    }}

    .{unique_id}-title {{
        font-size: 18px;
        font-weight: bold;
        font-family: SANS_FONTS;
    }}

    {styles}
    </style>

    <defs>
    <clipPath id="{unique_id}-clip-terminal">
      <rect x="0" y="0" width="{terminal_width}" height="{terminal_height}" />
    </clipPath>
    {lines}
    </defs>

    {chrome}
    <g transform="translate({terminal_x}, {terminal_y})" \
clip-path="url(#{unique_id}-clip-terminal)">
    {backgrounds}
    <g class="{unique_id}-matrix">
    {matrix}
    </g>
    </g>
</svg>
""".replace("MONO_FONTS", MONO_FONTS).replace("SANS_FONTS", SANS_FONTS)


def local_svg(svg: str) -> str:
    """An SVG made by rich's own template elsewhere (Textual's screenshots) given what ours has:
    local fonts instead of the web font, and every space kept (see SVG_PAGE)."""
    import re

    svg = re.sub(r"@font-face\s*\{[^}]*\}", "", svg)
    svg = re.sub(r"font-family:\s*\"?Fira Code\"?,\s*monospace;",
                 f"font-family: {MONO_FONTS};\n        white-space: pre;", svg)
    return svg.replace('xmlns="http://www.w3.org/2000/svg"',
                       'xmlns="http://www.w3.org/2000/svg" xml:space="preserve"', 1)


def _export(out: Console, kind: str, title: str = "attn") -> str:
    # clear=False: every export is of the same, whole screen
    if kind == "svg":
        return out.export_svg(title="attn", clear=False, code_format=SVG_PAGE,
                              font_aspect_ratio=FONT_ASPECT_RATIO)
    if kind == "html":
        import html

        from attncli.safe_text import visible

        title = " ".join(visible(title).split())
        title = title if len(title) <= TITLE_CAP else title[: TITLE_CAP - 1] + "…"
        tag = html.escape(title).replace("{", "{{").replace("}", "}}")  # a format template
        return out.export_html(theme=_light_theme(), clear=False,
                               code_format=HTML_PAGE.replace("{title}", tag), inline_styles=True)
    return out.export_text(clear=False)


def _light_theme() -> TerminalTheme:
    """Terminal colours that read on the HTML page's white: rich's own default theme uses
    pure bright green (#00ff00) for rules and bright yellow, which do not."""
    from rich.terminal_theme import TerminalTheme

    return TerminalTheme(
        (255, 255, 255), (0, 0, 0),
        [(0, 0, 0), (170, 0, 0), (0, 120, 0), (140, 100, 0), (0, 60, 170), (140, 0, 140),
         (0, 115, 130), (110, 110, 110)],
        [(85, 85, 85), (200, 30, 30), (0, 140, 60), (165, 120, 0), (30, 90, 210),
         (170, 40, 170), (0, 135, 155), (60, 60, 60)],
    )
