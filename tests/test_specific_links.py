"""Which link teaches meaning: positional and sink rows left out, heads ranked by specificity,
the demo's part 3 on "it" → "animal", and its words when only position links words.

Issue 20, item 3. The weights below are made by hand; each baseline is worked out beside it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke as run
from conftest import ok, render_text
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli import weights as wts
from attncli.demo import yours
from attncli.explain import Explanation, explain
from attncli.heads import PATTERNS, link_kind, overview, pair_links, row_kinds, teachable
from attncli.render import heads as render_heads
from attncli.tokens import word_level

BERT = str(Path(__file__).parent / "fixtures" / "models" / "bert")
PRONOUN = "The animal didn't cross the street because it was tired"
TEXT = "the animal street it was"  # the(0) animal(1) street(2) it(3) was(4)

# head 0 attends to the previous token (pattern previous: (1 + 1 + 0.1 + 1) / 4 = 0.775),
# but "it" gives "animal" 0.9: the largest weight for the pair, and the most specific, with
# baseline (1 + 0.9) / 5 = 0.38 (street gives it 1), 0.52 above; a positional head all the same
PREVIOUS = [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0.9, 0.1, 0, 0],
            [0, 0, 0, 1, 0]]
# head 1: every row gives "animal" 0.8, so "it" → "animal" (0.8) is no specific link:
# baseline (5 × 0.8) / 5 = 0.8, specificity 0
EVERYONE = [[0.05, 0.8, 0.05, 0.05, 0.05]] * 5
# head 2: rows park on "the" (a sink), but "it" gives "animal" 0.6: baseline
# (0.05 × 4 + 0.6) / 5 = 0.16, specificity 0.6 − 0.16 = 0.44
SPECIFIC = [[0.8, 0.05, 0.05, 0.05, 0.05]] * 3 + [[0.2, 0.6, 0.1, 0.05, 0.05]] + \
    [[0.8, 0.05, 0.05, 0.05, 0.05]]


def made(*matrices: list[list[float]]) -> Explanation:
    """TEXT with one head per matrix, each head's weights replaced."""
    ex = explain(TEXT, word_level(TEXT), wts.seeded(0, 8, 4, 4, 1), seed=0)
    first = ex.heads[0]
    heads = [dataclasses.replace(first, head=h, steps=dataclasses.replace(
        first.steps, weights=np.array(m, dtype=float))) for h, m in enumerate(matrices)]
    return dataclasses.replace(ex, heads=heads)


# ---------------------------------------------------------------- link_kind, by hand


@pytest.mark.parametrize(("row", "src", "pattern", "cross", "kind"), [
    ([0.1, 0.7, 0.2, 0.0], 2, "mixed", False, "positional"),  # largest on src − 1
    ([0.1, 0.2, 0.1, 0.6], 2, "mixed", False, "positional"),  # largest on src + 1
    ([0.1, 0.1, 0.7, 0.1], 2, "mixed", False, "positional"),  # largest on itself
    ([0.6, 0.1, 0.1, 0.2], 3, "mixed", False, "sink"),  # more than half on the first
    ([0.5, 0.3, 0.1, 0.1], 3, "mixed", False, "content"),  # half is not more than half
    ([0.1, 0.6, 0.1, 0.2], 3, "mixed", False, "content"),  # two tokens back
    ([0.1, 0.6, 0.1, 0.2], 3, "previous", False, "positional"),  # its head goes by place
    ([0.1, 0.6, 0.1, 0.2], 3, "sink", False, "content"),  # a sink head's row that found a word
    ([0.1, 0.1, 0.6, 0.2], 3, "mixed", True, "content"),  # across two texts: no neighbours
])
def test_link_kind_by_hand(row: list[float], src: int, pattern: str, cross: bool,
                           kind: str) -> None:
    assert link_kind(np.array(row), src, [0], pattern, cross) == kind


def test_a_special_token_is_a_sink_wherever_it_sits() -> None:
    row = np.array([0.1, 0.1, 0.1, 0.1, 0.6])  # [SEP] last, src 1: not a neighbour
    assert link_kind(row, 1, [0, 4], "mixed") == "sink"
    assert link_kind(row, 1, [0], "mixed") == "content"


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.lists(st.lists(st.sampled_from([0.0, 0.05, 0.2, 0.5, 0.55, 0.9]), min_size=n,
                      max_size=n), min_size=n, max_size=n),
    st.lists(st.integers(0, n - 1), max_size=3, unique=True),
    st.sampled_from(sorted(PATTERNS)), st.booleans())))
