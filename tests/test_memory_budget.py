"""ATTN_MEMORY_BUDGET: one parser, clear rules (whole bytes or a unit, 1 KiB to 1 EiB), and an
error that names the variable on every path, a model's set-up included."""

from __future__ import annotations

import pytest
from conftest import ANIMAL_TIRED, FIXTURES, invoke, refused
from hypothesis import given
from hypothesis import strategies as st

from attncli.errors import AttnError
from attncli.files import MEMORY_BUDGET, parse_memory_budget


@pytest.mark.parametrize(("raw", "budget"), [
    ("", MEMORY_BUDGET),
    ("  ", MEMORY_BUDGET),
    ("1024", 1024),
    ("12K", 12 * 1024),
    ("12kb", 12 * 1024),
    ("512M", 512 * 1024**2),
    ("1.5G", 3 * 1024**3 // 2),
    ("0.5g", 1024**3 // 2),
    ("4GiB", 4 * 1024**3),
    (" 3 M ", 3 * 1024**2),
    ("2T", 2 * 1024**4),
])
def test_a_budget_is_bytes_or_a_power_of_1024(raw: str, budget: int) -> None:
    assert parse_memory_budget(raw) == budget


@pytest.mark.parametrize(("raw", "why"), [
    ("1e999", "give a number of bytes"),
    ("inf", "give a number of bytes"),
    ("nan", "give a number of bytes"),
    ("9" * 400, "give a number of bytes"),
    ("-1", "give a number of bytes"),
    ("lots", "give a number of bytes"),
    ("0x10", "give a number of bytes"),
    ("1,000", "give a number of bytes"),
    ("0.5", "a fraction needs a unit"),
    ("0", "at least 1K"),
    ("1000", "at least 1K"),
    ("0.0000001K", "at least 1K"),
    ("1048577T", "at most 1048576T"),
])
def test_a_bad_budget_names_the_variable_and_the_rule(raw: str, why: str) -> None:
    with pytest.raises(AttnError, match="ATTN_MEMORY_BUDGET") as err:
        parse_memory_budget(raw)
    assert why in str(err.value)
    assert len(str(err.value)) < 120  # a long value is cut, not echoed whole


@given(st.text(max_size=30))
def test_any_text_is_a_budget_or_one_clear_error(raw: str) -> None:
    try:
        value = parse_memory_budget(raw)
    except AttnError as exc:
        assert str(exc).startswith("ATTN_MEMORY_BUDGET=")
    else:
        assert 1024 <= value <= 2**60


@pytest.mark.parametrize("args", [
    ("explain", "The animal was tired"),
    ("explain", "The animal was tired", "-w", str(ANIMAL_TIRED)),
    ("explain", "The animal was tired", "--model", str(FIXTURES / "bert")),
    ("heads", "The animal was tired", "--model", str(FIXTURES / "gpt2")),
    ("predict", "The animal was", "--model", str(FIXTURES / "gpt2-lm")),
], ids=["seeded", "weights", "model", "heads-model", "predict"])
@pytest.mark.parametrize("raw", ["1e999", "inf", "9" * 400, "0.5"])
def test_every_path_blames_the_variable_not_the_config(args: tuple[str, ...], raw: str) -> None:
    line = refused(invoke(*args, env={"ATTN_MEMORY_BUDGET": raw}), "ATTN_MEMORY_BUDGET")
    assert "config.json" not in line
