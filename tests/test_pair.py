"""The pair view (--from/--to), the focused rows' softmax (--focus), the heads joined (step 6),
the header and the masked marks: by hand-worked numbers, through --json and at 80 columns.

The numbers of "I love AI" with sample_weights/i-love-ai.json can be redone on paper:
I's query is [2, 0, 0, 1], AI's key [1, 2, 1, 1], their score 3, scaled by √4 = 2 to 1.5,
and e^1.5 = 4.4817 out of I's row sum e^1 + e^0.5 + e^1.5 = 8.8487 gives AI 0.5065.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import ANIMAL_TIRED, I_LOVE_AI, invoke, ok, ok_json, refused
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from attncli import weights as wts
from attncli.attention import self_attention
from attncli.explain import Explanation, explain, with_focus, with_pair
from attncli.sums import EXP_SHIFT_ABOVE, pair, row_softmax
from attncli.tokens import word_level
from attncli.weights import files as weightfiles

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "attncli" / "explain.schema.json"
BERT = str(Path(__file__).resolve().parent / "fixtures" / "models" / "bert")
BERT_TEXT = "The animal didn't cross the street because it was tired"
LOVE = ("I love AI", "-w", str(I_LOVE_AI))
ANIMAL = ("The animal was tired", "-w", str(ANIMAL_TIRED))
NARROW = 80
PAIR_KEYS = ["from", "to", "layer", "head", "q", "k", "products", "score", "divisor", "divided",
             "scaled", "masked", "shift", "exp", "exp_sum", "weight", "weights", "contributions",
             "output"]
MODEL_PAIR_KEYS = ["scale", "softcap", "capped", "bias", "alibi_slope", "bias_terms"]
MASKED_PAIR_KEYS = ["mask_reason"]  # only when the mask hides the key
FOCUS_KEYS = ["layer", "head", "query", "scaled", "shift", "exp", "sum", "weights"]
EXACT = 1e-12
ZERO = re.compile(r"(?<![\d.])0\.0%")  # a bar's 0.0% (and not the end of 100.0%)


def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def validate(doc: dict) -> None:
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)


def explain_json(*args: str) -> dict:
    doc = ok_json(invoke("explain", *args, "--json"))
    validate(doc)
    return doc


def screen(*args: str) -> str:
    """`attn explain ARGS` at 80 columns; no line of it may be wider."""
    out = ok(invoke("explain", *args, width=NARROW))
    too_wide = [line for line in out.splitlines() if cell_len(line) > NARROW]
    assert not too_wide, too_wide
    return out


def flat(text: str) -> str:
    """The text with every run of spaces and line breaks made one space: what wrapping moved."""
    return " ".join(text.split())


def cells(out: str, first: str) -> list[str] | None:
    """The cells of the first table row labelled `first` (a label is padded by 2+ spaces)."""
    for line in out.splitlines():
        if line.startswith(first + "  "):
            return line[len(first):].split()
    return None


def love_ai() -> Explanation:
    return explain("I love AI", word_level("I love AI"), weightfiles.load(I_LOVE_AI), seed=0)


# ---------------------------------------------------------------- (a) I → AI by hand


def test_the_pair_i_to_ai_worked_by_hand() -> None:
    ex = love_ai()
    p = pair(ex.heads[0], 0, 2)
    assert (p.query, p.key, p.layer, p.head) == (0, 2, 0, 0)
    assert p.q.tolist() == [2, 0, 0, 1]
    assert p.k.tolist() == [1, 2, 1, 1]
    assert p.products.tolist() == [2, 0, 0, 1]
    assert p.score == 3 and p.divisor == 2 and p.scaled == 1.5
    assert p.masked is False and p.row.shift == 0
    assert p.row.exps[2] == pytest.approx(4.4817, abs=5e-5)
    assert p.row.exps[2] == math.exp(1.5)
    assert p.row.total == pytest.approx(8.8487, abs=5e-5)
    assert p.row.total == pytest.approx(math.exp(1) + math.exp(0.5) + math.exp(1.5), abs=EXACT)
    assert p.weight == pytest.approx(0.5065, abs=5e-5)
    assert p.weight == ex.heads[0].steps.weights[0, 2]
    np.testing.assert_allclose(p.row.weights, ex.heads[0].steps.weights[0], rtol=0, atol=EXACT)


def test_with_pair_keeps_everything_else_and_adds_the_pair() -> None:
    ex = love_ai()
    both = with_pair(ex, 0, 2)
    assert ex.pair is None  # the explanation itself is left as it was
    assert both.pair is not None and (both.pair.query, both.pair.key) == (0, 2)
    assert both.heads is ex.heads and both.config == ex.config and both.text == ex.text


def test_the_pair_in_json_holds_the_hand_worked_numbers() -> None:
    doc = explain_json(*LOVE, "--from", "I", "--to", "AI")
    p = doc["pair"]
    assert list(p) == PAIR_KEYS
    assert (p["from"], p["to"], p["layer"], p["head"]) == (0, 2, 0, 0)
    assert p["q"] == [2, 0, 0, 1] and p["k"] == [1, 2, 1, 1]
    assert p["products"] == [2, 0, 0, 1]
    assert p["score"] == 3 and p["divisor"] == 2 and p["scaled"] == 1.5
    assert p["masked"] is False and p["shift"] == 0
    assert p["exp"] == pytest.approx([math.exp(1), math.exp(0.5), math.exp(1.5)], abs=EXACT)
    assert p["exp"][2] == pytest.approx(4.4817, abs=5e-5)
    assert p["exp_sum"] == pytest.approx(8.8487, abs=5e-5)
    assert p["weight"] == pytest.approx(0.5065, abs=5e-5)
    head = doc["heads"][0]
    assert p["score"] == head["scores"][0][2] and p["scaled"] == head["scaled"][0][2]
    assert p["weight"] == head["weights"][0][2]
    assert p["weights"] == pytest.approx(head["weights"][0], abs=EXACT)
    assert p["output"] == head["output"][0]
    assert "pair" not in explain_json(*LOVE)  # only with --from/--to


def test_the_pair_i_to_ai_on_screen() -> None:
    out = screen(*LOVE, "--from", "I", "--to", "AI")
    assert "The pair “I” → “AI”" in out
    # the q · k table: one row per dimension, then the sum
    assert cells(out, "dim 0") == ["2.00", "1.00", "2.00"]
    assert cells(out, "dim 1") == ["0.00", "2.00", "0.00"]
    assert cells(out, "dim 2") == ["0.00", "1.00", "0.00"]
    assert cells(out, "dim 3") == ["1.00", "1.00", "1.00"]
    assert cells(out, "sum = score") == ["3.00"]
    assert "3.0000 / √4 = 3.0000 / 2.0000 = 1.5000" in out
    # the softmax of I's row, term by term
    assert cells(out, "AI") == ["1.5000", "4.4817", "0.5065"]
    assert cells(out, "sum") == ["8.8487", "1.0000"]
    assert "weight of “AI” = 4.4817 / 8.8487 = 0.5065" in out
    assert "Step 5 · the output of “I”" in out
    # the pair view replaces the default sections
    assert "Step 1 · Embeddings X" not in out


# ---------------------------------------------------------------- (b) weight × value


@pytest.mark.parametrize(("args", "src", "dst"), [
    (LOVE, "I", "AI"),
    (ANIMAL, "tired", "animal"),
    (("the cat sat on the mat", "--seed", "5", "--heads", "2"), "mat", "cat"),
    (("the cat sat on the mat", "--causal"), "sat", "the"),
])
def test_contributions_are_weight_times_value_and_add_up_to_the_output(
        args: tuple[str, ...], src: str, dst: str) -> None:
    doc = explain_json(*args, "--from", src, "--to", dst)
    p = doc["pair"]
    head = next(h for h in doc["heads"] if (h["layer"], h["head"]) == (p["layer"], p["head"]))
    v = np.array(head["v"])  # (n, d_v)
    weights = np.array(head["weights"][p["from"]])  # (n,)
    contributions = np.array(p["contributions"])
    assert contributions.shape == v.shape
    np.testing.assert_allclose(contributions, weights[:, None] * v, rtol=0, atol=EXACT)
    np.testing.assert_allclose(contributions.sum(axis=0), p["output"], rtol=0, atol=EXACT)
    np.testing.assert_allclose(p["output"], head["output"][p["from"]], rtol=0, atol=EXACT)


def test_i_to_ai_contributions_by_hand() -> None:
    p = explain_json(*LOVE, "--from", "I", "--to", "AI")["pair"]
    w = p["weights"]  # V is the identity's rows: I = [1, 0], love = [0, 1], AI = [1, 1]
    np.testing.assert_allclose(p["contributions"], [[w[0], 0], [0, w[1]], [w[2], w[2]]],
                               rtol=0, atol=EXACT)
    assert p["output"] == pytest.approx([w[0] + w[2], w[1] + w[2]], abs=EXACT)
    assert p["output"] == pytest.approx([0.813676277, 0.692804114], abs=1e-9)


# ---------------------------------------------------------------- (c) a masked pair


def test_a_masked_pair_in_json() -> None:
    doc = explain_json(*LOVE, "--causal", "--from", "I", "--to", "AI")
    p = doc["pair"]
    assert p["masked"] is True and p["scaled"] is None
    assert p["weight"] == 0 and p["weights"] == [1, 0, 0]
    assert p["score"] == 3 and p["products"] == [2, 0, 0, 1]  # the score itself is not masked
    assert p["exp"] == [math.exp(1), 0, 0] and p["exp_sum"] == math.exp(1)
    assert p["contributions"][1:] == [[0, 0], [0, 0]]
    assert p["output"] == [1, 0]


def test_a_masked_pair_through_explain_pair() -> None:
    ex = explain("I love AI", word_level("I love AI"), weightfiles.load(I_LOVE_AI), seed=0,
                 causal=True)
    p = pair(ex.heads[0], 1, 2)  # love → AI: AI comes later
    assert p.masked and p.scaled is None and p.weight == 0
    assert p.row.masked.tolist() == [False, False, True]
    assert p.row.exps[2] == 0
    assert p.contributions[2].tolist() == [0, 0]
    visible = pair(ex.heads[0], 2, 1)  # AI → love: love comes earlier
    assert not visible.masked and visible.scaled == 1.5


def test_a_masked_pair_on_screen_says_it_is_masked() -> None:
    out = screen(*LOVE, "--causal", "--from", "I", "--to", "AI")
    assert "Step 4a · masked" in out
    text = flat(out)
    assert "the causal mask hides later tokens" in text
    assert "“AI” gets a weight of exactly 0" in text
    assert "“AI” is masked, so it adds nothing." in text
    assert "weight of “AI” =" not in out  # no division for a key that is not in the sum
    assert "— masked: a later token, hidden by the causal mask; left out of the sum." in out
    assert cells(out, "AI") == ["—", "—", "—"]  # I's row of the softmax by hand
    assert "1.5000" not in out  # nothing is scaled for a masked pair
    assert not ZERO.search(out)


# ---------------------------------------------------------------- (d) named dimensions


def test_the_named_features_show_in_the_pair_view() -> None:
    out = screen(*ANIMAL, "--from", "tired", "--to", "animal")
    assert "The pair “tired” → “animal”" in out
    assert "(the weights file names each dimension)" in flat(out)
    # q·k per named dimension: tired looks for a living noun, animal offers one
    assert cells(out, "noun") == ["1.80", "1.00", "1.80"]
    assert cells(out, "alive") == ["1.60", "1.00", "1.60"]
    assert cells(out, "state") == ["0.00", "0.00", "0.00"]
    assert cells(out, "function word") == ["0.00", "0.00", "0.00"]
    assert cells(out, "sum = score") == ["3.40"]
    assert "dim 0" not in out
    assert "3.4000 / √4 = 3.4000 / 2.0000 = 1.7000" in out
    assert "weight of “animal” = 5.4739 / 8.4739 = 0.6460" in out
    assert "“animal” adds 0.6460 × its value row." in flat(out)
    # the value columns carry their names too
    for name in ("thing", "alive", "quality", "grammar"):
        assert name in out
    assert cells(out, "sum = output") == ["0.646", "0.646", "0.118", "0.236"]


def test_the_weights_file_names_go_into_the_json() -> None:
    doc = explain_json(*ANIMAL, "--from", "tired", "--to", "animal")
    assert doc["qk_dims"] == ["noun", "alive", "state", "function word"]
    assert doc["v_dims"] == ["thing", "alive", "quality", "grammar"]
    assert list(doc).index("qk_dims") < list(doc).index("heads")
    assert doc["pair"]["weight"] == pytest.approx(0.6460, abs=5e-5)
    assert f"{100 * doc['pair']['weight']:.1f}%" == "64.6%"
    assert "qk_dims" not in explain_json(*LOVE) and "v_dims" not in explain_json(*LOVE)


def test_the_sample_file_names_each_key_once() -> None:
    """A JSON object with a key twice is one that strict parsers refuse and that says the
    same thing twice: each sample weights file gives every key once."""
    for path in (ANIMAL_TIRED, I_LOVE_AI):
        def no_repeats(pairs: list, path: Path = path) -> dict:
            keys = [k for k, _ in pairs]
            repeated = sorted({k for k in keys if keys.count(k) > 1})
            assert not repeated, f"{path.name} gives {repeated} more than once"
            return dict(pairs)

        json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_repeats)


# ---------------------------------------------------------------- (e) --focus


def test_focus_tired_works_out_its_softmax_in_json() -> None:
    doc = explain_json(*ANIMAL, "--focus", "tired")
    (row,) = doc["focus"]
    assert list(row) == FOCUS_KEYS
    assert (row["layer"], row["head"], row["query"]) == (0, 0, 3)
    assert row["scaled"] == pytest.approx([0, 1.7, 0, 0], abs=EXACT)
    assert row["shift"] == 0
    assert row["exp"] == pytest.approx([1, math.exp(1.7), 1, 1], abs=EXACT)
    assert row["exp"][1] == pytest.approx(5.4739, abs=5e-5)
    assert row["sum"] == pytest.approx(8.4739, abs=5e-5)
    assert row["weights"][1] == pytest.approx(0.6460, abs=5e-5)
    assert row["weights"] == pytest.approx(doc["heads"][0]["weights"][3], abs=EXACT)
    assert "focus" not in explain_json(*ANIMAL)


def test_focus_tired_on_screen() -> None:
    out = screen(*ANIMAL, "--focus", "tired")
    assert "softmax of “tired”'s row" in out
    assert cells(out, "animal") == ["1.7000", "5.4739", "0.6460"]
    assert cells(out, "sum") == ["8.4739", "1.0000"]
    assert "64.6%" in out


def test_focus_has_one_row_per_head_and_occurrence_with_masked_entries_null() -> None:
    doc = explain_json("the cat saw the dog", "--heads", "2", "--causal", "--focus", "the")
    assert [(r["head"], r["query"]) for r in doc["focus"]] == [(0, 0), (0, 3), (1, 0), (1, 3)]
    for row in doc["focus"]:
        head = doc["heads"][row["head"]]
        assert row["scaled"] == head["scaled"][row["query"]]
        assert row["scaled"][row["query"] + 1:] == [None] * (4 - row["query"])
        assert row["exp"][row["query"] + 1:] == [0] * (4 - row["query"])
        assert row["weights"] == pytest.approx(head["weights"][row["query"]], abs=EXACT)
        assert sum(row["exp"]) == pytest.approx(row["sum"], abs=EXACT)


def test_a_row_past_ten_is_shifted_by_its_largest_entry() -> None:
    x = np.array([[5.0, 0.0], [0.0, 1.0]])
    s = self_attention(x, np.array([[1.0], [0.0]]), np.array([[1.0], [0.0]]), np.eye(2)[:, :1])
    row = row_softmax(s, 0)  # scaled row [25, 0]: past EXP_SHIFT_ABOVE
    assert row.scaled.tolist() == [25, 0] and 25 > EXP_SHIFT_ABOVE
    assert row.shift == 25
    assert row.exps.tolist() == [1, math.exp(-25)]
    np.testing.assert_allclose(row.weights, s.weights[0], rtol=0, atol=EXACT)
    low = row_softmax(s, 1)  # scaled row [0, 0]: left as it is
    assert low.shift == 0 and low.exps.tolist() == [1, 1]


@pytest.mark.parametrize(("largest", "shifted"), [(-1.0, False), (-2.0, False), (-2.5, True),
                                                (-7.6, True), (10.0, False), (10.5, True)])
def test_a_row_is_shifted_when_its_largest_e_to_the_x_would_not_read(
        largest: float, shifted: bool) -> None:
    """e^-7.6 is 0.0005: at four decimals a row of such numbers reads "0.0005 / 0.0005 =
    0.8300". Below e^-2 (and past e^10) each entry is moved by the row's largest first."""
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    w_q, w_k = np.array([[largest], [0.0]]), np.array([[1.0], [1.0]])  # d_k 1: ÷ 1
    s = self_attention(x, w_q, w_k, np.eye(2)[:, :1])
    row = row_softmax(s, 0)  # the first token's q is [largest], every k is [1]
    assert row.scaled.tolist() == [largest, largest]
    assert (row.shift != 0) == shifted
    assert row.exps.max() == pytest.approx(1.0 if shifted else math.exp(largest))


