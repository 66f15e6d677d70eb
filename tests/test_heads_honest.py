"""`attn heads` told honestly: each head's baseline, attention sinks, pieces of one word, ␣.

Issue 10, item 6. The numbers in the first tests are worked out by hand in the comments; the
command-line tests recompute every baseline from `attn explain`'s weights on their own.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ANIMAL_TIRED, ok, ok_json, render_text
from conftest import invoke as run
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from attncli import export
from attncli.attention import causal_mask
from attncli.explain import Explanation, explain, explain_model
from attncli.heads import PATTERNS, overview, same_word, word_ids
from attncli.models import load_model
from attncli.render import heads as render_heads
from attncli.render.heads import token_label
from attncli.safe_text import SPACE_LEGEND, space_marked
from attncli.sinks import Sink, attention_sink, baseline
from attncli.tokens import Token, encode, load_tokenizer, word_level
from attncli.weights import files as weightfiles

FIXTURES = Path(__file__).parent / "fixtures" / "models"
TEXT = "The animal didn't cross the street because it was tired"
ANIMAL = "The animal was tired"  # The(0) animal(1) was(2) tired(3)


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def animal_tired(*, causal: bool = False) -> Explanation:
    return explain(ANIMAL, word_level(ANIMAL), weightfiles.load(ANIMAL_TIRED), seed=0,
                   causal=causal)


def with_weights(ex: Explanation, *matrices: list[list[float]]) -> Explanation:
    """ex with one head per matrix, each head's weights replaced (its mask kept)."""
    first = ex.heads[0]
    heads = [dataclasses.replace(first, head=h,
                                 steps=dataclasses.replace(first.steps, weights=np.array(m)))
             for h, m in enumerate(matrices)]
    return dataclasses.replace(ex, heads=heads)


# ---------------------------------------------------------------- the baseline, by hand

W3 = np.array([[0.5, 0.3, 0.2],
               [0.1, 0.6, 0.3],
               [0.4, 0.4, 0.2]])
C3 = np.array([[1.0, 0.0, 0.0],  # causal: row i sees keys 0..i
               [0.25, 0.75, 0.0],
               [0.2, 0.5, 0.3]])


def test_the_baseline_is_the_average_of_a_column() -> None:
    assert baseline(W3, 1) == pytest.approx((0.3 + 0.6 + 0.4) / 3)  # 0.4333…
    assert baseline(W3, 0) == pytest.approx((0.5 + 0.1 + 0.4) / 3)  # 0.3333…
    assert baseline(W3, 2, mask=np.zeros((3, 3), dtype=bool)) == pytest.approx(0.7 / 3)


def test_a_causal_baseline_counts_only_the_queries_that_may_see_the_key() -> None:
    mask = causal_mask(3)
    # key 1 is hidden from query 0: (0.75 + 0.5) / 2, not (0 + 0.75 + 0.5) / 3
    assert baseline(C3, 1, mask) == pytest.approx(0.625)
    assert baseline(C3, 1) == pytest.approx(1.25 / 3)
    assert baseline(C3, 0, mask) == pytest.approx((1.0 + 0.25 + 0.2) / 3)  # seen by all
    assert baseline(C3, 2, mask) == pytest.approx(0.3)  # seen only by itself


def test_no_query_may_see_the_key_gives_zero() -> None:
    mask = np.zeros((3, 3), dtype=bool)
    mask[:, 1] = True
    assert baseline(W3, 1, mask) == 0.0


# Two heads over "The animal was tired", --from tired --to animal:
#   EVERYONE: every word gives animal 0.6 and tired 0.7: baseline 2.5 / 4 = 0.625, +0.075
#   SPECIFIC: tired gives animal 0.5, the others 0.1, 0.7 (itself), 0.1: 1.4 / 4 = 0.35, +0.15
EVERYONE = [[0.2, 0.6, 0.1, 0.1],
            [0.1, 0.6, 0.2, 0.1],
            [0.1, 0.6, 0.2, 0.1],
            [0.1, 0.7, 0.1, 0.1]]
SPECIFIC = [[0.7, 0.1, 0.1, 0.1],
            [0.1, 0.7, 0.1, 0.1],
            [0.1, 0.1, 0.7, 0.1],
            [0.1, 0.5, 0.1, 0.3]]


