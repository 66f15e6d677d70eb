"""Fast feedback with --model: a word naming no token is refused before any layer runs, a slow
run shows progress (only on a terminal), and a Hub id is found in the local cache."""

from __future__ import annotations

import io
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, ok_json, refused
from conftest import invoke as run

from attncli.cli.progress import model_progress
from attncli.models import load_model
from attncli.models.bert import Bert
from attncli.models.t5 import T5

BERT = str(FIXTURES / "bert")
T5_DIR = str(FIXTURES / "t5")
TEXT = "The animal was tired"


@pytest.fixture
def layer_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every embedding and layer a BERT or T5 model runs from now on, by name."""
    calls: list[str] = []
    for cls in (Bert, T5):
        for name in ("embed", "load_attention"):
            original = getattr(cls, name)

            def counted(self, *args, _original=original, _name=name, **kwargs):
                calls.append(_name)
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, counted)
    return calls


MISSPELLED = [
    (["explain", TEXT, "--model", BERT, "--focus", "tird"], "--focus 'tird'"),
    (["explain", TEXT, "--model", BERT, "--from", "animl", "--to", "tired"], "--from 'animl'"),
    (["explain", TEXT, "--model", BERT, "--from", "animal", "--to", "tierd"], "--to 'tierd'"),
    (["heads", TEXT, "--model", BERT, "--from", "animl", "--to", "tired"], "--from 'animl'"),
    (["heads", TEXT, "--model", BERT, "--from", "animal", "--to", "tierd"], "--to 'tierd'"),
    (["compare", "the river bank", "the bank", "--model", BERT, "--word", "bnak"],
     "--word (in TEXT_A) 'bnak'"),
    (["explain", "the animal", "--model", T5_DIR, "--target", "das Tier", "--from", "#1",
      "--to", "animl"], "--to 'animl'"),  # a source word: cross-attention's keys
    (["heads", "the animal", "--model", T5_DIR, "--target", "das Tier", "--from", "#9",
      "--to", "animal"], "--from '#9'"),
]


@pytest.mark.parametrize(("args", "named"), MISSPELLED)
def test_a_misspelled_word_is_refused_before_any_layer_runs(
    layer_calls: list[str], args: list[str], named: str
) -> None:
    line = refused(run(*args), named)
    assert layer_calls == [], line


@pytest.mark.parametrize(("args", "named"), MISSPELLED)
def test_the_same_word_spelled_right_runs_the_layers(
    layer_calls: list[str], args: list[str], named: str
) -> None:
    """The counter above sees layers when they do run (so its zero means something)."""
    fixed = [{"tird": "tired", "animl": "animal", "tierd": "tired", "bnak": "bank",
              "#9": "#1"}.get(a, a) for a in args]
    ok_json(run(*fixed, "--json"))
    assert "load_attention" in layer_calls


def test_a_word_missing_from_the_second_sentence_is_refused_before_any_layer(
        layer_calls: list[str]) -> None:
    """compare runs TEXT_A's layers before TEXT_B's: TEXT_B's tokens are checked first."""
    refused(run("compare", "the river bank", "the money", "--model", BERT, "--word", "bank"),
            "--word (in TEXT_B) 'bank'")
    assert layer_calls == []


def test_the_second_sentence_from_stdin_is_checked_once_read() -> None:
    refused(run("compare", "the river bank", "-", "--model", BERT, "--word", "bank",
                stdin="the money"), "--word (in TEXT_B) 'bank'")


# ---------------------------------------------------------------- progress


def test_the_model_tells_progress_of_each_layer_it_runs() -> None:
    model = load_model(BERT)
    ids = [t.id for t in model.tokens(TEXT)]
    seen: list[tuple[int, int]] = []
    model.run(ids, [1], [0], progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 2), (1, 2), (2, 2)]
    seen.clear()
    model.run(ids, [0], [0, 1], progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 1), (1, 1)]  # only as far as the layer asked for
    seen.clear()
    model.forward(ids, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 2), (1, 2), (2, 2)]


def test_no_progress_callback_when_stderr_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with model_progress("m", delay=0.0) as progress:
        time.sleep(0.05)
    assert progress is None
    assert sys.stderr.getvalue() == ""


@pytest.mark.parametrize("command", ["explain", "predict"])
def test_a_model_run_writes_nothing_on_stderr_off_a_terminal(command: str) -> None:
    model = str(FIXTURES / ("bert" if command == "explain" else "gpt2-lm"))
    result = run(command, TEXT, "--model", model)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def _terminal() -> tuple[io.StringIO, object]:
    from rich.console import Console

    out = io.StringIO()
    return out, Console(file=out, force_terminal=True, width=80, color_system=None)


def test_a_slow_run_shows_loading_then_its_layers_and_clears_them() -> None:
    out, console = _terminal()
    with model_progress("./tiny", delay=0.0, console=console) as progress:
        deadline = time.monotonic() + 5
        while "loading ./tiny" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert progress is not None
        progress(1, 2)
        while "layer 1 of 2" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    drawn = out.getvalue()
    assert "loading ./tiny" in drawn and "running ./tiny" in drawn and "layer 1 of 2" in drawn
    assert drawn.rstrip("\n").endswith("\x1b[2K") or "\x1b[2K" in drawn[-40:]  # erased


