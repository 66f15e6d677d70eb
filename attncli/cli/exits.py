"""The command group: every user mistake becomes one line on stderr and exit code 2.

Internal errors exit 1 with a hint (--debug shows the traceback), a closed pipe exits 0,
and nothing ever reaches the user as a traceback unless asked for. A bare `attn` (or
`attn weights`) is not a mistake: it prints the help on stdout and exits 0. Shell completion
(the _ATTN_COMPLETE environment variable) goes straight through to typer.

Only typer's public names are used (typer.TyperException, typer.Abort, typer.echo,
typer.Context, typer.CallbackParam, typer.core.TyperGroup): typer vendors its own click
since 0.26, and the click package, if installed at all, is not the one typer runs.
"""

from __future__ import annotations

import errno
import io
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from attncli.cli.roles import OPTIONS
from attncli.errors import AttnError, RoleError, TargetExists

SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")  # the shells typer completes for
# typer's own completion options (its add_completion), whose callbacks do the work
COMPLETION = {"--install-completion": "install_completion",
              "--show-completion": "show_completion"}


class HelpGroup(TyperGroup):
    """A group that, called with no arguments, prints its help on stdout and exits 0."""

    # typer passes its own Context; the base class's stub names the vendored click's
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help(), color=ctx.color)
            raise typer.Exit(0)  # not typer's own NoArgsIsHelpError, a usage error
        return super().parse_args(ctx, args)


