"""The console: print a renderable, and save exactly what was printed as SVG, HTML or text."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attncli.errors import AttnError
from attncli.files import atomic_write, check_target

if TYPE_CHECKING:  # rich is imported only when something is drawn (start-up time)
    from rich.console import Console, RenderableType


@dataclass(frozen=True)
class Exports:
    """Where to save the screen, if anywhere, and whether existing files may be replaced."""

    svg: Path | None = None
    html: Path | None = None
    txt: Path | None = None
    force: bool = False

    def targets(self) -> list[tuple[str, Path]]:
        return [(kind, path) for kind, path in (("svg", self.svg), ("html", self.html),
                                                ("txt", self.txt)) if path is not None]

    def check(self) -> None:
        """Refuse before any work is done: an existing file without --force, a missing folder,
        two exports into one file."""
        seen: dict[Path, str] = {}
        for kind, path in self.targets():
            if path.resolve() in seen:
                raise AttnError(f"{path}: given to both --{seen[path.resolve()]} and --{kind}; "
                                "each export needs its own file")
            seen[path.resolve()] = kind
        for _, path in self.targets():
            check_target(path, force=self.force)


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
                  **({"color_system": None} if plain else {}))


def show(renderable: RenderableType, exports: Exports | None = None,
         out: Console | None = None, title: str = "attn") -> Console:
    """Print renderable; then write each requested export of what was printed, atomically."""
    exports = exports or Exports()
    exports.check()
    out = out or console()
    out.print(renderable)
    save(renderable, exports, out.width, title)
    return out


def save(renderable: RenderableType, exports: Exports, width: int, title: str = "attn") -> None:
    """Write each requested export of renderable, laid out at width, atomically.

    title names the HTML page (its <title>), e.g. the command and its text.
    """
    if exports.targets():
        from rich.console import Console

        # Lay the same renderable out again at the same width, in colour, off screen: the
        # files match the terminal even when stdout is a pipe that got no colour.
        recorder = Console(file=io.StringIO(), width=width, record=True, force_terminal=True,
                           color_system="truecolor", highlight=False, emoji=False, markup=False)
        recorder.print(renderable)
        for kind, path in exports.targets():
            atomic_write(path, _export(recorder, kind, title).encode("utf-8"),
                         force=exports.force)


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


def _export(out: Console, kind: str, title: str = "attn") -> str:
    # clear=False: every export is of the same, whole screen
    if kind == "svg":
        return out.export_svg(title="attn", clear=False)
    if kind == "html":
        import html

        from attncli.safe_text import visible

        title = " ".join(visible(title).split())
        title = title if len(title) <= TITLE_CAP else title[: TITLE_CAP - 1] + "…"
        tag = html.escape(title).replace("{", "{{").replace("}", "}}")  # a format template
        return out.export_html(theme=_light_theme(), clear=False,
                               code_format=HTML_PAGE.replace("{title}", tag), inline_styles=True)
    return out.export_text(clear=False)


def _light_theme():
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