def test_the_overview_ranks_heads_by_weight_minus_baseline() -> None:
    ov = overview(with_weights(animal_tired(), EVERYONE, SPECIFIC), "tired", "animal")
    assert (ov.src, ov.dst) == (3, 1)
    np.testing.assert_allclose(ov.grid, [[0.7, 0.5]])
    np.testing.assert_allclose(ov.baseline, [[0.625, 0.35]])
    # the larger weight (0.7) is the less specific link: SPECIFIC (head 1) comes first
    assert [(link.head, link.weight, link.baseline) for link in ov.top] == [
        (1, pytest.approx(0.5), pytest.approx(0.35)),
        (0, pytest.approx(0.7), pytest.approx(0.625))]


def test_the_causal_overview_baseline_leaves_out_the_earlier_words() -> None:
    # row 0 ("The") cannot see "animal": (0.5 + 0.6 + 0.6) / 3, not 1.7 / 4
    causal = [[1.0, 0.0, 0.0, 0.0],
              [0.5, 0.5, 0.0, 0.0],
              [0.2, 0.6, 0.2, 0.0],
              [0.1, 0.6, 0.1, 0.2]]
    ex = with_weights(animal_tired(causal=True), causal)
    assert ex.heads[0].steps.mask is not None
    ov = overview(ex, "tired", "animal")
    assert ov.baseline[0, 0] == pytest.approx(1.7 / 3)
    assert ov.top[0].baseline == pytest.approx(1.7 / 3)
    assert ov.top[0].weight == pytest.approx(0.6)


def test_the_designed_example_baseline_is_its_column_average() -> None:
    for causal in (False, True):
        ex = animal_tired(causal=causal)
        ov = overview(ex, "tired", "animal")
        w = ex.heads[0].steps.weights
        rows = range(1, 4) if causal else range(4)  # "The" may not see "animal" causally
        assert ov.baseline[0, 0] == pytest.approx(np.mean([w[q, 1] for q in rows]), abs=1e-12)
        assert ov.grid[0, 0] == pytest.approx(w[3, 1], abs=1e-12)
    assert overview(animal_tired(), "tired", "animal").grid[0, 0] == pytest.approx(0.646,
                                                                                   abs=0.0005)


def test_without_a_pair_there_is_no_grid_and_each_link_has_its_own_baseline() -> None:
    ex = animal_tired()
    ov = overview(ex)
    assert ov.baseline is None and ov.grid is None
    steps = {(hs.layer, hs.head): hs.steps for hs in ex.heads}
    for link in ov.top:
        s = steps[link.layer, link.head]
        assert link.baseline == pytest.approx(baseline(s.weights, link.dst, s.mask))
    doc = export.heads_to_dict(ov)
    assert "baseline" not in doc and "grid" not in doc
    assert doc["top"] and all("baseline" in t for t in doc["top"])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(
    st.lists(st.lists(st.floats(0.01, 10.0), min_size=n, max_size=n), min_size=n, max_size=n),
    st.integers(0, n - 1), st.booleans())))
def test_a_baseline_lies_between_the_visible_column_values(case) -> None:
    raw, dst, causal = case
    n = len(raw)
    mask = causal_mask(n) if causal else None
    w = np.array(raw)
    if mask is not None:
        w = np.where(mask, 0.0, w)
    w = w / w.sum(axis=1, keepdims=True)  # each row sums to 1, as a softmax does
    seen = w[:, dst] if mask is None else w[~mask[:, dst], dst]
    b = baseline(w, dst, mask)
    assert seen.min() - 1e-12 <= b <= seen.max() + 1e-12
    assert 0.0 <= b <= 1.0


# ---------------------------------------------------------------- attention sinks

SPECIAL = [Token("[CLS]", 101, 0, 0), Token("a", 1, 0, 1), Token("b", 2, 2, 3),
           Token("c", 3, 4, 5), Token("[SEP]", 102, 5, 5)]  # over "a b c"


def test_a_cls_sink() -> None:
    # rows 0-3 give [CLS] 0.8, row 4 gives it 0.2: 4 of 5 rows, share (4·0.8 + 0.2) / 5 = 0.68
    w = np.full((5, 5), 0.05)
    w[:4, 0] = 0.8
    w[4] = [0.2, 0.2, 0.2, 0.2, 0.2]
    assert attention_sink(w, SPECIAL) == Sink(token=0, rows=4, of=5, share=pytest.approx(0.68))


