"""First contact: a bare `attn`, every command's --help, the `--` hint, shell completion.

The help runs in-process (CliRunner, where the program is called "root"); completion runs as
a real `python -m attncli` process, since it is driven by environment variables and names the
program in the script it prints.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, invoke, ok, refused

COMMANDS = ("explain", "heads", "compare", "demo", "explore", "predict", "lens", "attribute",
            "generate", "weights")


def section(text: str, title: str) -> list[str]:
    """The lines of one section of a help text, from its title to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title) + 1
    if not lines[start].strip():  # "Examples:" has a blank line before its block
        start += 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def flat(text: str) -> str:
    """The help text with its line wrapping undone, to look for phrases in it."""
    return " ".join(text.split())


def attn_process(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    """Run `python -m attncli ARGS` as its own process."""
    full_env = {**os.environ, "COLUMNS": "80", **(env or {})}
    for name in ("_ATTN_COMPLETE", "COMP_WORDS", "COMP_CWORD", "_TYPER_COMPLETE_ARGS"):
        if name not in (env or {}):
            full_env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "attncli", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=60, check=False)


# ---------------------------------------------------------------- a bare attn


def test_a_bare_attn_prints_the_help_on_stdout_and_exits_0() -> None:
    out = ok(invoke(width=80))  # exit 0, nothing on stderr
    assert out == ok(invoke("--help", width=80))
    commands = section(out, "Commands:")
    assert [line.split()[0] for line in commands] == list(COMMANDS)  # one line each
    assert not any(line.rstrip().endswith("...") for line in commands)  # none cut short
    examples = section(out, "Examples:")
    assert len(examples) == 3 and all(line.strip().startswith("attn ") for line in examples)
    assert "Exit codes: 0 success, 1 internal error" in flat(out)
    assert max(len(line) for line in out.splitlines()) <= 80


