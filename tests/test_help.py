"""Help that names things: what each option takes, examples that fit 80 columns, and a hint
to quote a sentence the shell split into words."""

from __future__ import annotations

import re

import pytest
from conftest import invoke, ok, refused

HELPS = [["explain"], ["heads"], ["compare"], ["predict"], ["demo"], ["explore"],
         ["weights", "init"], ["weights", "show"], ["weights"], []]


def options(out: str) -> list[str]:
    """The option lines of a help text (those that start with a dash)."""
    return [line.strip() for line in out.splitlines() if line.lstrip().startswith("-")]


@pytest.mark.parametrize("command", HELPS)
def test_no_option_shows_a_bare_type(command: list[str]) -> None:
    for line in options(ok(invoke(*command, "--help", width=80))):
        assert not re.search(r"<[a-z ]+>", line), line  # <str>, <int range>, <path>


@pytest.mark.parametrize(("command", "shown"), [
    ("explain", ["--model DIR|REPO", "--revision REF", "--focus WORD", "--from WORD",
                 "--to WORD", "--layer N[,N…]|last|all", "--head N[,N…]|last|all",
                 "--weights FILE", "--tokenizer FILE", "--seed N", "--d-model N",
                 "--positions none|sinusoidal", "--show SECTIONS", "--max-tokens N",
                 "--precision N", "--svg FILE", "--target SENTENCE", "--attention cross|self"]),
    ("heads", ["--from WORD", "--to WORD", "--top N", "--layer N[,N…]|last|all"]),
    ("compare", ["--word WORD", "--model DIR|REPO"]),
    ("predict", ["--model DIR|REPO", "--revision REF", "--top N"]),
    ("demo", ["--model DIR|REPO", "--svg FILE|DIR"]),
    ("explore", ["--layer N|last", "--head N"]),
])
def test_options_name_what_they_take(command: str, shown: list[str]) -> None:
    lines = options(ok(invoke(command, "--help", width=120)))
    for option in shown:
        assert any(f" {option} " in f" {line} " for line in lines), (option, lines)


def test_an_option_whose_metavar_is_its_name_still_parses() -> None:
    """typer 0.27.2 reads metavar WORD on an option without a declared name as the name
    --WORD: compare's --word must still be --word."""
    result = invoke("compare", "a bank", "the bank", "--word", "bank", "--json")
    assert ok(result).startswith("{")


@pytest.mark.parametrize("command", HELPS)
def test_every_example_fits_80_columns_and_is_never_wrapped(command: list[str]) -> None:
    out = ok(invoke(*command, "--help", width=80))
    lines = out.splitlines()
    start = lines.index("  Examples:") + 2
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    examples = lines[start:end]
    assert examples
    for before, line in zip([""] + examples, examples, strict=False):
        assert len(line) <= 80, line
        if before.endswith("\\"):  # a command continued on purpose, indented further
            assert line.startswith("        "), (before, line)
        else:  # every other line starts a command: none is the tail of a wrapped one
            assert line.strip().startswith(("attn ", "echo ")), line
    assert max(len(line) for line in lines) <= 80


# ---------------------------------------------------------------- a sentence left unquoted


@pytest.mark.parametrize(("args", "fix"), [
    (["explain", "The", "animal", "was", "tired"], 'quote it: root explain "The animal was '
                                                   'tired"'),
    (["heads", "The", "cat", "--json", "sat"], 'root heads "The cat sat"'),
    (["predict", "The", "capital", "is"], 'root predict "The capital is"'),
    (["demo", "my", "own", "words"], 'root demo "my own words"'),
    (["explore", "The", "cat"], 'root explore "The cat"'),
    (["explain", 'say "hi"', "there"], """root explain 'say "hi" there'"""),
])
def test_words_the_shell_split_get_a_hint_to_quote_them(args: list[str], fix: str) -> None:
    line = refused(invoke(*args), "takes the sentence as one argument", fix)
    assert "Got unexpected" not in line


def test_compare_asks_for_each_sentence_in_quotes() -> None:
    refused(invoke("compare", "the", "bank", "a", "bank", "--word", "bank"),
            "root compare takes each sentence as one argument: quote them")


def test_extra_words_after_a_file_or_standard_input_keep_the_plain_message() -> None:
    refused(invoke("weights", "show", "a.json", "b"), "Got unexpected extra argument")
    refused(invoke("explain", "-", "more"), "Got unexpected extra argument")
