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
        parse_tokenizer_ahead(sys.argv[1:])
        from attncli.cli.commands import main as run

        run()
    except KeyboardInterrupt:
        sys.exit(130)


AHEAD_COMMANDS = ("explain", "heads")  # their model's tokenizer is used to encode only
NOT_AHEAD = ("--corpus", "--effect")  # heads options that read the tokenizer itself


def parse_tokenizer_ahead(args: list[str]) -> None:
    """For `attn explain|heads … --model DIR`, start parsing DIR's tokenizer.json in a second
    process before the imports (tokens_ahead). Only a guess from the raw arguments: the
    command line is parsed as ever afterwards, and a wrong guess costs a second core's
    parse."""
    command = next((a for a in args if not a.startswith("-")), None)
    if command not in AHEAD_COMMANDS or "--" in args or \
            any(a.split("=")[0] in NOT_AHEAD for a in args):
        return
    found = [value for i, a in enumerate(args) for value in
             ([args[i + 1]] if a == "--model" and i + 1 < len(args) else
              [a.removeprefix("--model=")] if a.startswith("--model=") else [])]
    if len(found) != 1:
        return
    from pathlib import Path

    from attncli.tokens_ahead import start

    try:  # a path the command line will refuse, in its own words, later
        if Path(found[0]).is_dir():
            start(Path(found[0]) / "tokenizer.json")
    except (OSError, ValueError):
        return


def __getattr__(name: str) -> Any:
    """`app` is loaded on first use, so that importing this package stays cheap."""
    if name == "app":
        from attncli.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