def test_a_row_far_below_zero_still_adds_up(tmp_path: Path) -> None:
    """Every score of a's row is −1600, so every weight is 0.5. Worked out by hand without
    a shift, each e^−1600 underflows to 0 and the row sums to 0: the softmax by hand must
    still give the weights the head used (shifting by the row's largest entry does)."""
    path = tmp_path / "negative.json"
    path.write_text(json.dumps({"embeddings": {"a": [1], "b": [1]}, "w_q": [[40]],
                                "w_k": [[-40]], "w_v": [[1]]}))
    doc = explain_json("a b", "-w", str(path), "--from", "a", "--to", "b")
    assert doc["heads"][0]["weights"] == [[0.5, 0.5], [0.5, 0.5]]
    p = doc["pair"]
    assert p["scaled"] == -1600 and p["weight"] == 0.5
    assert p["exp_sum"] > 0
    assert p["weights"] == pytest.approx([0.5, 0.5], abs=EXACT)
    assert [e / p["exp_sum"] for e in p["exp"]] == pytest.approx([0.5, 0.5], abs=EXACT)


# ---------------------------------------------------------------- (f) the heads joined


def check_joined(doc: dict) -> None:
    """attention_output recomputed from concat and w_o (+ b_o), and the shapes of all three."""
    n, heads, d_v = len(doc["tokens"]), doc["config"]["heads"], doc["config"]["d_v"]
    d_model = doc["config"]["d_model"]
    concat, w_o = np.array(doc["concat"]), np.array(doc["w_o"])
    assert concat.shape == (n, heads * d_v)
    assert w_o.shape == (heads * d_v, d_model)
    expected = concat @ w_o + (np.array(doc["b_o"]) if "b_o" in doc else 0)
    out = np.array(doc["attention_output"])
    assert out.shape == (n, d_model)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_seeded_heads_are_joined_through_a_seeded_w_o() -> None:
    doc = explain_json("the cat sat on the mat", "--heads", "3", "--d-model", "6", "--seed", "4")
    check_joined(doc)
    assert doc["joined_layer"] == 0
    assert "b_o" not in doc and "notes" not in doc
    assert doc["w_o"] == wts.seeded_w_o(4, 3 * 2, 6).tolist()
    assert list(doc)[list(doc).index("heads") + 1:] == [
        "joined_layer", "concat", "w_o", "attention_output"]