def test_row_kinds_is_link_kind_for_every_row(case) -> None:
    rows, sinks, pattern, cross = case
    weights = np.array(rows)
    assert list(row_kinds(weights, sinks, pattern, cross)) == [
        link_kind(weights[i], i, sinks, pattern, cross) for i in range(len(rows))]


# ---------------------------------------------------------------- the head chosen


def test_the_pair_picks_the_most_specific_content_head_not_the_largest_weight() -> None:
    ex = made(PREVIOUS, EVERYONE, SPECIFIC)
    links = pair_links(ex, 3, 1)
    assert [(link.pattern, link.kind) for link in links] == [
        ("previous", "positional"), ("mixed", "content"), ("sink", "content")]
    assert [link.weight for link in links] == pytest.approx([0.9, 0.8, 0.6])
    assert [link.baseline for link in links] == pytest.approx([0.38, 0.8, 0.16])
    best = teachable(links)
    assert best is not None and best.head == 2
    assert best.specificity == pytest.approx(0.44)


def test_heads_ranks_content_links_by_specificity_and_leaves_out_position() -> None:
    ex = made(PREVIOUS, EVERYONE, SPECIFIC)
    ov = overview(ex)
    # head 0's was → it is 1.0, the largest weight, with baseline 0.2: left out, positional
    assert [link.head for link in ov.top] == [2, 1]
    assert (ov.top[0].src, ov.top[0].dst) == (3, 1)
    # in head 1 every column's weight equals its baseline: nothing rises above it
    assert [link.specificity for link in ov.top] == pytest.approx([0.44, 0.0])
    out = render_text(render_heads.overview(ov), width=100)
    assert "layer  0 head  2   it → animal   60.0%  baseline 16.0%  +44.0  [F]" in out
    assert "Left out: rows that attend by position" in " ".join(out.split())
    follow = yours.follow(ex)
    assert (follow[0].head, follow[0].src, follow[0].dst, follow[1]) == (2, 3, 1, True)


def test_a_head_whose_strongest_role_is_positional_links_nothing_by_meaning() -> None:
    # the row looks hardest at a word two places away, in a head whose pattern is "first"
    # but whose strongest role (roles.py) is previous: positional all the same
    row = np.array([0.3, 0.0, 0.7, 0.0, 0.0])
    assert link_kind(row, 4, [], "first") == "content"
    assert link_kind(row, 4, [], "first", head_role="previous") == "positional"
    assert link_kind(row, 4, [], "first", head_role="offset") == "content"
    kinds = row_kinds(np.array([row] * 5), [], "first", head_role="self")
    assert set(kinds) == {"positional"}


def test_only_positional_links_are_said_to_be_so() -> None:
    ex = made(PREVIOUS)
    assert overview(ex).top == []
    link, meaning = yours.follow(ex)
    assert link is not None and not meaning
    assert (link.src, link.dst, link.kind) == (1, 0, "positional")  # animal → the, 1.0 − 0.4
    one = dataclasses.replace(ex, heads=ex.heads[:1])
    said = " ".join(yours.model_words(one, link, meaning, overview(ex)).split())
    assert said.startswith("No head links two different words here by more than position: "
                           "every link rising 10 points or more above its baseline attends by "
                           "position or parks on a sink.")
    assert ("'animal' → 'the', 100.0% against a baseline of 40.0%; but its head looks at the "
            "previous token whatever the words are: position, not meaning.") in said
    assert said.endswith("What the one head does, by its strongest role (as `attn heads` "
                         "marks it): 1 looks at the previous token.")
    out = render_text(render_heads.overview(overview(ex)), width=100)
    assert "None: in every head, each row attends by position or parks on a sink." in out


# ---------------------------------------------------------------- the demo and heads, a model


def part_3(out: str) -> str:
    return " ".join(out[out.index("Part 3 · "):out.index("The end · Recap")].split())


def heads_json(*args: str) -> dict:
    return json.loads(ok(run("heads", PRONOUN, "--model", BERT, "--top", "1000", "--json",
                             *args)))