class AttnGroup(HelpGroup):
    """Turns every user mistake into one line on stderr and exit code 2."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # as parse_args
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `attn … | head` closed the pipe: not an error of ours
            _quiet_stdout()
            raise SystemExit(0) from None  # before typer turns it into exit code 1

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]  # noqa: E501
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        # --debug works anywhere before a "--" (the README and the hint say `--debug`)
        end = args.index("--") if "--" in args else len(args)
        debug = "--debug" in args[:end]
        args = _shell_values([a for a in args[:end] if a != "--debug"]) + args[end:]
        # typer's --install-completion and --show-completion give way to ours (SHELL
        # optional), which call their callbacks: the scripts and where they go are typer's
        actions = {p.name: p.callback for p in self.params
                   if p.name in COMPLETION.values() and p.callback is not None}
        if actions:
            self.completion_actions = actions
            self.params = [p for p in self.params if p.name not in actions]
        # completion requests (_ATTN_COMPLETE=…) are answered inside super().main, which then
        # exits with SystemExit: nothing below catches it
        try:
            rv = super().main(args, prog_name or "attn", complete_var, standalone_mode=False,
                              **extra)
        except typer.TyperException as exc:  # bad option, missing argument…
            if not standalone_mode:
                raise
            ctx = getattr(exc, "ctx", None)  # usage errors name their command
            after = _after_double_dash(exc, args)
            quote = "" if after else _quote_the_sentence(exc, ctx)
            if quote:
                _fail(quote, exc.exit_code)
            message = _one_line(exc.format_message()) + after
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _fail(f"{message}{hint}", exc.exit_code)
        except typer.Abort:
            _fail("aborted", 1)
        except KeyboardInterrupt:  # Ctrl-C: stop at once, no traceback, the shell's code
            sys.exit(130)
        except AttnError as exc:
            hint = " (use --force to overwrite it)" if isinstance(exc, TargetExists) else ""
            message = exc.reworded(OPTIONS) if isinstance(exc, RoleError) else str(exc)
            _fail(_one_line(message) + hint, 2)
        except OSError as exc:
            if exc.filename is not None:  # a path the user named (or one inside it): stat,
                # is_dir or open refused, e.g. a folder without search permission
                from attncli.safe_text import visible

                _fail(f"{visible(str(exc.filename))}: {exc.strerror or exc}", 2)
            if exc.errno not in WRITE_ERRORS:
                _internal(exc, debug)
            _quiet_stdout()  # so that Python's own last flush cannot fail again
            _fail(f"cannot write the output ({exc.strerror or exc})", 2)
        except Exception as exc:
            _internal(exc, debug)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


_OPTION = r"--?[A-Za-z]"  # --json or -w, not - (standard input) nor -1
# typer's "Got unexpected extra argument(s) (--json)"; click said "argument" or "arguments"
_EXTRA = r"(?s)Got unexpected extra argument(?:s|\(s\))? \((.*)\)\Z"


def _after_double_dash(exc: typer.TyperException, args: list[str]) -> str:
    """A hint for `attn explain -- "The cat" --json`: after --, --json is one more text."""
    found = re.match(_EXTRA, exc.format_message())
    if "--" not in args or found is None:
        return ""
    extra = found.group(1).split(" ")
    after = args[args.index("--") + 1:]
    if not any(re.match(_OPTION, arg) and arg in extra for arg in after):
        return ""
    return "; options go before --, since everything after -- is read as text"


def _quote_the_sentence(exc: typer.TyperException, ctx: typer.Context | None) -> str:
    """For `attn explain The animal was tired`: the shell split the sentence into words, and
    the command takes it as one argument. The fix, with the words put back together."""
    found = re.match(_EXTRA, exc.format_message())
    if found is None or ctx is None:
        return ""
    path = ctx.command_path
    if "text_a" in ctx.params:  # compare: two sentences, and no telling where one ends
        return (f"{path} takes each sentence as one argument: quote them: {path} "
                '"I sat on the bank" "I paid the bank" --word bank')
    first = ctx.params.get("text")
    if not isinstance(first, str) or first == "-":
        return ""
    import shlex

    from attncli.safe_text import visible

    sentence = visible(" ".join([first, *found.group(1).split(" ")]))
    quoted = f'"{sentence}"' if not set(sentence) & set('"$`\\!') else shlex.quote(sentence)
    return f"{path} takes the sentence as one argument: quote it: {path} {quoted}"


def _shell_values(args: list[str]) -> list[str]:
    """The root options with --install-completion and --show-completion given a value.

    Their SHELL is optional: the next word is taken as SHELL unless there is none or it is
    another option (a dash and more), as click took an optional value. Without it the flag
    becomes `--show-completion=`, an empty SHELL: the shell attn runs in. Only the words
    before the command are looked at.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "--":  # the command (or text): root options end
            return out + args[i:]
        if arg in COMPLETION:
            after = args[i + 1] if i + 1 < len(args) else None
            if after is None or (after.startswith("-") and after != "-"):
                out.append(f"{arg}=")
                i += 1
                continue
            out += [arg, after]
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _complete(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> Any:
    """--install-completion or --show-completion SHELL: typer's own action for that shell.

    typer makes them plain flags when it can detect the shell, so the SHELL in
    `attn --show-completion zsh` was left over and the detected shell's script printed
    instead. Here SHELL, when given, is the one used; without it the shell is detected as
    before, and a shell that cannot be detected is a one-line error that says to name it.
    Everything else (the scripts, where they are installed) is typer's own.
    """
    if value is None or ctx.resilient_parsing:
        return None
    flag = next(opt for opt in param.opts if opt in COMPLETION)
    shell = value.lower() or _detect_shell(ctx, flag)
    if shell not in SHELLS:
        _usage(ctx, f"{flag}: unknown shell '{value}'; name one of "
                    f"{', '.join(SHELLS[:-1])} or {SHELLS[-1]}")
    action = getattr(ctx.command, "completion_actions", {}).get(COMPLETION[flag])
    if action is None:  # typer added no completion options: nothing to install or show
        _usage(ctx, f"{flag}: shell completion is not available")
    return action(ctx, param, shell)


InstallCompletionOpt = Annotated[str | None, typer.Option(
    "--install-completion", metavar="[SHELL]", callback=_complete, is_eager=True,
    show_default=False, help="Install tab completion [default: this shell].")]
ShowCompletionOpt = Annotated[str | None, typer.Option(
    "--show-completion", metavar="[SHELL]", callback=_complete, is_eager=True,
    show_default=False, help="Print the completion script instead.")]


def _usage(ctx: typer.Context, message: str) -> NoReturn:
    """A usage error of the root options: one line, exit code 2, with the help hint."""
    raise AttnError(f"{message} (see '{ctx.command_path} --help')")


def _detect_shell(ctx: typer.Context, flag: str) -> str:
    """The shell attn runs in, by typer's means (shellingham), or a usage error naming SHELL."""
    names = ", ".join(SHELLS[:-1]) + f" or {SHELLS[-1]}"
    try:
        import shellingham
    except ImportError:
        _usage(ctx, f"{flag} cannot detect your shell without the shellingham package: name "
                    f"it, as in 'attn {flag} bash' ({names})")
    try:
        name = shellingham.detect_shell()[0].lower()
    except (shellingham.ShellDetectionFailure, RuntimeError, OSError):
        _usage(ctx, f"{flag} could not detect your shell: name it, as in "
                    f"'attn {flag} bash' ({names})")
    if name not in SHELLS:
        _usage(ctx, f"{flag}: your shell, {name}, has no completion here; name one of {names}")
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

    typer.echo(f"attn: error: {visible(message)}", err=True)
    sys.exit(code)


def exit_now(code: object) -> NoReturn:
    """Exit with code as SystemExit(code) would, without tearing the interpreter down.

    Freeing every module and object at exit is a noticeable part of a short run, for memory
    the process is about to give back anyway. So the exit handlers run (atexit: logging,
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
