"""The console: print a renderable, and save exactly what was printed as SVG, HTML or text."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attncli.errors import AttnError
from attncli.files import atomic_write

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
        """Refuse before any work is done: an existing file without --force, a missing folder."""
        for _, path in self.targets():
            if path.is_dir():
                raise AttnError(f"{path}: is a directory")
            if path.exists() and not self.force:
                raise AttnError(f"{path}: already exists (use --force to overwrite it)")
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir():
                raise AttnError(f"{path}: folder {folder} does not exist")


def console(*, record: bool = False, width: int | None = None) -> Console:
    """A console that never interprets markup or emoji codes in what it prints.

    With NO_COLOR set it writes no escape codes at all: rich's own NO_COLOR handling
    drops only the colours and still writes bold, dim and reverse.
    """
    import os

    from rich.console import Console

    plain = os.environ.get("NO_COLOR", "") != ""
    return Console(highlight=False, emoji=False, markup=False, record=record, width=width,
                   **({"color_system": None} if plain else {}))


def show(renderable: RenderableType, exports: Exports | None = None,
         out: Console | None = None) -> Console:
    """Print renderable; then write each requested export of what was printed, atomically."""
    exports = exports or Exports()
    exports.check()
    out = out or console()
    out.print(renderable)
    save(renderable, exports, out.width)
    return out


def save(renderable: RenderableType, exports: Exports, width: int) -> None:
    """Write each requested export of renderable, laid out at width, atomically."""
    if exports.targets():
        from rich.console import Console

        # Lay the same renderable out again at the same width, in colour, off screen: the
        # files match the terminal even when stdout is a pipe that got no colour.
        recorder = Console(file=io.StringIO(), width=width, record=True, force_terminal=True,
                           color_system="truecolor", highlight=False, emoji=False, markup=False)
        recorder.print(renderable)
        for kind, path in exports.targets():
            atomic_write(path, _export(recorder, kind).encode("utf-8"), force=exports.force)


def _export(out: Console, kind: str) -> str:
    # clear=False: every export is of the same, whole screen
    if kind == "svg":
        return out.export_svg(title="attn", clear=False)
    if kind == "html":
        return out.export_html(clear=False, inline_styles=True)
    return out.export_text(clear=False)