def test_a_sep_sink_at_the_end() -> None:
    # rows 0, 1 and 3 give [SEP] 0.6: 3 of 5 rows, at least half
    w = np.full((5, 5), 0.1)
    w[[0, 1, 3], 4] = 0.6
    w[[2, 4]] = [0.2, 0.2, 0.2, 0.2, 0.2]
    sink = attention_sink(w, SPECIAL)
    assert sink is not None and (sink.token, sink.rows, sink.of) == (4, 3, 5)
    assert sink.share == pytest.approx((3 * 0.6 + 2 * 0.2) / 5)


def test_no_sink_when_too_few_rows_park_or_the_token_is_a_word() -> None:
    # 2 of 5 rows give [CLS] more than half: fewer than half of the rows
    w = np.full((5, 5), 0.2)
    w[:2] = [0.8, 0.05, 0.05, 0.05, 0.05]
    assert attention_sink(w, SPECIAL) is None
    # every row gives "b" (a real word, not the first token) 0.8: a word, not a sink
    w = np.full((5, 5), 0.05)
    w[:, 2] = 0.8
    assert attention_sink(w, SPECIAL) is None
    # exactly 0.5 is not "more than half"
    w = np.full((5, 5), 0.125)
    w[:, 0] = 0.5
    assert attention_sink(w, SPECIAL) is None
    # one token has nowhere else to look
    assert attention_sink(np.ones((1, 1)), SPECIAL[:1]) is None


def test_the_first_token_counts_even_when_it_is_a_word() -> None:
    tokens = word_level("the cat sat")
    w = np.array([[1.0, 0.0, 0.0],
                  [0.9, 0.1, 0.0],
                  [0.3, 0.3, 0.4]])
    mask = causal_mask(3)
    # row 0 sees only "the": no choice, not counted. 1 of the other 2 rows parks on "the",
    # which all three rows see: share (1.0 + 0.9 + 0.3) / 3
    assert attention_sink(w, tokens, mask) == Sink(0, 1, 2, pytest.approx(2.2 / 3))


def test_a_decoder_s_first_row_has_no_choice_and_makes_no_sink() -> None:
    tokens = word_level("the cat sat down")
    w = np.array([[1.0, 0.0, 0.0, 0.0],
                  [0.9, 0.1, 0.0, 0.0],
                  [0.3, 0.3, 0.4, 0.0],
                  [0.2, 0.3, 0.2, 0.3]])
    # counting row 0 it would be 2 of 4 rows; of the 3 rows with a choice, only 1 parks
    assert attention_sink(w, tokens, causal_mask(4)) is None
    assert attention_sink(w, tokens) == Sink(0, 2, 4, pytest.approx(2.4 / 4))  # no mask


def test_a_sink_head_is_named_sink_in_the_overview_and_the_json() -> None:
    sink = [[0.7, 0.1, 0.1, 0.1],
            [0.8, 0.1, 0.05, 0.05],
            [0.9, 0.05, 0.05, 0.0],
            [0.4, 0.3, 0.2, 0.1]]
    ov = overview(with_weights(animal_tired(), sink, SPECIFIC))
    first, second = ov.patterns[0]
    assert first.pattern == "sink" and first.sink == Sink(0, 3, 4, pytest.approx(0.7))
    assert first.score == pytest.approx(0.7)
    assert second.pattern != "sink" and second.sink is None
    assert "sink" in PATTERNS
    doc = export.heads_to_dict(ov)
    entry = doc["patterns"][0][0]
    assert entry["pattern"] == "sink"
    assert entry["sink"] == {"token": 0, "rows": 3, "of": 4, "share": pytest.approx(0.7)}
    assert "sink" not in doc["patterns"][0][1]


def test_a_stronger_self_pattern_is_not_called_a_sink() -> None:
    # rows 0 and 1 park on "The" (half of 4), but self holds more: (0.9 + .05 + .9 + .9) / 4
    head = [[0.9, 0.05, 0.05, 0.0],
            [0.9, 0.05, 0.05, 0.0],
            [0.05, 0.0, 0.9, 0.05],
            [0.05, 0.0, 0.05, 0.9]]
    (p,) = overview(with_weights(animal_tired(), head)).patterns[0]
    assert (p.pattern, p.score) == ("self", pytest.approx(2.75 / 4))


# ---------------------------------------------------------------- pieces of one word


def model_tokens(name: str, text: str = TEXT) -> list[Token]:
    return encode(load_tokenizer(FIXTURES / name / "tokenizer.json"), text)