def test_a_quick_run_shows_nothing() -> None:
    out, console = _terminal()
    with model_progress("./tiny", delay=5.0, console=console) as progress:
        assert progress is not None
        progress(0, 2)
        progress(2, 2)
    time.sleep(0.05)
    assert out.getvalue() == ""


# ---------------------------------------------------------------- the Hugging Face cache


def hub(tmp_path: Path, repo: str, snapshots: dict[str, str], refs: dict[str, str]) -> Path:
    """A cache laid out as huggingface_hub leaves it: snapshots/<hash>/ (links to a fixture's
    files) and refs/<name> holding a hash."""
    cache = tmp_path / "hub"
    root = cache / ("models--" + repo.replace("/", "--"))
    for commit, fixture in snapshots.items():
        snap = root / "snapshots" / commit
        snap.mkdir(parents=True)
        for f in (FIXTURES / fixture).iterdir():
            (snap / f.name).symlink_to(f)
    for name, commit in refs.items():
        (root / "refs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "refs" / name).write_text(commit)
    return cache


MAIN, OTHER = "a" * 40, "b" * 40


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """models--tiny (a bare name) and models--org--tiny: main is BERT, tag v2 is GPT-2."""
    hub(tmp_path, "tiny", {MAIN: "bert", OTHER: "gpt2"}, {"main": MAIN, "v2": OTHER})
    path = hub(tmp_path, "org/tiny", {MAIN: "bert", OTHER: "gpt2"},
               {"main": MAIN, "v2": OTHER, "pr/1": OTHER})
    monkeypatch.setenv("HF_HUB_CACHE", str(path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no directory named tiny here
    return path


def architecture(*args: str) -> str:
    return ok_json(run("explain", TEXT, "--json", *args))["config"]["architecture"]


@pytest.mark.parametrize("repo", ["tiny", "org/tiny"])
def test_a_hub_id_opens_refs_main_or_the_revision_asked_for(cache: Path, repo: str) -> None:
    assert architecture("--model", repo) == "bert"
    assert architecture("--model", repo, "--revision", "main") == "bert"
    assert architecture("--model", repo, "--revision", "v2") == "gpt2"  # a tag in refs/
    assert architecture("--model", repo, "--revision", OTHER) == "gpt2"  # a commit hash
    assert architecture("--model", repo, "--revision", MAIN) == "bert"


def test_a_nested_ref_names_a_revision(cache: Path) -> None:
    assert architecture("--model", "org/tiny", "--revision", "pr/1") == "gpt2"


def test_hf_home_holds_the_cache_when_hf_hub_cache_is_unset(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    assert architecture("--model", "tiny", "--revision", "v2") == "gpt2"


@pytest.mark.parametrize("command", ["heads", "compare", "predict"])
def test_every_model_command_takes_a_revision(cache: Path, command: str) -> None:
    args = {"heads": ["heads", TEXT], "compare": ["compare", "a bank", "the bank", "--word",
                                                  "bank"],
            "predict": ["predict", TEXT]}[command]
    result = run(*args, "--model", "tiny", "--revision", "v3")
    refused(result, "tiny", "'v3'", "models--tiny")


@pytest.mark.parametrize("repo", ["tiny", "org/tiny"])
def test_a_missing_revision_is_named_with_where_it_was_looked_for(cache: Path, repo: str
                                                                  ) -> None:
    line = refused(run("explain", TEXT, "--model", repo, "--revision", "v3"),
                   f"{repo}: no revision 'v3'", str(cache / ("models--" + repo.replace("/", "--"))),
                   "refs: main", "v2", MAIN[:12])
    assert "Traceback" not in line


@pytest.mark.parametrize("revision", ["../main", "/etc", "v2/..", ""])
def test_a_revision_that_is_no_name_is_refused(cache: Path, revision: str) -> None:
    refused(run("explain", TEXT, "--model", "tiny", "--revision", revision), "no revision")


def test_a_missing_bare_id_names_the_cache_it_looked_in(cache: Path) -> None:
    refused(run("explain", TEXT, "--model", "gpt2"), "gpt2: no such directory",
            f"models--gpt2 in {cache}")


def test_a_missing_org_id_names_the_cache_it_looked_in(cache: Path) -> None:
    refused(run("explain", TEXT, "--model", "org/absent", "--revision", "v2"),
            "no local copy of org/absent at revision 'v2'", str(cache))


def test_a_revision_needs_a_hub_id(cache: Path, tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "bert", tmp_path / "here")
    refused(run("explain", TEXT, "--model", "here", "--revision", "v2"),
            "--revision goes with a Hub id", "here is a directory")
    refused(run("explain", TEXT, "--revision", "v2"), "--revision goes with --model")
