"""Naming a token: --focus, --from/--to and --word (attncli/lookup.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke, refused, strict_json

from attncli.cli import sources
from attncli.cli.roles import said
from attncli.errors import AttnError
from attncli.lookup import find_all, find_one

BERT = str(Path(__file__).parent / "fixtures" / "models" / "bert")


def ex_of(text: str):
    return sources.build(text, sources.SourceOptions())




def test_the_case_as_given_wins_then_case_is_ignored() -> None:
    ex = ex_of("The cat saw the dog and THE end")
    assert find_all(ex, "the", "focus") == [3]
    assert find_all(ex, "The", "focus") == [0]
    assert find_all(ex, "tHe", "focus") == [0, 3, 6]  # no exact match: ignore case


def test_an_occurrence_or_a_position_picks_one_token() -> None:
    ex = ex_of("the cat saw the dog")
    assert find_all(ex, "the#2", "focus") == [3]
    assert find_all(ex, "#4", "focus") == [4]
    assert find_all(ex, "  the#1 ", "focus") == [0]
    with pytest.raises(AttnError, match="occurs twice, so #3 is not one of them"):
        find_all(ex, "the#3", "focus")
    with pytest.raises(AttnError, match="no token #5; the text has 5"):
        find_all(ex, "#5", "focus")


def test_a_hash_that_is_a_token_is_still_found() -> None:
    ex = ex_of("use # here")
    assert find_all(ex, "#", "focus") == [1]


def test_find_one_takes_the_first_and_says_which() -> None:
    ex = ex_of("the cat saw the dog")
    assert find_one(ex, "cat", "query") == (1, None)
    index, note = find_one(ex, "the", "query")
    assert index == 0
    assert note == ("the query word 'the' matches 2 tokens (#0, #3); this is the first, #0. "
                    "Pick another with 'the#2' or '#3'.")
    assert said(note) == ("--from 'the' matches 2 tokens (#0, #3); this is the first, #0. "
                          "Pick another with --from 'the#2' or --from '#3'.")


def test_a_word_split_into_pieces_names_them() -> None:
    # the tiny bert fixture's vocabulary splits "walking" into w ##al ##k ##ing
    msg = refused(invoke("explain", "The animal was walking", "--model", BERT, "--focus",
                         "walking"), "is split into 4 tokens")
    assert "#4 w, #5 ##al, #6 ##k, #7 ##ing" in msg
    out = invoke("explain", "The animal was walking", "--model", BERT, "--focus", "##ing")
    assert out.exit_code == 0 and "“ing” attends to:" in out.stdout  # the spelling works too
    assert invoke("explain", "The animal was walking", "--model", BERT,
                  "--focus", "#5").exit_code == 0


def test_a_word_not_in_the_text_lists_the_tokens() -> None:
    refused(invoke("explain", "the cat", "--focus", "dog"),
            "--focus 'dog' is not one of the tokens: the, cat")
    long = " ".join(f"w{i}" for i in range(40))
    msg = refused(invoke("explain", long, "--focus", "zzz"), "w29, … (10 more)")
    assert "w30" not in msg


def test_charts_of_a_repeated_word_carry_their_position() -> None:
    out = invoke("explain", "the cat saw the dog", "--focus", "the").stdout
    assert "“the” (token 0) attends to:" in out and "“the” (token 3) attends to:" in out
    # the title names the token by position, not as WORD#N (the N-th "the"), which it is not
    out = invoke("explain", "the cat saw the dog", "--focus", "the#2").stdout
    assert "“the” (token 3) attends to:" in out and "(token 0)" not in out
    assert "#" not in out[out.index("“the” (token 3)"):]
    assert "“the” (token 3) attends to:" in invoke("explain", "the cat saw the dog",
                                                   "--focus", "#3").stdout
    assert "“cat” attends to:" in invoke("explain", "the cat saw the dog").stdout


def test_heads_and_compare_say_which_of_a_repeated_word_they_took() -> None:
    doc = strict_json(invoke("heads", "the cat saw the dog", "--heads", "2", "--from", "the",
                             "--to", "dog", "--json").stdout)
    assert doc["from"] == 0 and doc["to"] == 4
    assert doc["notes"] == ["--from 'the' matches 2 tokens (#0, #3); this is the first, #0. "
                            "Pick another with --from 'the#2' or --from '#3'."]
    out = invoke("heads", "the cat saw the dog", "--heads", "2", "--from", "the", "--to", "dog",
                 width=150).stdout
    assert "--from 'the' matches 2 tokens (#0, #3); this is the first, #0." in out
    doc = strict_json(invoke("heads", "the cat saw the dog", "--heads", "2", "--from", "the#2",
                             "--to", "dog", "--json").stdout)
    assert doc["from"] == 3 and "notes" not in doc
    result = invoke("compare", "the bank and the bank", "a bank", "--word", "bank")
    assert result.exit_code == 0
    assert "--word (in TEXT_A) 'bank' matches 2 tokens (#1, #4)" in result.stdout
    doc = strict_json(invoke("compare", "the bank and the bank", "a bank by a bank", "--word",
                             "bank#2", "--json").stdout)  # #2 applies to both sentences
    assert doc["a"]["index"] == 4 and doc["b"]["index"] == 4 and "notes" not in doc


def test_every_role_has_an_option_in_the_cli() -> None:
    # a role added below the CLI without an option would reach the user by its plain name
    from attncli.cli.roles import OPTION, OPTIONS
    from attncli.errors import ROLES, RoleError

    assert set(OPTION) == set(ROLES)
    error = RoleError(lambda n: f"{n('word_a')} and {n('key')}, e.g. {n.give('key', '#2')}")
    assert str(error) == "the word (in text A) and the key word, e.g. '#2'"
    assert error.reworded(OPTIONS) == "--word (in TEXT_A) and --to, e.g. --to '#2'"
