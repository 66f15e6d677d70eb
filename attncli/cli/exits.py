"""The command group: every user mistake becomes one line on stderr and exit code 2.

Internal errors exit 1 with a hint (--debug shows the traceback), a closed pipe exits 0,
and nothing ever reaches the user as a traceback unless asked for.
"""

from __future__ import annotations

import io
import os
import sys
import traceback

import click
from typer.core import TyperGroup

from attncli.errors import AttnError


class AttnGroup(TyperGroup):
    """Turns every user mistake into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `attn … | head` closed the pipe: not an error of ours
            _quiet_stdout()
            raise SystemExit(0) from None  # before click turns it into exit code 1

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        # --debug works anywhere before a "--" (the README and the hint say `--debug`)
        end = args.index("--") if "--" in args else len(args)
        debug = "--debug" in args[:end]
        args = [a for a in args[:end] if a != "--debug"] + args[end:]
        try:
            rv = super().main(args, prog_name or "attn", complete_var, standalone_mode=False,
                              **extra)
        except click.exceptions.ClickException as exc:  # bad option, missing argument…
            if not standalone_mode:
                raise
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            _fail(f"{_one_line(exc.format_message())}{hint}", exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        except AttnError as exc:
            _fail(_one_line(str(exc)), 2)
        except Exception as exc:
            if debug:
                traceback.print_exc()
            _fail(f"internal error: {type(exc).__name__}: {_one_line(str(exc))}. This is a bug: "
                  "please report it with the output of the same command run with --debug", 1)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (a test runner's buffer): nothing to flush into a closed pipe


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _fail(message: str, code: int) -> None:
    from attncli.safe_text import visible

    click.echo(f"attn: error: {visible(message)}", err=True)
    sys.exit(code)
