"""A model's tokenizer.json parsed in a child process while `attn` starts (tokens_ahead): the
child encodes texts as the tokenizer here would, a file it could not parse (or that changed
since) is parsed here, and every child is ended and waited for at exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attncli import tokens_ahead
from attncli.cli import parse_tokenizer_ahead
from attncli.errors import AttnError
from attncli.models import load_model
from attncli.tokens import encode, load_tokenizer

FIXTURE = Path(__file__).parent / "fixtures" / "models" / "llama-lm"
TEXTS = ["The animal didn't cross the street because it was tired", "<s> a </s> b", "",
         "naïve café, 東京 🙂", "x" * 300]
forks = pytest.mark.skipif(not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
                           reason="a child parses ahead only on Linux with a second CPU")


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of a fixture model, with any tokenizer.json worth parsing ahead."""
    monkeypatch.setattr(tokens_ahead, "WORTH_IT", 0)
    yield shutil.copytree(FIXTURE, tmp_path / "m")
    tokens_ahead.end_all()
    tokens_ahead.STARTED.clear()


@forks
def test_the_child_encodes_as_the_tokenizer_here(model_dir: Path) -> None:
    path = model_dir / "tokenizer.json"
    tokens_ahead.start(path)
    ahead = tokens_ahead.take(path)
    assert ahead is not None and ahead.pid != os.getpid()
    here = load_tokenizer(path)
    for text in TEXTS:
        for special in (True, False):
            assert ahead.encode(text, special_tokens=special, source="t") == \
                encode(here, text, special_tokens=special), (text, special)


@forks
def test_load_model_encodes_in_the_child_and_parses_here_for_anything_else(
        model_dir: Path) -> None:
    tokens_ahead.start(model_dir / "tokenizer.json")
    model = load_model(str(model_dir))
    assert isinstance(model._tokenizer, tokens_ahead.Elsewhere)
    plain = load_model(str(FIXTURE))
    assert model.tokens(TEXTS[0]) == plain.tokens(TEXTS[0])
    assert isinstance(model._tokenizer, tokens_ahead.Elsewhere)  # still in the child
    assert model.tokenizer.token_to_id("</s>") == plain.tokenizer.token_to_id("</s>")
    assert not isinstance(model._tokenizer, tokens_ahead.Elsewhere)  # parsed here now
    assert model.tokens(TEXTS[0]) == plain.tokens(TEXTS[0])


@forks
def test_a_file_the_child_cannot_parse_is_parsed_here_for_its_error(model_dir: Path) -> None:
    path = model_dir / "tokenizer.json"
    path.write_text('{"model": {"type": "BPE", "vocab": 3}}')
    with pytest.raises(AttnError) as plain:
        load_model(str(model_dir))
    tokens_ahead.start(path)
    with pytest.raises(AttnError) as ahead:
        load_model(str(model_dir))
    assert str(ahead.value) == str(plain.value) and "not a valid tokenizer.json" in str(plain.value)


@forks
def test_a_file_changed_since_the_start_is_parsed_here(model_dir: Path) -> None:
    path = model_dir / "tokenizer.json"
    tokens_ahead.start(path)
    data = path.read_bytes()
    path.unlink()  # another file under the same name: another inode
    path.write_bytes(data)
    assert tokens_ahead.take(path) is None
    assert not isinstance(load_model(str(model_dir))._tokenizer, tokens_ahead.Elsewhere)


@forks
def test_every_child_ends_and_is_waited_for(model_dir: Path) -> None:
    tokens_ahead.start(model_dir / "tokenizer.json")
    (child,) = tokens_ahead.CHILDREN
    tokens_ahead.end_all()
    with pytest.raises(ChildProcessError):  # already waited for: no zombie left
        os.waitpid(child.pid, os.WNOHANG)
    assert tokens_ahead.CHILDREN == []


@forks
def test_a_child_still_parsing_at_exit_is_killed_not_waited_for(
        model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import attncli.tokens

    def slow(*args: object) -> None:  # what the child (a copy of this process) will run
        time.sleep(30)

    monkeypatch.setattr(attncli.tokens, "parse_tokenizer", slow)
    tokens_ahead.start(model_dir / "tokenizer.json")
    (child,) = tokens_ahead.CHILDREN
    began = time.monotonic()
    tokens_ahead.end_all()  # as when attn stops on an error before it needs the tokens
    assert time.monotonic() - began < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_a_small_file_or_no_file_starts_no_child(tmp_path: Path) -> None:
    small = tmp_path / "tokenizer.json"
    small.write_text("{}")
    tokens_ahead.start(small)  # under WORTH_IT
    tokens_ahead.start(tmp_path / "missing.json")
    tokens_ahead.start(tmp_path)  # not a regular file
    assert tokens_ahead.STARTED == {} and tokens_ahead.CHILDREN == []


@pytest.mark.parametrize(("args", "starts"), [
    (["explain", "a b", "--model", "M"], True),
    (["heads", "--model=M", "a b"], True),
    (["explain", "a b", "--model", "M", "--json", "--layer", "1"], True),
    (["predict", "a b", "--model", "M"], False),  # a command that uses the tokenizer more
    (["heads", "a b", "--model", "M", "--effect"], False),  # and options that do
    (["heads", "--corpus=texts.txt", "--model", "M"], False),
    (["explain", "a b", "--model"], False),
    (["explain", "a b", "--model", "M", "--model", "M"], False),
    (["explain", "--", "--model", "M"], False),
    (["explain", "a b", "--model", "no-such-dir"], False),
    (["--help"], False),
    ([], False),
])
def test_which_command_lines_start_a_parse(args: list[str], starts: bool, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "M").mkdir()
    monkeypatch.chdir(tmp_path)
    started: list[Path] = []
    monkeypatch.setattr(tokens_ahead, "start", started.append)
    parse_tokenizer_ahead(args)
    assert started == ([Path("M") / "tokenizer.json"] if starts else [])


RUN = """
import atexit, sys
import attncli.tokens_ahead as ahead
ahead.WORTH_IT = 0
from attncli.cli import parse_tokenizer_ahead
parse_tokenizer_ahead(sys.argv[1:])
import attncli.models as models
import attncli.tokens as tokens
parsed = []
real = tokens.parse_tokenizer
def counted(*args, **kwargs):
    parsed.append(1)
    return real(*args, **kwargs)
tokens.parse_tokenizer = models.parse_tokenizer = counted
atexit.register(lambda: sys.stderr.write(
    f"children {len(ahead.CHILDREN)} parsed here {len(parsed)}\\n"))
from attncli.cli.commands import main
main()
"""


@forks
def test_attn_explain_runs_on_the_childs_tokens(model_dir: Path) -> None:
    from conftest import invoke, ok

    args = ["explain", TEXTS[0], "--model", str(model_dir), "--json", "--layer", "1"]
    got = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "100"}, timeout=120)
    assert got.returncode == 0, got.stderr
    assert got.stderr == "children 1 parsed here 0\n"  # ended at exit, never parsed here
    assert got.stdout == ok(invoke(*args))


def test_a_path_it_cannot_look_at_is_left_to_the_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Path] = []
    monkeypatch.setattr(tokens_ahead, "start", started.append)

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "stat", denied)
    parse_tokenizer_ahead(["explain", "a", "--model", str(tmp_path)])
    parse_tokenizer_ahead(["explain", "a", "--model", "a\0b"])
    assert started == []
