"""What every command does with its result: where it goes (screen, exports, JSON on stdout),
the help's examples, and the tips under a view's header."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from attncli.errors import AttnError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from attncli.explain import Explanation
    from attncli.render.console import Exports
    from attncli.render.explain import Hints

EXIT_CODES = ("Exit codes: 0 success, 1 internal error (rerun with --debug), 2 usage or input "
              "error, 130 interrupted (Ctrl-C).")


def examples(*lines: str) -> str:
    """An epilog of example commands, kept as written (click's \\b marker), then exit codes."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines) + "\n\n" + EXIT_CODES



def exports_for(svg: str | None, html: str | None, txt: str | None, force: bool,
                as_json: bool) -> Exports | None:
    """Where to save the screen; refused with --json, which replaces the screen. None when
    nothing is to be saved (the screen's module is then not even imported: start-up time)."""
    if svg is None and html is None and txt is None:
        return None
    from attncli.render.console import Exports

    exports = Exports(svg, html, txt, force)
    if as_json and exports.targets():
        kinds = [f"--{kind}" for kind, _ in exports.targets()]
        names = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
        raise AttnError(f"{names} cannot be combined with --json: "
                        f"{'it saves' if len(kinds) == 1 else 'they save'} what the terminal "
                        "shows, and --json prints JSON instead (to keep the JSON, redirect it: "
                        "--json > FILE)")
    check_exports(exports)
    return exports


def check_exports(exports: Exports, allow_dirs: bool = False,
                  pages: Sequence[str] = ()) -> None:
    """Refuse before any work is done: an existing file without --force, a missing folder,
    two exports into one file, a folder as target unless allow_dirs.

    With allow_dirs a folder is refused only if it is not a directory, or is missing along
    with its parent (a missing folder is created when saving). pages, the names of the
    pages that save_each will write, if already known, also refuses their files in it.
    """
    from attncli.files import check_folder, check_target
    from attncli.render.console import page_files

    seen: dict[str, tuple[str, bool]] = {}
    for kind, path in exports.targets():
        key, folder = os.path.realpath(path), exports.is_dir(kind)  # never raises on a loop
        if key in seen and not (folder and seen[key][1]):  # folders may be shared
            raise AttnError(f"{path}: given to both --{seen[key][0]} and --{kind}; "
                            "each export needs its own file")
        seen.setdefault(key, (kind, folder))
    for kind, path in exports.targets():
        if not exports.is_dir(kind):
            check_target(path, force=exports.force)
        elif not allow_dirs:
            if path.is_dir():
                check_target(path)  # "…: is a directory", as ever
            raise AttnError(f"{getattr(exports, kind)}: names a folder; --{kind} here saves "
                            "one file, give a file name")
        else:
            check_folder(path, page_files(pages, kind), force=exports.force)


def join_heads_for(as_json: bool, wanted: list[str] | None, head: str | None) -> bool:
    """Whether a model also joins its heads (step 6): when --show names it, or for --json of
    every head of a layer. It runs every head in float64 and writes a d_model² W_O, so a
    one-head --json stays fast. (Seeded and file heads are always joined: they are small.)"""
    return bool(wanted and "joined" in wanted) or (
        as_json and head is not None and head.strip().lower() == "all")


def rows_for(as_json: bool) -> int | None:
    """How many query rows of each n×n matrix the run keeps: every one for --json, else
    those a screen can draw (a long text's other rows are never worked out)."""
    if as_json:
        return None
    from attncli.render.widgets import ROWS_DRAWN

    return ROWS_DRAWN


def explain_hints() -> Hints:
    """How `attn explain` lets a reader see what its view cuts short."""
    from attncli.render.explain import Hints

    return Hints(all_tokens="--json lists all", one_chart="pick one with --focus WORD")


def tips(ex: Explanation) -> list[str]:
    """Where to go next, under the header: seeded weights point to the lesson's file and to a
    real model."""
    if ex.config.source != "seeded":
        return []
    return ["For the lesson's pattern: -w sample_weights/animal-tired.json · for a trained "
            "model: --model DIR (see the README)"]


def write_json(doc: object) -> None:
    """The document on stdout, streamed, then a newline: nothing else goes to stdout."""
    from attncli import export

    export.write(doc, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def show(renderable: RenderableType, exports: Exports | None = None,
         title: str = "attn") -> None:
    from attncli.render import console as screen

    screen.show(renderable, exports, title=title)