def test_didnt_is_one_word_for_bert() -> None:
    tokens = model_tokens("bert")
    assert [t.text for t in tokens[2:7]] == ["animal", "didn", "'", "t", "cross"]
    animal, didn, apostrophe, t, cross = tokens[2:7]
    for a, b in ((didn, apostrophe), (apostrophe, t), (didn, t), (t, didn)):
        assert same_word(TEXT, a, b)
    for a, b in ((animal, didn), (t, cross), (tokens[0], tokens[1]), (tokens[-1], tokens[-2])):
        assert not same_word(TEXT, a, b)  # [CLS] and [SEP] are pieces of no word


def test_a_byte_level_token_s_own_space_keeps_two_words_apart() -> None:
    tokens = model_tokens("gpt2")  # " animal" and " did" touch: the space is inside " did"
    assert [t.text for t in tokens[1:4]] == ["Ġanimal", "Ġdid", "n"]
    assert not same_word(TEXT, tokens[1], tokens[2])
    assert same_word(TEXT, tokens[2], tokens[3])


@pytest.mark.parametrize("name", ["bert", "gpt2", "roberta", "llama"])
def test_word_ids_agree_with_same_word(name: str) -> None:
    tokens = model_tokens(name)
    ids = word_ids(TEXT, tokens)
    for i, a in enumerate(tokens):
        for j, b in enumerate(tokens):
            if i != j:
                assert (ids[i] == ids[j]) == same_word(TEXT, a, b), (a, b)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab' \n", min_size=1, max_size=12).flatmap(lambda text: st.tuples(
    st.just(text),
    st.lists(st.tuples(st.integers(0, len(text)), st.integers(0, len(text))), min_size=2,
             max_size=6))))
def test_word_ids_agree_with_same_word_on_any_spans(case) -> None:
    text, spans = case
    tokens = [Token("x", 0, min(s, e), max(s, e)) for s, e in spans]
    ids = word_ids(text, tokens)
    for i, a in enumerate(tokens):
        for j, b in enumerate(tokens):
            if i != j:
                assert (ids[i] == ids[j]) == same_word(text, a, b), (text, a, b)


def test_strongest_links_skip_pieces_of_one_word() -> None:
    doc = ok_json(run("heads", TEXT, "--model", fixture("distilbert"), "--top", "8", "--json"))
    tokens = [Token(t["text"], t["id"], t["start"], t["end"]) for t in doc["tokens"]]
    weights = explain_weights("distilbert")
    links = [p["link"] for row in doc["patterns"] for p in row] + doc["top"]
    for link in links:
        assert not same_word(TEXT, tokens[link["from"]], tokens[link["to"]])
    # each head's link is its largest weight between two different words
    real = [i for i, t in enumerate(tokens) if t.end > t.start]
    skipped = 0
    for row in doc["patterns"]:
        for p in row:
            w = weights[p["layer"], p["head"]]
            apart = [(i, j) for i in real for j in real
                     if i != j and not same_word(TEXT, tokens[i], tokens[j])]
            assert p["link"]["weight"] == pytest.approx(max(w[i, j] for i, j in apart))
            anything = max(w[i, j] for i in real for j in real if i != j)
            skipped += anything > p["link"]["weight"]
    assert skipped >= 1  # in distilbert one head's largest link is inside "didn't"


# ---------------------------------------------------------------- the command line


def explain_weights(name: str) -> dict[tuple[int, int], np.ndarray]:
    doc = ok_json(run("explain", TEXT, "--model", fixture(name), "--layer", "all",
                      "--head", "all", "--json"))
    return {(h["layer"], h["head"]): np.array(h["weights"]) for h in doc["heads"]}


@pytest.mark.parametrize("name", ["bert", "gpt2", "mistral"])
def test_heads_json_baseline_is_recomputed_from_explain(name: str) -> None:
    doc = ok_json(run("heads", TEXT, "--model", fixture(name), "--from", "it", "--to",
                      "animal", "--json"))
    grid, base = np.array(doc["grid"]), np.array(doc["baseline"])
    assert base.shape == grid.shape == (2, 4)
    assert ((base >= 0) & (base <= 1)).all()
    src, dst = doc["from"], doc["to"]
    causal = doc["config"]["causal"]
    assert causal is (name != "bert")
    window = {"mistral": 4}.get(name)  # fixtures README: mistral slides, 4 tokens, both layers
    for (layer, head), w in explain_weights(name).items():
        # a decoder hides "animal" from the words before it, and mistral's window from the
        # words 4 or more after it
        seen = w[dst:dst + window if window else None, dst] if causal else w[:, dst]
        assert base[layer, head] == pytest.approx(seen.mean(), abs=1e-12)
        assert grid[layer, head] == pytest.approx(w[src, dst], abs=1e-12)
    lifts = [t["weight"] - t["baseline"] for t in doc["top"]]
    assert lifts == sorted(lifts, reverse=True)


