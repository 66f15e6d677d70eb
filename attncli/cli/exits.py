"""The command group: every user mistake becomes one line on stderr and exit code 2.

Internal errors exit 1 with a hint (--debug shows the traceback), a closed pipe exits 0,
and nothing ever reaches the user as a traceback unless asked for. A bare `attn` (or
`attn weights`) is not a mistake: it prints the help on stdout and exits 0. Shell completion
(the _ATTN_COMPLETE environment variable) goes straight through to typer.
"""

from __future__ import annotations

import errno
import io
import os
import re
import sys
import traceback
from typing import NoReturn

import click
from typer.core import TyperGroup

from attncli.errors import AttnError

SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")  # the shells typer completes for

# click 8.2+ raises this for `no_args_is_help`; older versions printed the help themselves
_NoArgsIsHelp = getattr(click.exceptions, "NoArgsIsHelpError", ())


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
        self.params = [_completion_option(p) for p in self.params]
        # completion requests (_ATTN_COMPLETE=…) are answered inside super().main, which then
        # exits with SystemExit: nothing below catches it
        try:
            rv = super().main(args, prog_name or "attn", complete_var, standalone_mode=False,
                              **extra)
        except _NoArgsIsHelp as exc:  # a bare `attn` or `attn weights`: help, not an error
            if not standalone_mode:
                raise
            click.echo(exc.ctx.get_help(), color=exc.ctx.color)
            sys.exit(0)
        except click.exceptions.ClickException as exc:  # bad option, missing argument…
            if not standalone_mode:
                raise
            message = _one_line(exc.format_message()) + _after_double_dash(exc, args)
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            _fail(f"{message}{hint}", exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        except KeyboardInterrupt:  # Ctrl-C: stop at once, no traceback, the shell's code
            sys.exit(130)
        except AttnError as exc:
            _fail(_one_line(str(exc)), 2)
        except OSError as exc:
            if exc.errno not in WRITE_ERRORS:
                _internal(exc, debug)
            _quiet_stdout()  # so that Python's own last flush cannot fail again
            _fail(f"cannot write the output ({exc.strerror or exc})", 2)
        except Exception as exc:
            _internal(exc, debug)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


_OPTION = re.compile(r"--?[A-Za-z]")  # --json or -w, not - (standard input) nor -1


def _after_double_dash(exc: click.exceptions.ClickException, args: list[str]) -> str:
    """A hint for `attn explain -- "The cat" --json`: after --, --json is one more text."""
    message = exc.format_message()
    if (not isinstance(exc, click.UsageError) or "--" not in args
            or not message.startswith("Got unexpected extra argument")):
        return ""
    extra = message[message.find("(") + 1:message.rfind(")")].split(" ")
    after = args[args.index("--") + 1:]
    if not any(_OPTION.match(arg) and arg in extra for arg in after):
        return ""
    return "; options go before --, since everything after -- is read as text"


def _completion_option(param: click.Parameter) -> click.Parameter:
    """typer's --install-completion or --show-completion, taking an optional SHELL.

    typer makes them plain flags when it can detect the shell, so the SHELL in
    `attn --show-completion zsh` was left over and the detected shell's script printed
    instead. Here SHELL, when given, is the one used; without it the shell is detected as
    before, and a shell that cannot be detected is a one-line error that says to name it.
    Everything else (the scripts, where they are installed) is typer's own.
    """
    if param.name not in ("install_completion", "show_completion") or param.callback is None:
        return param
    flag = f"--{param.name.replace('_', '-')}"
    action = param.callback

    def callback(ctx: click.Context, option: click.Parameter, value: str | None):
        if value is None or ctx.resilient_parsing:
            return None
        shell = value.lower() or _detect_shell(ctx, flag)
        if shell not in SHELLS:
            raise click.UsageError(f"{flag}: unknown shell '{value}'; name one of "
                                   f"{', '.join(SHELLS[:-1])} or {SHELLS[-1]}", ctx=ctx)
        return action(ctx, option, shell)

    text = ("Install tab completion [default: this shell]." if param.name == "install_completion"
            else "Print the completion script instead.")
    return click.Option([flag], metavar="[SHELL]", is_flag=False, flag_value="", default=None,
                        expose_value=False, callback=callback, help=text)


def _detect_shell(ctx: click.Context, flag: str) -> str:
    """The shell attn runs in, by typer's means (shellingham), or a usage error naming SHELL."""
    names = ", ".join(SHELLS[:-1]) + f" or {SHELLS[-1]}"
    try:
        import shellingham
    except ImportError:
        raise click.UsageError(f"{flag} cannot detect your shell without the shellingham "
                               f"package: name it, as in 'attn {flag} bash' ({names})",
                               ctx=ctx) from None
    try:
        name = shellingham.detect_shell()[0].lower()
    except (shellingham.ShellDetectionFailure, RuntimeError, OSError):
        raise click.UsageError(f"{flag} could not detect your shell: name it, as in "
                               f"'attn {flag} bash' ({names})", ctx=ctx) from None
    if name not in SHELLS:
        raise click.UsageError(f"{flag}: your shell, {name}, has no completion here; "
                               f"name one of {names}", ctx=ctx)
    return name


# errors only a write gives: a full disk (stdout on /dev/full), a quota, a failing device
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _internal(exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    _fail(f"internal error: {type(exc).__name__}: {_one_line(str(exc))}. This is a bug: "
          "please report it with the output of the same command run with --debug", 1)


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


def exit_now(code: object) -> NoReturn:
    """Exit with code as SystemExit(code) would, without tearing the interpreter down.

    Freeing every module and object at exit took about 15 ms of each run, for memory the
    process is about to give back anyway. So the exit handlers run (atexit: logging,
    finalizers) and stdout and stderr are flushed, as at any exit, and then the process ends
    with os._exit. The normal exit is taken instead when code is not a number (SystemExit
    prints it), while a thread that Python would wait for is still running, or when a flush
    fails (Python then reports it as it always did).
    """
    import atexit
    import threading

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    waiting = any(t.is_alive() and not t.daemon and t is not threading.main_thread()
                  for t in threading.enumerate())
    if not (code is None or isinstance(code, int)) or waiting or run_exit_handlers is None:
        raise SystemExit(code)
    run_exit_handlers()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):  # a closed pipe, a full disk, a closed file
        raise SystemExit(code) from None
    os._exit(0 if code is None else code & 0xFF)
