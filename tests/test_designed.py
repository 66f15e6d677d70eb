"""The designed lessons: "it" → "animal" in the pronoun sentence (animal-street.json), and "bank"
moved toward "river" or "money" by its context (bank.json, attn compare --toward)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ANIMAL_TIRED, SAMPLE_WEIGHTS, ok, ok_json, refused
from conftest import invoke as run

ANIMAL_STREET = SAMPLE_WEIGHTS / "animal-street.json"
BANK = SAMPLE_WEIGHTS / "bank.json"
PRONOUN = "The animal didn't cross the street because it was tired"
RIVER = "I sat on the bank of the river"
MONEY = "I put money in the bank"


def row(doc: dict, word: str) -> dict[str, float]:
    """The weights a token gives every key, by key (each key of the sentence is unique here
    except "the", whose entry is the last one)."""
    labels = [t["text"] for t in doc["tokens"]]
    weights = doc["heads"][0]["weights"][labels.index(word)]
    return dict(zip(labels, weights, strict=True))


# ---------------------------------------------------------------- "it" → "animal"


def test_every_token_of_the_pronoun_sentence_is_known_and_it_picks_the_animal() -> None:
    doc = ok_json(run("explain", PRONOUN, "-w", str(ANIMAL_STREET), "--from", "it", "--to",
                      "animal", "--json"))
    assert [t["text"] for t in doc["tokens"]] == [
        "The", "animal", "didn", "'", "t", "cross", "the", "street", "because", "it", "was",
        "tired"]
    it = row(doc, "it")
    # "it" asks for a noun (2) and for something alive (3): "animal" offers both (score 5),
    # "street" only the noun (2), the other ten keys nothing (0); all are divided by √4 = 2
    total = math.exp(2.5) + math.exp(1.0) + 10
    assert it["animal"] == pytest.approx(math.exp(2.5) / total)  # 0.4892
    assert it["street"] == pytest.approx(math.exp(1.0) / total)  # 0.1092
    assert it["animal"] > 4 * it["street"]
    assert max(it, key=it.get) == "animal"
    pair = doc["pair"]
    assert pair["products"] == [2.0, 3.0, 0.0, 0.0] and pair["score"] == 5.0
    assert pair["output"][1] == pytest.approx(it["animal"])  # 'alive' comes from "animal" alone


def test_the_pronoun_pair_view_names_the_animal_and_its_numbers() -> None:
    out = ok(run("explain", PRONOUN, "-w", str(ANIMAL_STREET), "--from", "it", "--to",
                 "animal", width=80))
    assert "The pair “it” → “animal”" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["noun", "2.00", "1.00", "2.00"] in lines
    assert ["alive", "3.00", "1.00", "3.00"] in lines
    assert "weight of “animal” = 12.1825 / 24.9008 = 0.4892" in out
    assert ["street", "1.0000", "2.7183", "0.1092"] in lines


def test_the_other_rows_of_the_pronoun_sentence_read_sensibly() -> None:
    doc = ok_json(run("explain", PRONOUN, "-w", str(ANIMAL_STREET), "--json"))
    tired = row(doc, "tired")  # an adjective looks for a living noun: 1.8 + 1.6 against 1.8
    total = math.exp(1.7) + math.exp(0.9) + 10
    assert tired["animal"] == pytest.approx(math.exp(1.7) / total)  # 0.305
    assert tired["street"] == pytest.approx(math.exp(0.9) / total)  # 0.137
    assert max(row(doc, "animal"), key=row(doc, "animal").get) == "tired"  # its state
    street = row(doc, "street")  # a noun that is not alive asks for nothing: an even row
    assert len(set(street.values())) == 1
    the = doc["heads"][0]["weights"][0]  # a determiner: both nouns tie (no word order here)
    assert the[1] == the[7] == max(the)


def test_it_cannot_read_tired_so_wide_gives_the_same_row() -> None:
    rows = [row(ok_json(run("explain", PRONOUN.replace("tired", end), "-w", str(ANIMAL_STREET),
                            "--json")), "it")["animal"] for end in ("tired", "wide")]
    assert rows[0] == rows[1]


def test_animal_street_gives_animal_tired_s_numbers_on_its_sentence() -> None:
    docs = [ok_json(run("explain", "The animal was tired", "-w", str(path), "--json"))
            for path in (ANIMAL_TIRED, ANIMAL_STREET)]
    for key in ("q", "k", "v", "scores", "weights", "output"):
        assert docs[0]["heads"][0][key] == docs[1]["heads"][0][key], key


# ---------------------------------------------------------------- "bank": river or money


def bank_doc() -> dict:
    return ok_json(run("compare", RIVER, MONEY, "--word", "bank", "-w", str(BANK),
                       "--toward", "river", "--toward", "money", "--json"))


def test_bank_attends_to_river_in_one_sentence_and_to_money_in_the_other() -> None:
    doc = bank_doc()
    e = math.exp(3 / math.sqrt(2))  # bank asks for water (3) and money (3); d_k = 2
    a, b = doc["a"]["heads"][0]["weights"], doc["b"]["heads"][0]["weights"]
    assert a[7] == pytest.approx(e / (e + 7))  # river: 0.544 of 8 tokens
    assert b[2] == pytest.approx(e / (e + 5))  # money: 0.625 of 6 tokens


def test_bank_s_output_moves_toward_river_in_a_and_toward_money_in_b() -> None:
    doc = bank_doc()
    river, money = doc["toward"]
    assert (river["word"], river["in"], river["index"]) == ("river", "a", 7)
    assert (money["word"], money["in"], money["index"]) == ("money", "b", 2)
    # on its own, bank's value [0.5, 0.5, 0] lies halfway between river's [1, 0, 0] and
    # money's [0, 1, 0]
    for t in (river, money):
        assert t["value_a"] == t["value_b"] == pytest.approx(1 / math.sqrt(2))
    # after attention: its output is Σ weight × value row, worked out here from the weights
    e = math.exp(3 / math.sqrt(2))
    for side, n, pulled in (("a", 8, river), ("b", 6, money)):
        w, rest = e / (e + n - 1), 1 / (e + n - 1)
        out = np.array([w + 0.5 * rest, 0.5 * rest, (n - 2) * rest])  # toward, other, grammar
        assert pulled[f"output_{side}"] == pytest.approx(out[0] / np.linalg.norm(out))
        other = money if pulled is river else river
        assert other[f"output_{side}"] == pytest.approx(out[1] / np.linalg.norm(out))
    assert river["output_a"] > 0.8 > 0.1 > money["output_a"]
    assert money["output_b"] > 0.9 > 0.1 > river["output_b"]
    assert doc["a"]["heads"][0]["output"] == pytest.approx(
        [0.5763, 0.0326, 0.3911], abs=1e-4)


def test_the_compare_view_says_where_bank_s_output_points() -> None:
    out = ok(run("compare", RIVER, MONEY, "--word", "bank", "-w", str(BANK), "--toward",
                 "river", "--toward", "money", width=80))
    lines = [line.split() for line in out.splitlines()]
    assert ["output", "of", "“bank”", "in", "A", "0.827", "0.047"] in lines
    assert ["output", "of", "“bank”", "in", "B", "0.051", "0.910"] in lines
    assert ["value", "of", "“bank”", "in", "A", "0.707", "0.707"] in lines
    words = " ".join(out.split())
    assert ("points nearest to “river” (0.827) in A, and to “money” (0.910) in B") in words


def test_toward_a_word_in_neither_sentence_is_refused() -> None:
    refused(run("compare", RIVER, MONEY, "--word", "bank", "-w", str(BANK), "--toward", "cash"),
            "--toward 'cash'", "either sentence", "river")


def test_without_toward_the_json_has_no_toward_key() -> None:
    doc = ok_json(run("compare", RIVER, MONEY, "--word", "bank", "-w", str(BANK), "--json"))
    assert "toward" not in doc


# ---------------------------------------------------------------- the demo's parts 3 and 4


def test_the_demo_shows_it_and_bank_after_the_animal_was_tired() -> None:
    out = ok(run("demo", "--no-pause", width=80))
    words = " ".join(out.split())
    order = [words.index(mark) for mark in (
        "Part 2 · The animal was tired", "Part 3 · What 'it' stands for",
        "Part 4 · bank, by a river or for money", "The end · Now try a real model")]
    assert order == sorted(order)
    part3 = words[order[1]:order[2]]
    assert "a noun (2.00) and, more, for something alive (3.00)" in part3
    assert "'animal' offers both, a score of 5.00; 'street' offers only the noun, 2.00" in part3
    assert "'it' gives 'animal' 49% of its attention and 'street' 11%" in part3
    assert "gives 'animal' 31% against 14% for 'street'" in part3  # the row of 'tired'
    assert "“it” attends to:" in part3 and "animal ███████████▊ 48.9%" in part3
    assert "'alive' (0.489)" in part3 and "'it' still gives 'animal' 49%" in part3
    part4 = words[order[2]:order[3]]
    assert "In A 'bank' gives 'river' 54%, in B it gives 'money' 63%" in part4
    assert "cosine 0.707 with the value of 'river' and 0.707 with that of 'money'" in part4
    assert "in A its output has cosine 0.827 with 'river' and 0.047 with 'money'" in part4
    assert "in B, 0.051 and 0.910" in part4 and "the two outputs have cosine 0.316" in part4


def test_the_demo_s_parts_3_and_4_fit_80_by_24() -> None:
    import io

    from rich.console import Console

    from attncli import demo

    screens = demo.lesson()
    console = Console(file=io.StringIO(), force_terminal=True, width=80, height=24,
                      color_system=None)
    ours = [(n, s) for n, s in enumerate(screens, start=1)
            if s.part.startswith(("Part 3", "Part 4"))]
    assert len(ours) == 5
    for n, screen in ours:
        for page in screen.pages(n, len(screens), console, 23):  # 23: the footer's line
            lines = ["".join(seg.text for seg in line).rstrip()
                     for line in console.render_lines(page, console.options, pad=False)]
            assert len(lines) <= 23 and max(map(len, lines)) <= 80, (n, screen.title)


# ---------------------------------------------------------------- the explorer's e


def test_the_explorer_edits_to_the_pronoun_sentence_with_its_weights() -> None:
    import asyncio
    from dataclasses import replace

    from attncli.cli import sources
    from attncli.explore.app import Explorer
    from attncli.explore.modals import EditScreen
    from attncli.explore.session import Session

    opts = sources.SourceOptions(weights=ANIMAL_STREET)
    session = Session("The animal was tired",
                      lambda text, causal, positions: sources.build(
                          text, replace(opts, causal=causal, positions=positions)),
                      causal=False, positions="none", can_toggle=True)
    app = Explorer(session, source="animal-street.json")

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("e")
            assert isinstance(app.screen, EditScreen)
            app.screen.query_one("#edit").value = PRONOUN
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            for _ in range(9):  # the query moves down to "it", token 9
                await pilot.press("down")
            await pilot.pause()
            return app.session.text, app.labels, app.query_row, app.session.ex

    text, labels, query, ex = asyncio.run(go())
    assert text == PRONOUN and len(labels) == 12 and labels[query] == "it"
    weights = ex.heads[0].steps.weights[query]
    assert weights[labels.index("animal")] > 4 * weights[labels.index("street")]


def test_toward_joins_every_head_and_takes_the_word_from_b_when_a_lacks_it() -> None:
    from attncli import tokens as tok
    from attncli.compare import compare
    from attncli.explain import explain
    from attncli.weights import seeded

    def ex(text: str):
        return explain(text, tok.word_level(text), seeded(3, 8, 4, 4, heads=2), seed=3)

    a, b = ex("the river bank"), ex("the bank account")
    river, account = compare(a, b, "bank", toward=("river", "account")).toward
    assert (river.side, river.index, account.side, account.index) == ("a", 1, "b", 2)

    def joined(e, row: str, i: int) -> np.ndarray:
        return np.concatenate([getattr(hs.steps, row)[i] for hs in e.heads])

    def cos(u: np.ndarray, v: np.ndarray) -> float:
        return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    value = joined(b, "v", 2)  # "account" is only in B
    assert account.output_a == pytest.approx(cos(joined(a, "output", 2), value))
    assert account.output_b == pytest.approx(cos(joined(b, "output", 1), value))
    assert account.value_a == pytest.approx(cos(joined(a, "v", 2), value))