def test_part_3_teaches_it_and_animal_against_street() -> None:
    part = part_3(ok(run("demo", "--no-pause", "--model", BERT, width=100)))
    assert "The lesson asks what 'it' means in “" + PRONOUN + "”" in part
    m = re.search(r"In layer (\d), head (\d), 'it' gives ([\d.]+)% of its attention to "
                  r"'animal', while the sentence's tokens give 'animal' ([\d.]+)% on average",
                  part)
    assert m is not None, part
    animal = heads_json("--from", "it", "--to", "animal")["top"]
    best = max((t for t in animal if t["kind"] == "content"), key=lambda t: t["specificity"])
    assert (int(m[1]), int(m[2])) == (best["layer"], best["head"])
    assert m[3] == f"{100 * best['weight']:.1f}" and m[4] == f"{100 * best['baseline']:.1f}"
    street = next(t for t in heads_json("--from", "it", "--to", "street")["top"]
                  if (t["layer"], t["head"]) == (best["layer"], best["head"]))
    assert (f"The same head gives 'street' {100 * street['weight']:.1f}%, against a baseline "
            f"of {100 * street['baseline']:.1f}%") in part
    roles = [p["role"] for row in heads_json()["patterns"] for p in row]
    assert f"{roles.count('mixed')} have no single role" in part


def test_heads_json_links_carry_specificity_and_pattern() -> None:
    doc = heads_json()
    assert doc["top"]
    for t in doc["top"]:
        assert t["kind"] == "content"
        assert t["specificity"] == pytest.approx(t["weight"] - t["baseline"])
        assert t["pattern"] == doc["patterns"][t["layer"]][t["head"]]["pattern"]
    specificity = [t["specificity"] for t in doc["top"]]
    assert specificity == sorted(specificity, reverse=True)


def test_the_demo_on_a_sentence_only_position_links_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ex = made(PREVIOUS)
    ex = dataclasses.replace(ex, config=dataclasses.replace(ex.config, model="bert",
                                                            n_layers=1))
    monkeypatch.setattr(yours, "explain_model", lambda *args, **kwargs: ex)
    out = " ".join(ok(run("demo", TEXT, "--model", BERT, "--no-pause", width=100)).split())
    assert "No head links two different words here by more than position" in out
    assert "but its head looks at the previous token whatever the words are" in out
    # the softmax of a previous-token row (1.0000 / 1.0000) is never taught as meaning
    assert ("= 1.0000 for 'the'. That weight comes from where the words sit, not from what "
            "they mean.") in out
    assert "'animal' gives 100% of its attention to 'the'. That weight comes from where" in out


def test_each_specific_link_shows_what_its_head_gives_any_word_that_far() -> None:
    """A link k places away stands beside the head's mean weight k places from every query
    (a lean toward a distance is not left out), worked out here from explain's own weights."""
    doc = json.loads(ok(run("heads", PRONOUN, "--model", BERT, "--json")))
    assert doc["top"]
    for link in doc["top"]:
        w = np.array(json.loads(ok(run(
            "explain", PRONOUN, "--model", BERT, "--layer", str(link["layer"]), "--head",
            str(link["head"]), "--json")))["heads"][0]["weights"])  # (n, n)
        k = link["to"] - link["from"]
        rows = [i for i in range(len(w)) if 0 <= i + k < len(w)]
        assert link["at_distance"] == pytest.approx(np.mean([w[i, i + k] for i in rows]))
    shown = " ".join(ok(run("heads", PRONOUN, "--model", BERT, width=80)).split())
    first = doc["top"][0]
    assert (f"any word {first['to'] - first['from']:+d} away: "
            f"{100 * first['at_distance']:.1f}%") in shown
    assert "Not left out: a head's lean toward words a fixed distance away." in shown
    assert f"“Any word {first['to'] - first['from']:+d} away”" in shown  # the first link's k


def test_the_links_numbers_stand_in_columns() -> None:
    shown = ok(run("heads", PRONOUN, "--model", BERT, width=80)).splitlines()
    links = [line for line in shown if line.startswith("layer") and "baseline" in line]
    assert len(links) >= 2
    assert len({line.index("baseline") for line in links}) == 1  # the numbers line up
    assert all(len(line) <= 80 for line in shown)