def test_a_bare_attn_process_prints_the_help_under_its_own_name() -> None:
    run = attn_process()
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.startswith("Usage: attn [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in run.stdout and "Examples:" in run.stdout


def test_a_bare_attn_weights_prints_its_help_and_exits_0() -> None:
    out = ok(invoke("weights", width=80))
    assert out == ok(invoke("weights", "--help", width=80))
    assert [line.split()[0] for line in section(out, "Commands:")] == ["init", "show"]
    assert "Examples:" in out


def test_debug_alone_is_a_bare_attn_too() -> None:
    assert ok(invoke("--debug", width=80)) == ok(invoke(width=80))


def test_the_examples_of_a_bare_attn_run() -> None:
    for line in section(ok(invoke()), "Examples:"):
        program, *args = shlex.split(line)
        assert program == "attn"
        result = invoke(*args)
        assert result.exit_code == 0, (line, result.stderr)
        assert result.stdout.strip(), line


# ---------------------------------------------------------------- every command's --help


@pytest.mark.parametrize("command", [["explain"], ["heads"], ["compare"], ["demo"],
                                     ["weights", "init"], ["weights", "show"], ["weights"],
                                     []])
def test_every_help_ends_with_examples_and_the_exit_codes(command: list[str]) -> None:
    out = ok(invoke(*command, "--help", width=80))
    examples = section(out, "Examples:")
    assert examples, out
    assert all(line.strip().startswith(("attn ", "echo ", "--")) for line in examples)
    assert "Exit codes: 0 success" in flat(out)
    assert out.index("Examples:") > out.index("Options:")
    assert max(len(line) for line in out.splitlines()) <= 80  # long examples are continued


@pytest.mark.parametrize(("command", "phrases"), [
    ("explain", ["TEXT is the sentence", "- reads it from standard input",
                 "starts with a dash goes last, after --",
                 'attn explain --json -- "-1 is a number"']),
    ("heads", ["TEXT is the sentence", "- reads it from standard input"]),
    ("compare", ["TEXT_A and TEXT_B are the two sentences", "can be -, to read it from "
                 "standard input"]),
])
def test_the_text_argument_is_described(command: str, phrases: list[str]) -> None:
    out = flat(ok(invoke(command, "--help")))
    for phrase in phrases:
        assert phrase in out, (phrase, out[:600])


def test_the_file_of_weights_show_is_described() -> None:
    assert "FILE is a .json, .npz or .safetensors file" in flat(ok(invoke("weights", "show",
                                                                          "--help")))


# ---------------------------------------------------------------- an option after --


@pytest.mark.parametrize(("args", "extra"), [
    (["explain", "--", "The cat", "--json"], "(--json)"),
    (["explain", "--", "The cat", "--focus", "cat"], "(--focus cat)"),
    (["heads", "--", "The cat", "-w", "x.json"], "(-w x.json)"),
])
def test_an_option_after_double_dash_gets_a_hint(args: list[str], extra: str) -> None:
    line = refused(invoke(*args), "Got unexpected extra argument", extra,
                   "options go before --")
    assert line.index("options go before --") < line.index("(see '")


def test_no_hint_when_nothing_after_double_dash_looks_like_an_option() -> None:
    for args in (["explain", "--", "-1 is a number", "more"], ["explain", "a", "b"],
                 ["explain", "--", "a", "-"]):
        assert "before --" not in refused(invoke(*args))


def test_options_before_double_dash_still_work() -> None:
    assert ok(invoke("explain", "--json", "--", "-1 is a number")).startswith("{")


# ---------------------------------------------------------------- shell completion


def test_the_root_help_offers_completion() -> None:
    options = flat("\n".join(section(ok(invoke("--help", width=80)), "Options:")))
    assert "--install-completion [SHELL] Install tab completion [default: this shell]." in options
    assert "--show-completion [SHELL] Print the completion script instead." in options


def test_show_completion_bash_prints_the_bash_script_for_attn() -> None:
    run = attn_process("--show-completion", "bash")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "_ATTN_COMPLETE=complete_bash" in run.stdout
    assert run.stdout.rstrip().endswith("complete -o default -F _attn_completion attn")


def test_show_completion_takes_the_shell_it_is_given_not_the_one_it_runs_in() -> None:
    run = attn_process("--show-completion", "zsh")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("#compdef attn")
    assert "_ATTN_COMPLETE=complete_zsh" in run.stdout


def test_the_shell_can_follow_an_equals_sign() -> None:
    assert ok(invoke("--show-completion=bash")) == ok(invoke("--show-completion", "bash"))


def test_the_word_after_the_flag_is_its_shell_unless_it_is_an_option(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import shellingham

    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("fish", "/usr/bin/fish"))
    # another option after the flag: no SHELL was named, so the detected one is used
    assert "complete --command root" in ok(invoke("--show-completion", "--version"))
    # a word after it is the SHELL, even a command's name, as with any option's value
    refused(invoke("--show-completion", "explain"), "unknown shell 'explain'")
    # the flags are the root's alone: after the command they are that command's options
    refused(invoke("explain", "a b", "--show-completion", "bash"), "No such option",
            "--show-completion")


@pytest.mark.parametrize(("words", "cword", "offered"), [
    ("attn ex", 1, ["explain", "explore"]),
    ("attn", 1, list(COMMANDS)),
    ("attn weights ", 2, ["init", "show"]),
    ("attn explain 'a b' --prec", 3, ["--precision"]),
])
def test_the_completion_variable_completes_commands_and_options(words: str, cword: int,
                                                                 offered: list[str]) -> None:
    run = attn_process(env={"_ATTN_COMPLETE": "complete_bash", "COMP_WORDS": words,
                            "COMP_CWORD": str(cword)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == offered


def test_install_completion_bash_writes_the_script_under_home(tmp_path: Path) -> None:
    run = attn_process("--install-completion", "bash", env={"HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    script = tmp_path / ".bash_completions" / "attn.sh"
    assert "bash completion installed in" in run.stdout and str(script) in run.stdout
    assert "_ATTN_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def test_an_unknown_shell_is_one_line() -> None:
    refused(invoke("--show-completion", "tcsh"), "--show-completion: unknown shell 'tcsh'",
            "bash, zsh, fish, powershell or pwsh")


def test_a_shell_that_cannot_be_detected_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    import shellingham

    def fail():
        raise shellingham.ShellDetectionFailure()

    monkeypatch.setattr(shellingham, "detect_shell", fail)
    for flag in ("--install-completion", "--show-completion"):
        refused(invoke(flag, env={"HOME": str(tmp_path)}),
                f"{flag} could not detect your shell", f"'attn {flag} bash'")
    assert list(tmp_path.iterdir()) == []  # nothing installed


def test_an_unsupported_shell_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import shellingham

    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("tcsh", "/bin/tcsh"))
    refused(invoke("--show-completion"), "your shell, tcsh, has no completion here")


def test_without_shellingham_the_shell_must_be_named(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "shellingham", None)  # `import shellingham` fails
    refused(invoke("--install-completion", env={"HOME": str(tmp_path)}),
            "without the shellingham package", "'attn --install-completion bash'")
    assert list(tmp_path.iterdir()) == []
    assert "complete -o default" in ok(invoke("--show-completion", "bash"))  # named: fine


def test_the_detected_shell_is_used_when_none_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import shellingham

    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("fish", "/usr/bin/fish"))
    assert "complete --command root" in ok(invoke("--show-completion"))  # CliRunner's name
