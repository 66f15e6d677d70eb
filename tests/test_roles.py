"""Role scores on hand-made attention matrices: each scores near 1 on its own role."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke as run
from conftest import ok, ok_json, refused, render_text
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.explain import explain_model
from attncli.heads import best_for, by_role, overview
from attncli.models import load_model
from attncli.render.heads import percent_down, role_list
from attncli.roles import HOLDS, ROLES, Roles, is_punctuation, role_scores, strongest
from attncli.tokens import Token

# "[CLS] the cat , the dog [SEP]": a special token at each end, one punctuation token, and
# "the" twice (ids 1), so every role is defined.
TEXT = "the cat, the dog"
TOKENS = [Token("[CLS]", 101, 0, 0), Token("the", 1, 0, 3), Token("cat", 2, 4, 7),
          Token(",", 3, 7, 8), Token("the", 1, 9, 12), Token("dog", 4, 13, 16),
          Token("[SEP]", 102, 16, 16)]
N = len(TOKENS)


def onto(cols: list[int]) -> np.ndarray:
    """Row i gives all its weight to key cols[i]."""
    a = np.zeros((N, N))
    a[np.arange(N), cols] = 1.0
    return a


CASES = {
    "previous": onto([1, 0, 1, 2, 3, 4, 5]),  # row 0 has nothing before it: on the next
    "next": onto([1, 2, 3, 4, 5, 6, 5]),
    "self": np.eye(N),
    "first": onto([0] * N),
    "sep": onto([6] * N),
    "punct": onto([3] * N),
    # the second "the" (4) on the first (1); the others spread over no pattern
    "duplicate": onto([0, 0, 2, 1, 1, 1, 1]),
    "offset": onto([2, 3, 4, 5, 6, 0, 0]),  # k = +2, the last two rows on the first token
    "broad": np.full((N, N), 1.0 / N),
}


@pytest.mark.parametrize("role", list(CASES))
def test_each_hand_made_head_scores_near_1_on_its_role_only(role: str) -> None:
    got = role_scores(CASES[role], TOKENS, TEXT)
    assert got.scores[role] == pytest.approx(1.0, abs=0.02)
    assert got.role == role
    # the best offset is the previous or next diagonal itself for those two heads
    same = {"previous": {"offset"}, "next": {"offset"}}.get(role, set())
    for other, score in got.scores.items():
        if other != role and other not in same:
            assert score is not None and score < HOLDS, (other, score)


def test_the_numbers_by_hand() -> None:
    prev = role_scores(CASES["previous"], TOKENS, TEXT)
    # rows 1..6 give 1 to i − 1; row 0 gives key 1 its all: next = 1/6 over rows 0..5
    assert prev.scores["previous"] == 1.0 and prev.scores["next"] == pytest.approx(1 / 6)
    assert prev.k == -1 and prev.scores["first"] == pytest.approx(1 / 7)
    assert prev.scores["punct"] == pytest.approx(1 / 7)  # row 4 on ","
    assert prev.scores["duplicate"] == 0.0  # the second "the" looks at ",", not "the"
    assert role_scores(CASES["offset"], TOKENS, TEXT).k == 2
    assert role_scores(CASES["broad"], TOKENS, TEXT).scores["broad"] == pytest.approx(1.0)
    dup = role_scores(CASES["duplicate"], TOKENS, TEXT)
    assert dup.scores["duplicate"] == 1.0  # the only row with an earlier copy: on it


def test_the_offset_definition_counts_k_1_in_the_score_but_names_a_head_only_for_2() -> None:
    # the score is the best k ≠ 0, so a previous-token head's best offset is k = −1 at its
    # previous score; the definition must say so, not "k = ±2 or more" alone
    prev = role_scores(CASES["previous"], TOKENS, TEXT)
    assert prev.k == -1 and prev.scores["offset"] == prev.scores["previous"] == 1.0
    assert prev.role == "previous"
    assert "k ≠ 0" in ROLES["offset"]
    assert "only k = ±2 or more names a head" in ROLES["offset"]


def test_the_strongest_role_is_the_one_furthest_above_its_even_spread_baseline() -> None:
    none = dict.fromkeys(ROLES)
    scores = {**none, "first": 0.45, "punct": 0.6, "broad": 0.5}
    # punctuation holds more weight, but half the tokens are punctuation: (0.6 − 0.5) / 0.5
    # = 0.2 against the first token's (0.45 − 0.1) / 0.9 = 0.39
    even = {**none, "first": 0.1, "punct": 0.5}
    assert strongest(scores, even) == ("first", 0.45)
    assert strongest({**scores, "first": 0.39}, even) == ("punct", 0.6)  # below HOLDS
    assert strongest({**none, "first": 0.3, "broad": 0.85}, even) == ("broad", 0.85)
    assert strongest({**none, "first": 0.3, "broad": 0.5}, even) == ("mixed", 0.3)
    # an offset with no baseline (|k| < 2) never names a head
    assert strongest({**none, "offset": 0.9, "broad": 0.1}, even) == ("mixed", 0.9)


def test_a_causal_head_has_no_next_and_its_first_row_counts_nowhere() -> None:
    causal = np.triu(np.ones((N, N), dtype=bool), k=1)  # True: hidden
    a = np.tril(np.ones((N, N)))
    a /= a.sum(axis=1, keepdims=True)  # each row even over what it sees
    got = role_scores(a, TOKENS, TEXT, mask=causal)
    assert got.scores["next"] is None and got.k is not None and got.k < 0
    # rows 1..6 see i + 1 keys: first = mean of 1/2 … 1/7, row 0 (no choice) left out
    assert got.scores["first"] == pytest.approx(np.mean([1 / (i + 1) for i in range(1, N)]))
    assert got.scores["broad"] == pytest.approx(1.0)
    assert got.role == "broad"


def test_a_text_without_specials_punctuation_or_repeats_has_none_of_those() -> None:
    toks = [Token("a", 1, 0, 1), Token("b", 2, 2, 3), Token("c", 3, 4, 5)]
    got = role_scores(np.eye(3), toks, "a b c")
    assert got.scores["sep"] is None and got.scores["punct"] is None
    assert got.scores["duplicate"] is None and got.scores["self"] == 1.0


def test_cross_attention_keeps_only_the_roles_of_the_keys() -> None:
    got = role_scores(np.full((2, N), 1.0 / N), TOKENS, TEXT, cross=True)
    assert {r for r, s in got.scores.items() if s is not None} == {"first", "sep", "punct",
                                                                  "broad"}


@pytest.mark.parametrize(("piece", "punct"), [(",", True), ("Ġ", False), ("...", True),
                                              ("'", True), ("«»", True), ("a,", False),
                                              ("$", False), (" ", False)])
def test_punctuation_is_unicode_category_p(piece: str, punct: bool) -> None:
    assert is_punctuation(piece, Token(piece, 0, 0, len(piece))) is punct


def test_a_special_token_is_no_punctuation() -> None:
    assert not is_punctuation("a", Token("[SEP]", 0, 1, 1))


@st.composite
def heads(draw) -> tuple[np.ndarray, np.ndarray | None]:
    n = draw(st.integers(1, 7))
    raw = np.array(draw(st.lists(st.floats(0, 1), min_size=n * n, max_size=n * n)))
    raw = raw.reshape(n, n) + 1e-9
    kind = draw(st.sampled_from(["full", "causal", "window"]))
    mask = None
    if kind != "full":
        i, j = np.indices((n, n))
        mask = (j > i) | ((i - j >= 2) if kind == "window" else False)
        raw = np.where(mask, 0.0, raw)
    return raw / raw.sum(axis=1, keepdims=True), mask


@settings(max_examples=150, deadline=None)
@given(heads(), st.lists(st.sampled_from([1, 2, 3]), min_size=7, max_size=7))
def test_every_score_lies_in_0_1(head, ids: list[int]) -> None:
    w, mask = head
    n = len(w)
    toks = [Token(",", ids[i], 2 * i, 2 * i + 1) for i in range(n)]
    got = role_scores(w, toks, ", " * n, mask=mask)
    assert set(got.scores) == set(ROLES) and got.role in (*ROLES, "mixed")
    for score in got.scores.values():
        assert score is None or 0.0 <= score <= 1.0


@given(st.integers(2, 30))
def test_the_identity_scores_self_1_and_nothing_else(n: int) -> None:
    toks = [Token("w", i, 2 * i, 2 * i + 1) for i in range(n)]
    got = role_scores(np.eye(n), toks, "w " * n)
    assert got.scores["self"] == 1.0 and got.role == "self"
    assert got.scores["previous"] == got.scores["next"] == got.scores["broad"] == 0.0


# ---------------------------------------------------------------- attn heads, through the CLI

BERT = str(Path(__file__).parent / "fixtures" / "models" / "bert")
SENTENCE = "The animal didn't cross the street because it was tired"


def test_heads_json_carries_every_role_score_of_every_head() -> None:
    doc = ok_json(run("heads", SENTENCE, "--model", BERT, "--json"))
    for row in doc["patterns"]:
        for p in row:
            assert set(p["roles"]) == set(ROLES)
            assert p["roles"]["sep"] is not None and p["roles"]["next"] is not None  # bert
            assert p["role"] in (*ROLES, "mixed")
            if p["role"] not in ("mixed", "broad"):
                assert p["role_score"] == p["roles"][p["role"]] >= HOLDS


def test_a_causal_head_says_next_is_null_in_the_json() -> None:
    doc = ok_json(run("heads", SENTENCE, "--model", BERT.replace("bert", "llama"), "--json"))
    assert all(p["roles"]["next"] is None for row in doc["patterns"] for p in row)


def test_role_lists_the_heads_of_one_role_ranked() -> None:
    doc = ok_json(run("heads", SENTENCE, "--model", BERT, "--json"))
    for role in ("first", "broad", "sep"):
        want = sorted(((p["role_score"], p["layer"], p["head"]) for row in doc["patterns"]
                       for p in row if p["role"] == role), key=lambda x: -x[0])
        got = ok_json(run("heads", SENTENCE, "--model", BERT, "--json", "--role", role))
        assert [(h["score"], h["layer"], h["head"]) for h in got["role"]["heads"]] == want
        out = ok(run("heads", SENTENCE, "--model", BERT, "--role", role))
        listed = re.findall(r"layer +(\d+) head +(\d+) +([\d.]+)%", out)
        assert [(int(a), int(b)) for a, b, _ in listed] == [(x[1], x[2]) for x in want]
        assert [float(s) for *_, s in listed] == [percent_down(x[0], 1) for x in want]
        if not want:
            assert "None." in out


def test_an_unknown_role_is_refused_in_one_line_naming_the_roles() -> None:
    err = refused(run("heads", SENTENCE, "--role", "induction"), "--role", "induction")
    assert ", ".join(ROLES) in err and len(err.strip().splitlines()) == 1
    refused(run("heads", SENTENCE, "--role", "self", "--from", "it", "--to", "animal"),
            "--role")


def highest(role: str, roles: Roles) -> str:
    """What `heads --role ROLE` says of bert's heads with layer 0 head 0's role scores made
    `roles` and no head's strongest role ROLE: the line naming the highest score."""
    model = load_model(BERT)
    ov = overview(explain_model(SENTENCE, model, list(range(model.n_layers)),
                                list(range(model.n_heads))))
    ov.patterns[0][0] = dataclasses.replace(ov.patterns[0][0], roles=roles)
    assert not by_role(ov, role) and best_for(ov, role) is ov.patterns[0][0]
    out = " ".join(render_text(role_list(ov, role, [], best_for(ov, role))).split())
    return out[out.index("The highest"):]


