"""The entry point builds only the command it runs: typer reads every registered command's
options at each start, and a run needs one (cli.commands.only_the_command_run). A model run
loads only the modules its model uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from attncli.cli import commands

FIXTURES = Path(__file__).parent / "fixtures" / "models"


def kept(args: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The command and group names left registered after only_the_command_run(args)."""
    monkeypatch.setattr(commands.app, "registered_commands",
                        list(commands.app.registered_commands))
    monkeypatch.setattr(commands.app, "registered_groups", list(commands.app.registered_groups))
    commands.only_the_command_run(args)
    return ([c.name or c.callback.__name__ for c in commands.app.registered_commands]
            + [g.name or "" for g in commands.app.registered_groups])


@pytest.mark.parametrize(("args", "names"), [
    (["explain", "The animal was tired", "--json"], ["explain"]),
    (["--debug", "heads", "x"], ["heads"]),
    (["weights", "show", "w.json"], ["weights"]),
    (["demo"], ["demo"]),
])
def test_a_run_keeps_only_its_command(args: list[str], names: list[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert kept(args, monkeypatch) == names


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["explian", "x"], ["-h"]])
def test_help_version_and_unknown_words_keep_every_command(
        args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    every = len(commands.app.registered_commands) + len(commands.app.registered_groups)
    assert len(kept(args, monkeypatch)) == every > 8


def test_completion_keeps_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_ATTN_COMPLETE", "complete_bash")
    assert len(kept(["explain"], monkeypatch)) > 8


def test_a_process_runs_and_helps_as_before() -> None:
    def attn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "attncli", *args], capture_output=True,
                              text=True, timeout=60, env={"COLUMNS": "80", "PATH": ""})

    run = attn("explain", "The animal was tired", "--json")
    assert run.returncode == 0 and run.stdout.startswith('{"schema":"attncli.explain/1"')
    assert "Usage: attn explain [OPTIONS] {TEXT}" in attn("explain", "--help").stdout
    wrong = attn("explian", "x")
    assert wrong.returncode == 2 and "Did you mean 'explain'?" in wrong.stderr
    every = attn("--help").stdout
    assert all(name in every for name in ("explain", "heads", "generate", "weights", "demo"))


LOADED = """
import os, runpy, sys
sys.argv = ["attn", *sys.argv[1:]]
os._exit = sys.exit  # attn leaves through os._exit, which would skip the print below
try:
    runpy.run_module("attncli", run_name="__main__")
except SystemExit:
    pass
sys.stderr.write(" ".join(sorted(m for m in sys.modules if m.startswith("attncli"))))
"""


def loaded(model: str) -> set[str]:
    """The attncli modules a `attn explain … --model FIXTURE --json` process imports."""
    run = subprocess.run([sys.executable, "-c", LOADED, "explain", "The animal was tired",
                          "--model", str(FIXTURES / model), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith('{"schema"'), run.stderr
    return set(run.stderr.split())


def test_a_run_loads_only_what_its_model_uses() -> None:
    bert, llama = loaded("bert"), loaded("llama")
    assert "attncli.models.bert" in bert and "attncli.models.llama" in llama
    # RoPE and the mask rules only for a model with positions turned and a mask
    assert {"attncli.models.rope", "attncli.masks"} <= llama
    assert not {"attncli.models.rope", "attncli.masks"} & bert