def test_one_head_is_not_joined() -> None:
    doc = explain_json("the cat sat")
    for key in ("joined_layer", "concat", "w_o", "b_o", "attention_output"):
        assert key not in doc


def test_concat_holds_each_heads_output_side_by_side() -> None:
    doc = explain_json("the cat sat on the mat", "--heads", "3", "--d-model", "6")
    d_v = doc["config"]["d_v"]
    for h, head in enumerate(doc["heads"]):
        assert head["head"] == h
        assert [row[h * d_v:(h + 1) * d_v] for row in doc["concat"]] == head["output"]
    expected = np.concatenate([np.array(h["output"]) for h in doc["heads"]], axis=1)
    assert doc["concat"] == expected.tolist()


def test_concat_holds_every_head_even_when_one_is_shown() -> None:
    everything = explain_json("the cat sat", "--heads", "2")
    one = explain_json("the cat sat", "--heads", "2", "--head", "1")
    for key in ("concat", "w_o", "attention_output"):
        assert one[key] == everything[key], key
    d_v = one["config"]["d_v"]
    assert [row[d_v:] for row in one["concat"]] == one["heads"][0]["output"]


def test_a_weights_file_joins_through_its_own_w_o_and_b_o(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    assert invoke("weights", "init", "--heads", "2", "--seed", "2", "-o", str(path)).exit_code == 0
    raw = json.loads(path.read_text())
    d_v, d_model = len(raw["heads"][0]["w_v"][0]), len(raw["heads"][0]["w_v"])
    w_o = [[round((r - c) / 10, 1) for c in range(d_model)] for r in range(2 * d_v)]
    b_o = [0.5 * c for c in range(d_model)]
    raw.update(w_o=w_o, b_o=b_o)
    path.write_text(json.dumps(raw))
    doc = explain_json("the cat sat", "-w", str(path))
    check_joined(doc)
    assert doc["w_o"] == w_o and doc["b_o"] == b_o
    assert list(doc).index("b_o") == list(doc).index("w_o") + 1
    assert not any("w_o" in note for note in doc.get("notes", []))
    # without a w_o the heads are joined through a seeded one, and a note says so
    del raw["w_o"], raw["b_o"]
    path.write_text(json.dumps(raw))
    doc = explain_json("the cat sat", "-w", str(path), "--seed", "9")
    check_joined(doc)
    assert doc["w_o"] == wts.seeded_w_o(9, 2 * d_v, d_model).tolist()
    assert "b_o" not in doc
    assert f"{path} has no w_o, so the W_O that joins the heads is seeded (seed 9)." in doc[
        "notes"]


@pytest.fixture(scope="module")
def bert_doc() -> dict:
    return explain_json(BERT_TEXT, "--model", BERT, "--layer", "0", "--head", "all")


def test_a_model_joins_its_heads_through_its_own_w_o(bert_doc: dict) -> None:
    doc = bert_doc
    check_joined(doc)
    assert doc["joined_layer"] == 0
    assert len(doc["b_o"]) == doc["config"]["d_model"]  # BERT's output projection has a bias
    d_v = doc["config"]["d_v"]
    for head in doc["heads"]:
        h = head["head"]
        assert [row[h * d_v:(h + 1) * d_v] for row in doc["concat"]] == head["output"]


def test_a_model_joins_the_last_layer_shown() -> None:
    doc = explain_json(BERT_TEXT, "--model", BERT, "--layer", "all", "--show", "joined")
    check_joined(doc)
    assert doc["joined_layer"] == 1 == doc["config"]["layers"][-1]
    assert doc["config"]["n_layers"] == 2 and doc["config"]["head_indices"] == [0]
    # one head's --json stays small: no W_O unless asked for (--head all or --show joined)
    assert "w_o" not in explain_json(BERT_TEXT, "--model", BERT)


# ---------------------------------------------------------------- (g) the schema


def test_the_shipped_schema_is_valid_and_describes_every_new_key() -> None:
    s = schema()
    jsonschema.Draft202012Validator.check_schema(s)
    top = s["properties"]
    for key in ("pair", "focus", "joined_layer", "concat", "w_o", "b_o", "attention_output",
                "qk_dims", "v_dims"):
        assert top[key].get("description"), key
    config = top["config"]["properties"]
    for key in ("head_indices", "description", "n_layers"):
        assert config[key].get("description"), key
    assert sorted(top["pair"]["required"]) == sorted(PAIR_KEYS)
    assert set(top["pair"]["properties"]) == set(PAIR_KEYS + MODEL_PAIR_KEYS + MASKED_PAIR_KEYS)
    assert sorted(top["focus"]["items"]["required"]) == sorted(FOCUS_KEYS)
    assert "additionalProperties" not in json.dumps(s)  # documents may carry more keys


@pytest.mark.parametrize("args", [
    (*LOVE, "--from", "I", "--to", "AI"),
    (*LOVE, "--causal", "--from", "I", "--to", "AI"),
    (*ANIMAL, "--focus", "tired"),
    (*ANIMAL, "--from", "tired", "--to", "animal"),
    ("the cat sat on the mat", "--heads", "2", "--causal", "--focus", "the"),
    ("the cat sat", "--heads", "3", "--d-model", "6", "--head", "2", "--from", "cat", "--to",
     "sat"),
])
def test_new_keys_validate_against_the_shipped_schema(args: tuple[str, ...]) -> None:
    explain_json(*args)  # explain_json validates


def test_a_model_document_with_every_new_key_validates() -> None:
    doc = explain_json(BERT_TEXT, "--model", BERT, "--from", "tired", "--to", "animal",
                       "--show", "joined")
    assert {"pair", "joined_layer", "concat", "w_o", "b_o", "attention_output"} <= set(doc)
    assert doc["config"]["n_layers"] == 2
    assert doc["pair"]["layer"] == 1 and doc["pair"]["head"] == 0


def test_a_file_document_has_its_description_in_config() -> None:
    doc = explain_json(*ANIMAL)
    assert doc["config"]["description"] == json.loads(ANIMAL_TIRED.read_text())["description"]
    assert doc["config"]["head_indices"] == [0]
    assert "n_layers" not in doc["config"]
    assert "description" not in explain_json("a b")["config"]


def test_the_schema_refuses_broken_new_keys() -> None:
    good = explain_json(*LOVE, "--focus", "I", "--causal")
    joined = explain_json("the cat sat", "--heads", "2")
    paired = explain_json(*LOVE, "--from", "I", "--to", "AI")
    broken = [
        {**paired, "pair": {k: v for k, v in paired["pair"].items() if k != "score"}},
        {**paired, "pair": {**paired["pair"], "masked": "no"}},
        {**paired, "pair": {**paired["pair"], "from": -1}},
        {**good, "focus": [{k: v for k, v in good["focus"][0].items() if k != "sum"}]},
        {**good, "focus": {"query": 0}},
        {k: v for k, v in joined.items() if k != "w_o"},  # concat without the W_O it went through
        {**joined, "concat": [["x"]]},
        {**paired, "b_o": [0.0, 0.0]},  # a bias with no W_O
        {**joined, "joined_layer": -1},
        {**paired, "qk_dims": [1, 2]},
        {**paired, "config": {**paired["config"], "head_indices": [-1]}},
        {**paired, "config": {**paired["config"], "n_layers": 0}},
        {**paired, "config": {**paired["config"], "description": 3}},
    ]
    for doc in broken:
        with pytest.raises(jsonschema.ValidationError):
            validate(doc)


# ---------------------------------------------------------------- (h) the view at 80 columns


def test_the_header_of_random_weights_says_random_and_the_seed() -> None:
    out = screen("the cat sat", "--seed", "7", "--show", "tokens")
    lines = out.splitlines()
    assert lines[0] == "Input “the cat sat” · 3 tokens (word-level tokenizer)"
    text = flat(out)
    assert "Weights random (seeded with 7): nothing was learned" in text
    assert "2 heads" not in text
    two = flat(screen("the cat sat", "--heads", "2", "--show", "tokens"))
    assert "Weights random (seeded with 0)" in two
    assert "2 heads, numbered 0 to 1; showing 0, 1" in two


def test_the_header_of_a_file_gives_its_path_and_description() -> None:
    text = flat(screen(*ANIMAL, "--show", "tokens"))
    assert text.startswith("Input “The animal was tired” · 4 tokens (word-level tokenizer)")
    assert (f"Weights from {ANIMAL_TIRED}: Hand-designed weights for \"The animal was tired\" "
            "(and a few more words).") in text
    assert "Each embedding dimension" not in text  # only the first sentence
    assert "random" not in text


def test_the_header_of_a_model_gives_name_architecture_layer_and_head() -> None:
    text = flat(screen(BERT_TEXT, "--model", BERT, "--layer", "0", "--head", "2", "--show",
                       "tokens"))
    assert "14 tokens (the model's own tokenizer)" in text
    assert f"Model {BERT} · bert, 2 layers × 4 heads" in text
    assert "showing layer 0, head 2 (numbered from 0)" in text
    assert "random" not in text


def test_the_pair_view_of_a_model_at_80_columns() -> None:
    out = screen(BERT_TEXT, "--model", BERT, "--from", "tired", "--to", "animal")
    doc = explain_json(BERT_TEXT, "--model", BERT, "--from", "tired", "--to", "animal")
    assert "The pair “tired” → “animal” · layer 1, head 0" in out
    assert f"weight of “animal” = {doc['pair']['exp'][doc['pair']['to']]:.4f} / " \
           f"{doc['pair']['exp_sum']:.4f} = {doc['pair']['weight']:.4f}" in out
    assert cells(out, "sum = score") == [f"{doc['pair']['score']:.2f}"]


def test_masked_entries_show_as_dashes_with_their_legend() -> None:
    out = screen(*LOVE, "--causal", "--show", "scaled,softmax,bars")
    assert cells(out, "I") == ["1.00", "—", "—"]  # scaled, I's row
    assert cells(out, "love") == ["0.50", "1.00", "—"]
    assert ["1.00*", "—", "—"] in [line.split()[1:] for line in out.splitlines()
                                   if line.startswith("I ")]  # weights, I's row
    legend = ("— masked: a later token, hidden by the causal mask, so it gets no weight at all "
              "(not a weight of 0 it chose).")
    assert flat(out).count(legend) == 2  # under the scaled matrix and under the bars
    bars = [line for line in out.splitlines() if "attends to" in line or "█" in line
            or line.rstrip().endswith("—")]
    assert any(re.search(r"love\s+—", line) for line in bars)
    assert any(re.search(r"AI\s+—", line) for line in bars)
    assert not ZERO.search(out)  # a hidden key is not a weight of 0 the query chose
    assert "-inf" not in out


@pytest.mark.parametrize("args", [
    (*ANIMAL, "--causal"),
    ("the cat sat on the mat", "--causal", "--heads", "2"),
])
def test_a_masked_key_never_gets_a_percentage(args: tuple[str, ...]) -> None:
    doc = explain_json(*args)
    out = screen(*args, "--show", "bars")
    n, heads = len(doc["tokens"]), len(doc["heads"])
    # one bar per key per chart: a percentage for each key a query sees (on and below the
    # diagonal), a — for each key the mask hides (above it), and one legend line per head
    assert out.count("%") == heads * n * (n + 1) // 2
    assert out.count("—") == heads * (n * (n - 1) // 2 + 1)
    assert not ZERO.search(out)


def test_a_masked_heat_map_marks_hidden_cells_with_a_dot() -> None:
    out = screen(*LOVE, "--causal", "--heatmap", "--show", "scaled,softmax")
    assert "█··" in out  # I sees only itself
    assert "· masked: a later token, hidden by the causal mask" in flat(out)


def test_the_joined_heads_section() -> None:
    doc = explain_json("the cat sat", "--heads", "2")
    out = screen("the cat sat", "--heads", "2", "--show", "joined")
    assert "The heads joined" in out
    assert "Step 6 · Attention output = concat · W_O" in out
    assert "b_O" not in out
    text = flat(out)
    assert "Each of the 2 heads gave every token an output of 4 numbers." in text
    assert "concat (3×8)" in out and "W_O (8×8)" in out and "Attention output (3×8)" in out
    assert "h0.v0" in out and "h1.v3" in out

    def shown(v: float) -> str:
        s = f"{v:.2f}"
        return s[1:] if s.startswith("-") and float(s) == 0 else s

    rows = [line.split() for line in out.splitlines() if line.startswith("the ")]
    assert [shown(v) for v in doc["concat"][0]] in [r[1:] for r in rows]
    assert [shown(v) for v in doc["attention_output"][0]] in [r[1:] for r in rows]
    assert "The heads joined" not in screen("the cat sat", "--heads", "2", "--show", "output")


def test_the_joined_heads_section_shows_a_files_b_o(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    assert invoke("weights", "init", "--heads", "2", "-o", str(path)).exit_code == 0
    raw = json.loads(path.read_text())
    raw["b_o"] = [1.0] * len(raw["heads"][0]["w_v"])
    path.write_text(json.dumps(raw))
    out = screen("the cat sat", "-w", str(path), "--show", "joined")
    assert "Step 6 · Attention output = concat · W_O + b_O" in out
    assert "b_O (1×8)" in out
    assert cells(out, "bias") == ["1.00"] * 8


# ---------------------------------------------------------------- (i) --head 1


def test_head_1_of_two_seeded_heads_shows_only_head_1() -> None:
    out = screen("the cat sat", "--heads", "2", "--head", "1")
    assert "Head 1 (of 2: 0 to 1)" in out
    assert "Head 0 (of 2" not in out
    assert "2 heads, numbered 0 to 1; showing 1" in flat(out)
    doc = explain_json("the cat sat", "--heads", "2", "--head", "1")
    assert doc["config"]["head_indices"] == [1]
    assert doc["config"]["heads"] == 2
    assert [(h["layer"], h["head"]) for h in doc["heads"]] == [(0, 1)]
    both = explain_json("the cat sat", "--heads", "2")
    assert both["config"]["head_indices"] == [0, 1]
    assert doc["heads"][0] == both["heads"][1]


def test_head_1_is_the_head_of_the_pair_and_of_the_focus() -> None:
    doc = explain_json("the cat sat", "--heads", "2", "--head", "1", "--from", "cat", "--to",
                       "sat")
    assert doc["pair"]["head"] == 1
    assert doc["pair"]["weight"] == doc["heads"][0]["weights"][1][2]
    assert "· head 1" in screen("the cat sat", "--heads", "2", "--head", "1", "--from", "cat",
                                "--to", "sat")
    focus = explain_json("the cat sat", "--heads", "2", "--head", "1", "--focus", "cat")
    assert [(r["head"], r["query"]) for r in focus["focus"]] == [(1, 1)]


def test_head_works_with_a_weights_file_too() -> None:
    doc = explain_json(*LOVE, "--head", "0")
    assert doc["config"]["head_indices"] == [0]
    refused(invoke("explain", *LOVE, "--head", "1"), "head 1 is out of range")


# ---------------------------------------------------------------- (j) a property


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), d_k=st.integers(1, 6),
       heads=st.integers(1, 3), causal=st.booleans(), data=st.data())
def test_a_pairs_sums_agree_with_the_matrices(seed: int, n: int, d_k: int, heads: int,
                                              causal: bool, data) -> None:
    text = " ".join(f"w{i % 4}" for i in range(n))
    ws = wts.seeded(seed, 6, d_k, 3, heads)
    ex = explain(text, word_level(text), ws, seed=seed, causal=causal)
    hs = ex.heads[data.draw(st.integers(0, heads - 1), label="head")]
    src = data.draw(st.integers(0, n - 1), label="src")
    dst = data.draw(st.integers(0, n - 1), label="dst")
    s = hs.steps
    p = pair(hs, src, dst)
    scale = max(1.0, float(np.abs(p.products).sum()))
    assert abs(float(p.products.sum()) - s.scores[src, dst]) <= 1e-12 * scale
    assert p.score == s.scores[src, dst]
    np.testing.assert_allclose(p.row.exps / p.row.total, s.weights[src], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.row.weights, s.weights[src], rtol=0, atol=1e-12)
    assert p.masked == (causal and dst > src)
    assert (p.scaled is None) == p.masked
    assert p.weight == s.weights[src, dst]
    if p.masked:
        assert p.weight == 0 and p.row.exps[dst] == 0
    np.testing.assert_allclose(p.contributions.sum(axis=0), s.output[src], rtol=0, atol=1e-12)
    focused = with_focus(ex, [src]).focus_rows[hs.layer, hs.head][0]
    np.testing.assert_array_equal(focused.weights, p.row.weights)


# ---------------------------------------------------------------- bad inputs


def test_from_without_to_is_refused() -> None:
    refused(invoke("explain", *LOVE, "--from", "I"), "--from and --to go together")
    refused(invoke("explain", *LOVE, "--to", "AI"), "--from and --to go together")
    refused(invoke("explain", *LOVE, "--from", "I", "--json"), "--from and --to go together")


def test_focus_with_from_is_refused() -> None:
    refused(invoke("explain", *LOVE, "--from", "I", "--to", "AI", "--focus", "love"),
            "--focus cannot be combined with --from/--to")


@pytest.mark.parametrize(("option", "args"), [
    ("--from", ("--from", "zebra", "--to", "AI")),
    ("--to", ("--from", "I", "--to", "zebra")),
])
def test_a_word_not_in_the_text_is_refused(option: str, args: tuple[str, ...]) -> None:
    refused(invoke("explain", *LOVE, *args), f"{option} 'zebra'", "not one of the tokens",
            "I, love, AI")
    refused(invoke("explain", *LOVE, *args, "--json"), f"{option} 'zebra'")


def test_an_occurrence_or_index_that_is_not_there_is_refused() -> None:
    refused(invoke("explain", *LOVE, "--from", "I#2", "--to", "AI"), "--from 'I#2'")
    refused(invoke("explain", *LOVE, "--from", "I", "--to", "#7"), "--to '#7'")


def test_a_model_with_its_own_scale_and_a_soft_cap_shows_each_step_of_4a() -> None:
    # Gemma 2 multiplies the scores by query_pre_attn_scalar^-0.5 (here 0.25) and soft-caps
    # them at 10: the pair's step 4a must show both, with numbers that follow from the score
    from attncli.models import load_model
    from attncli.render.pair import scale_chain

    model = load_model(str(Path(__file__).parent / "fixtures" / "models" / "gemma2"))
    ids = [t.id for t in model.tokens("the animal was tired because it walked")]
    (hs,) = model.attention(ids, [0], [0])
    pr = pair(hs, 3, 1)
    assert pr.scale == 0.25 and pr.softcap == 10.0 and pr.bias is None
    assert pr.divided == pytest.approx(pr.score * 0.25)
    assert pr.capped == pytest.approx(10.0 * math.tanh(pr.divided / 10.0))
    assert pr.scaled == pr.capped  # what the softmax sees: no position bias here
    score, divided, capped = f"{pr.score:.4f}", f"{pr.divided:.4f}", f"{pr.capped:.4f}"
    assert scale_chain(pr, 2) == (f"{score} × 0.25 = {divided}; 10 · tanh({divided} / 10) = "
                                  f"{capped}")
    assert "√" not in scale_chain(pr, 2)  # this model does not divide by √d_k
    assert scale_chain(pr, 2, brief=True).startswith(f"× 0.25 = {pr.divided:.2f}; 10 · tanh(")


def test_the_plain_scale_chain_divides_by_root_d_k() -> None:
    from attncli.render.pair import scale_chain

    p = pair(love_ai().heads[0], 0, 2)  # I → AI: score 3, √4 = 2
    assert p.scale is None and p.softcap is None and p.capped is None and p.bias is None
    assert scale_chain(p, 2) == "3.0000 / √4 = 3.0000 / 2.0000 = 1.5000"
    assert scale_chain(p, 2, brief=True) == "÷ √4 = 1.50"