def test_heads_json_names_the_sinks_of_a_model() -> None:
    text = "I love AI"  # llama (no sliding window) has a head that parks on <s> for this one
    doc = ok_json(run("heads", text, "--model", fixture("llama"), "--json"))
    weights = {(h["layer"], h["head"]): np.array(h["weights"]) for h in ok_json(run(
        "explain", text, "--model", fixture("llama"), "--layer", "all", "--head", "all",
        "--json"))["heads"]}
    sinks = [p for row in doc["patterns"] for p in row if p["pattern"] == "sink"]
    assert sinks
    n = len(doc["tokens"])
    for p in sinks:
        s = p["sink"]
        # row 0 sees only <s>: it has no choice, so it is not counted
        assert doc["tokens"][s["token"]]["text"] == "<s>" and s["of"] == n - 1
        column = weights[p["layer"], p["head"]][:, s["token"]]
        assert s["rows"] == int((column[1:] > 0.5).sum()) and 2 * s["rows"] >= n - 1
        assert s["share"] == pytest.approx(column.mean(), abs=1e-12) == p["score"]
    others = [p for row in doc["patterns"] for p in row if p["pattern"] != "sink"]
    assert all("sink" not in p for p in others)


# ---------------------------------------------------------------- what the screen shows


def test_space_marked() -> None:
    assert space_marked("Ġanimal") == "␣animal"
    assert space_marked("▁New▁York") == "␣New␣York"
    assert space_marked("ĠĠ") == "␣␣"
    assert space_marked("animal") == "animal"
    assert space_marked("\x1bĠx") == "\\x1b␣x"  # escaped first, then marked
    assert SPACE_LEGEND.startswith("␣ marks the space")


@pytest.mark.parametrize(("text", "token", "shown"), [
    (" animal", Token("Ġanimal", 1, 0, 7), ("␣animal", True)),  # gpt2: the span has the space
    ("a animal", Token("Ġanimal", 1, 2, 8), ("␣animal", True)),  # roberta: trimmed offsets
    ("The", Token("the", 1, 0, 3), ("The", False)),  # bert: the text as typed
    ("", Token("[CLS]", 101, 0, 0), ("[CLS]", False)),
    ("a  b", Token("ĠĠ", 1, 1, 3), ("␣␣", True)),  # a token of spaces only
    ("▁x", Token("▁x", 1, 0, 2), ("▁x", False)),  # the text's own ▁ is a character
])
def test_token_label(text: str, token: Token, shown: tuple[str, bool]) -> None:
    assert token_label(text, token) == shown


def gpt2_explanation() -> Explanation:
    return explain_model(TEXT, load_model(fixture("gpt2")), [0, 1], [0, 1, 2, 3])


def with_sink_head(ex: Explanation) -> Explanation:
    """ex with layer 0, head 0 made a sink on the first token ("The")."""
    n = len(ex.tokens)
    w = np.tril(np.full((n, n), 0.1 / max(n - 1, 1)), k=-1)
    w[:, 0] = 0.9
    np.fill_diagonal(w, 0.0)
    w[0, 0] = 1.0
    w = w / w.sum(axis=1, keepdims=True)
    hs = ex.heads[0]
    sink = dataclasses.replace(hs, steps=dataclasses.replace(hs.steps, weights=w))
    return dataclasses.replace(ex, heads=[sink, *ex.heads[1:]])


@pytest.mark.parametrize("width", [60, 80, 100])
def test_the_pair_view_shows_baselines_and_the_space_legend(width: int) -> None:
    ov = overview(gpt2_explanation(), "it", "animal")
    out = render_text(render_heads.overview(ov), width=width)
    assert max(cell_len(line) for line in out.splitlines()) <= width
    flat = " ".join(out.split())
    assert "How much “␣it” attends to “␣animal”" in flat
    assert ("Baseline: the average weight “␣animal” gets from every word the mask lets see "
            "it.") in flat
    assert "ranked by weight minus baseline" in flat
    assert "A head in which every word looks at “␣animal” is not a specific link." in flat
    assert " ".join(SPACE_LEGEND.split()) in flat
    rows = re.findall(r"layer +(\d) head +(\d) +([\d.]+)% +([\d.]+)%", out)
    assert len(rows) == 5
    for layer, head, weight, base in rows:
        i, j = ov.layers.index(int(layer)), ov.heads.index(int(head))
        assert float(weight) == pytest.approx(100 * ov.grid[i, j], abs=0.051)
        assert float(base) == pytest.approx(100 * ov.baseline[i, j], abs=0.051)