def test_the_highest_offset_at_k_1_is_explained_by_its_k() -> None:
    # a previous-token head: its best offset, k = −1, scores 100%
    prev = role_scores(CASES["previous"], TOKENS, TEXT)
    assert highest("offset", prev) == ("The highest offset k score is layer 0 head 0's, 100.0% "
                                       "at k = -1: k = -1 is previous itself, and only k = ±2 "
                                       "or more names a head.")


def test_role_list_percents_never_round_up_to_the_40_percent_a_role_needs() -> None:
    # the highest offset score, 39.996% at k = +3, shows as 39.9%
    scores: dict[str, float | None] = {**dict.fromkeys(ROLES, 0.1), "offset": 0.39996}
    assert highest("offset", Roles(scores, 3, "mixed", 0.39996)) == (
        "The highest offset k score is layer 0 head 0's, 39.9% at k = +3: below the 40% a "
        "role needs.")


def test_no_broad_head_is_explained_by_the_80_percent_broad_needs() -> None:
    # bert's broadest head, layer 1 head 1, spreads 79.8%: below BROAD_ABOVE, it is mixed
    out = " ".join(ok(run("heads", SENTENCE, "--model", BERT, "--role", "broad")).split())
    assert out.endswith("The highest broad score is layer 1 head 1's, 79.8%: below the 80% "
                        "broad needs.")
    # at 80% or more, broad loses only to a role that holds
    scores: dict[str, float | None] = {**dict.fromkeys(ROLES, 0.1), "first": 0.5,
                                       "broad": 0.85}
    assert highest("broad", Roles(scores, 2, "first", 0.5)) == (
        "The highest broad score is layer 0 head 0's, 85.0%: there first holds, and broad "
        "names a head only when no role does.")
