"""The `attn` command line: the commands, their shared options, the sources (options ->
result) and the exit-code plumbing. Nothing below this package names a command-line option."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attncli.cli.commands import app

__all__ = ["app", "main"]


def main() -> None:
    """Run `attn`. The commands are imported here, inside the guard, so that Ctrl-C while they
    load (the first tenth of a second) exits 130 quietly, as it does later on."""
    try:
        from attncli.cli.commands import main as run

        run()
    except KeyboardInterrupt:
        sys.exit(130)


def __getattr__(name: str) -> Any:
    """`app` is loaded on first use, so that importing this package stays cheap."""
    if name == "app":
        from attncli.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