def test_the_role_view_shows_the_first_token_role_and_the_sink_at_80_columns() -> None:
    ov = overview(with_sink_head(gpt2_explanation()))
    assert ov.patterns[0][0].pattern == "sink" and ov.patterns[0][0].roles.role == "first"
    out = render_text(render_heads.overview(ov), width=80)
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    lines = out.splitlines()
    grid = lines[lines.index(next(x for x in lines if x.startswith("layer "))) + 1]
    score = int(render_heads.percent_down(ov.patterns[0][0].roles.score))
    assert re.match(rf"\s*0 F\s*{score} ", grid), grid  # layer 0, head 0
    assert "F first" in out and "K" not in grid
    assert "first or special token over 50%): The in 1 head." in " ".join(out.split())
    flat = " ".join(out.split())
    assert "first: every token attends to the first token, [CLS] or BOS where there is one" \
        in flat
    assert "␣" in out and " ".join(SPACE_LEGEND.split()) in flat  # the links show ␣ words


def test_a_score_just_below_40_percent_never_reads_40_in_the_role_grid() -> None:
    from attncli.roles import ROLES, Roles

    ov = overview(gpt2_explanation())
    # layer 0 head 0 made a mixed head whose highest score, first, is 39.87%: the grid beside
    # "A role names a head when its score is 40% or more" shows 39 (rounded down), not 40
    scores: dict[str, float | None] = {**dict.fromkeys(ROLES, 0.1), "first": 0.3987}
    ov.patterns[0][0] = dataclasses.replace(ov.patterns[0][0],
                                            roles=Roles(scores, -1, "mixed", 0.3987))
    ov.patterns[0][1] = dataclasses.replace(ov.patterns[0][1],
                                            roles=Roles(scores, -1, "first", 0.999))
    out = render_text(render_heads.overview(ov), width=80)
    lines = out.splitlines()
    grid = lines[lines.index(next(x for x in lines if x.startswith("layer "))) + 1]
    assert re.match(r"\s*0 ·\s*39 F\s*99 ", grid), grid  # layer 0, heads 0 and 1
    assert "role's score in percent, rounded down" in " ".join(out.split())


def test_no_space_legend_without_a_marked_token() -> None:
    out = ok(run("heads", TEXT, "--model", fixture("bert"), "--from", "it", "--to", "animal"))
    assert "␣" not in out
    out = ok(run("heads", TEXT, "--model", fixture("bert")))
    assert "␣" not in out


@pytest.mark.parametrize("width", [60, 80, 100])
@pytest.mark.parametrize("pair", [True, False])
def test_heads_of_a_byte_level_model_fit_the_terminal(width: int, pair: bool) -> None:
    extra = ("--from", "it", "--to", "animal") if pair else ()
    out = ok(run("heads", TEXT, "--model", fixture("gpt2"), *extra, width=width))
    assert max(cell_len(line) for line in out.splitlines()) <= width
    assert "␣ marks the space a byte-level tokenizer folds into a token" in " ".join(out.split())


def test_a_sink_is_judged_by_the_rows_that_may_see_it() -> None:
    import numpy as np

    from attncli.attention import causal_mask
    from attncli.sinks import attention_sink
    from attncli.tokens import Token

    tokens = [Token("<s>", 1, 0, 0), *(Token(w, i + 2, 2 * i, 2 * i + 1) for i, w in
                                       enumerate("abcde"))]
    n = len(tokens)
    mask = causal_mask(n) | np.tril(np.ones((n, n), dtype=bool), k=-3)  # a window of 3
    weights = np.zeros((n, n))
    for i in range(n):
        seen = [j for j in range(n) if not mask[i, j]]
        weights[i, seen] = 1 / len(seen)
    weights[1, :2], weights[2, :3] = [0.9, 0.1], [0.8, 0.1, 0.1]  # rows 1, 2 park on <s>
    sink = attention_sink(weights, tokens, mask)
    # rows 3..5 cannot see <s>: of the two rows with a choice that can, both park on it
    assert sink is not None and (sink.token, sink.rows, sink.of) == (0, 2, 2)
