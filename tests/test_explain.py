"""explain.py and `attn explain --json`: the one result, its JSON document and its schema.

The JSON is always parsed strictly (NaN and Infinity are refused) and checked against
attncli/explain.schema.json: by a small checker written here, and by jsonschema (a test
dependency), which reads the shipped schema file exactly as a user's tool would.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import ANIMAL_TIRED, I_LOVE_AI, invoke, strict_json

from attncli import export
from attncli import weights as wts
from attncli.errors import AttnError
from attncli.explain import Explanation, check_text, explain, sinusoidal_positions
from attncli.tokens import word_level
from attncli.weights import files as weightfiles

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "attncli" / "explain.schema.json"
STEP_KEYS = ["w_q", "w_k", "w_v", "q", "k", "v", "scores", "scaled", "weights", "output"]


def love_ai(**kwargs) -> Explanation:
    return explain("I love AI", word_level("I love AI"), weightfiles.load(I_LOVE_AI), seed=0,
                   **kwargs)


def explain_json(*args: str, stdin: str | None = None) -> dict:
    result = invoke("explain", *args, "--json", stdin=stdin)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return strict_json(result.stdout)


# ---------------------------------------------------------------- a small schema checker


def check_schema(value, schema: dict, root: dict, where: str = "$") -> None:
    """The subset of JSON Schema that explain.schema.json uses, checked by hand."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        check_schema(value, root["$defs"][name], root, where)
    if "const" in schema:
        assert value == schema["const"], where
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = {
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "null": value is None,
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        }
        assert any(ok[t] for t in types), (where, value, types)
    if "minimum" in schema:
        assert value >= schema["minimum"], where
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, (where, key)
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check_schema(value[key], sub, root, f"{where}.{key}")
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0), where
        if "items" in schema:
            for i, item in enumerate(value):
                check_schema(item, schema["items"], root, f"{where}[{i}]")


def validate(doc: dict) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    check_schema(doc, schema, schema)
    jsonschema.validate(doc, schema)


def test_the_schema_checker_catches_a_broken_document() -> None:
    doc = explain_json("a b")
    for broken in ({**doc, "schema": "other"}, {k: v for k, v in doc.items() if k != "heads"},
                   {**doc, "embeddings": [["x"]]}, {**doc, "heads": []}):
        with pytest.raises(AssertionError):
            check_schema(broken, json.loads(SCHEMA_FILE.read_text()),
                         json.loads(SCHEMA_FILE.read_text()))


# ---------------------------------------------------------------- explain()


def test_explain_keeps_tokens_config_and_every_step() -> None:
    ex = love_ai()
    assert ex.text == "I love AI"
    assert [(t.text, t.id, t.start, t.end) for t in ex.tokens] == [
        ("I", 1, 0, 1), ("love", 2, 2, 6), ("AI", 3, 7, 9)]
    assert ex.labels == ["I", "love", "AI"]
    config = ex.config.to_dict()
    assert config.pop("description").startswith("The lesson's worked example")
    assert config == {
        "d_model": 2, "d_k": 4, "d_v": 2, "heads": 1, "seed": 0, "weights": str(I_LOVE_AI),
        "embeddings": "file", "tokenizer": "word-level", "causal": False, "positions": "none",
        "head_indices": [0],
    }
    assert ex.config.source == "file"
    assert ex.x.tolist() == [[1, 0], [0, 1], [1, 1]]
    assert ex.dims == ("e0", "e1")
    assert ex.positions is None and ex.notes == []
    assert len(ex.heads) == 1
    s = ex.heads[0].steps
    assert (ex.heads[0].layer, ex.heads[0].head) == (0, 0)
    assert s.scores.tolist() == [[2, 1, 3], [1, 2, 3], [3, 3, 6]]  # see test_attention.py
    np.testing.assert_allclose(s.weights[0], [0.307195886, 0.186323723, 0.506480391],
                               rtol=0, atol=1e-8)


def test_explain_with_sinusoidal_positions_adds_them_to_x() -> None:
    ex = love_ai(positions="sinusoidal")
    pe = sinusoidal_positions(3, 2)
    assert ex.positions.tolist() == pe.tolist()
    assert ex.x.tolist() == (np.array([[1, 0], [0, 1], [1, 1]]) + pe).tolist()
    # pos 1 (love): [0, 1] + [sin 1, cos 1] = [0.8414709848, 1.5403023059]
    np.testing.assert_allclose(ex.x[1], [0.8414709848, 1.5403023059], rtol=0, atol=1e-10)
    assert ex.config.positions == "sinusoidal"
    assert ex.heads[0].steps.x.tolist() == ex.x.tolist()


def test_explain_refuses_an_unknown_positions_scheme() -> None:
    with pytest.raises(AttnError, match="unknown positions 'rope'"):
        love_ai(positions="rope")


def test_explain_refuses_too_many_tokens_before_computing() -> None:
    with pytest.raises(AttnError, match="3 tokens, more than the limit of 2") as raised:
        love_ai(max_tokens=2)
    assert "--" not in str(raised.value)  # the CLI names the option that raises the limit
    result = invoke("explain", "a b c", "--max-tokens", "2")
    assert result.exit_code == 2 and "more than the limit of 2" in result.stderr
    assert "(raise it with --max-tokens, up to 8192)" in result.stderr
    from conftest import FIXTURES, refused

    refused(invoke("predict", "The animal was tired", "--model", str(FIXTURES / "bert-mlm"),
                   "--max-tokens", "3"), "more than the limit of 3", "raise it with --max-tokens")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_refused(text: str) -> None:
    with pytest.raises(AttnError, match="the text is empty"):
        check_text(text)


def test_numbers_that_overflow_are_refused_not_shown_as_nan(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({"w_q": [[1e200]], "w_k": [[1e200]], "w_v": [[1.0]]}))
    with pytest.raises(AttnError, match="overflow"):
        explain("a b", word_level("a b"), weightfiles.load(path), seed=0)


# ---------------------------------------------------------------- --json


def test_json_document_has_the_documented_keys_and_schema() -> None:
    doc = explain_json("The animal was tired", "-w", str(ANIMAL_TIRED))
    validate(doc)
    assert list(doc) == ["schema", "text", "tokens", "config", "embeddings", "dims", "qk_dims",
                         "v_dims", "heads"]
    assert doc["schema"] == "attncli.explain/1"
    assert doc["text"] == "The animal was tired"
    assert doc["tokens"] == [
        {"text": "The", "id": 1, "start": 0, "end": 3},
        {"text": "animal", "id": 2, "start": 4, "end": 10},
        {"text": "was", "id": 3, "start": 11, "end": 14},
        {"text": "tired", "id": 4, "start": 15, "end": 20},
    ]
    assert doc["config"].pop("description").startswith("Hand-designed weights")
    assert doc["config"] == {
        "d_model": 6, "d_k": 4, "d_v": 4, "heads": 1, "seed": 0, "weights": str(ANIMAL_TIRED),
        "embeddings": "file", "tokenizer": "word-level", "causal": False, "positions": "none",
        "head_indices": [0],
    }
    assert doc["dims"] == ["noun", "animate", "adjective", "verb", "determiner", "pronoun"]
    assert doc["qk_dims"] == ["noun", "alive", "state", "function word"]
    assert doc["v_dims"] == ["thing", "alive", "quality", "grammar"]
    assert doc["embeddings"] == [[0, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0],
                                 [0, 0, 1, 0, 0, 0]]
    (head,) = doc["heads"]
    assert list(head) == ["layer", "head", *STEP_KEYS, "mask_kind"]
    assert head["mask_kind"] == "none"  # without --causal nothing is hidden
    assert (head["layer"], head["head"]) == (0, 0)
    n = 4
    shapes = {"w_q": (6, 4), "w_k": (6, 4), "w_v": (6, 4), "q": (n, 4), "k": (n, 4),
              "v": (n, 4), "scores": (n, n), "scaled": (n, n), "weights": (n, n),
              "output": (n, 4)}
    for key, shape in shapes.items():
        assert np.array(head[key]).shape == shape, key


def test_seeded_json_has_seeded_config_and_no_optional_keys() -> None:
    doc = explain_json("the cat sat", "--seed", "3", "--d-model", "6", "--heads", "3")
    validate(doc)
    # several heads are joined (step 6); nothing else optional appears
    assert set(doc) == {"schema", "text", "tokens", "config", "embeddings", "heads",
                        "joined_layer", "concat", "w_o", "attention_output"}
    assert doc["config"] == {
        "d_model": 6, "d_k": 2, "d_v": 2, "heads": 3, "seed": 3, "weights": "seeded",
        "embeddings": "seeded", "tokenizer": "word-level", "causal": False, "positions": "none",
        "head_indices": [0, 1, 2],
    }
    one = explain_json("the cat sat", "--seed", "3")
    assert set(one) == {"schema", "text", "tokens", "config", "embeddings", "heads"}
    assert [(h["layer"], h["head"]) for h in doc["heads"]] == [(0, 0), (0, 1), (0, 2)]


def test_the_worked_example_in_json() -> None:
    doc = explain_json("I love AI", "-w", str(I_LOVE_AI))
    head = doc["heads"][0]
    # whole numbers and halves are exact in binary: see test_attention.py for the sums
    assert head["q"] == [[2, 0, 0, 1], [0, 1, 1, 0], [2, 1, 1, 1]]
    assert head["k"] == [[1, 0, 1, 0], [0, 2, 0, 1], [1, 2, 1, 1]]
    assert head["v"] == [[1, 0], [0, 1], [1, 1]]
    assert head["scores"] == [[2, 1, 3], [1, 2, 3], [3, 3, 6]]
    assert head["scaled"] == [[1, 0.5, 1.5], [0.5, 1, 1.5], [1.5, 1.5, 3]]
    # I: e^1 / (e^1 + e^0.5 + e^1.5) = 2.718281828 / 8.848692169 = 0.307195886
    assert head["weights"][0][0] == pytest.approx(0.307195886, abs=1e-9)
    # I's output: [0.307195886 + 0.506480391, 0.186323723 + 0.506480391]
    assert head["output"][0] == pytest.approx([0.813676277, 0.692804114], abs=1e-9)


def test_json_numbers_equal_the_numpy_values_exactly() -> None:
    args = ("The animal was tired", "--seed", "11", "--heads", "2", "--positions", "sinusoidal")
    doc = explain_json(*args)
    ws = wts.seeded(11, 8, 4, 4, 2)
    ex = explain(args[0], word_level(args[0]), ws, seed=11, positions="sinusoidal")
    assert doc["embeddings"] == ex.x.tolist()  # == on floats: every digit survived
    assert doc["positions"] == ex.positions.tolist()
    for got, hs in zip(doc["heads"], ex.heads, strict=True):
        for key, name in export.STEP_KEYS.items():
            assert got[key] == getattr(hs.steps, name).tolist(), key
    # and they are not merely rounded to a few places
    w = doc["heads"][0]["weights"][0][0]
    assert w != round(w, 10)


def test_causal_masked_entries_are_null_in_scaled_and_zero_in_weights() -> None:
    doc = explain_json("I love AI", "-w", str(I_LOVE_AI), "--causal")
    validate(doc)
    assert doc["config"]["causal"] is True
    head = doc["heads"][0]
    assert head["scaled"] == [[1, None, None], [0.5, 1, None], [1.5, 1.5, 3]]
    assert head["weights"][0] == [1, 0, 0]
    assert head["weights"][1][2] == 0
    # love: softmax([0.5, 1]) = [1, e^0.5] / (1 + e^0.5) = [0.377540669, 0.622459331]
    assert head["weights"][1][:2] == pytest.approx([0.377540669, 0.622459331], abs=1e-9)
    assert head["scores"][0] == [2, 1, 3]  # scores are not masked
    assert "null" in invoke("explain", "I love AI", "-w", str(I_LOVE_AI), "--causal",
                            "--json").stdout


def test_json_never_holds_nan_or_infinity() -> None:
    out = invoke("explain", "a b c d", "--causal", "--heads", "4", "--json").stdout
    for word in ("NaN", "Infinity"):
        assert word not in out
    strict_json(out)  # and the strict parser agrees


def test_notes_and_positions_appear_when_they_apply(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    assert invoke("weights", "init", "-o", str(path)).exit_code == 0
    doc = explain_json("a b", "-w", str(path), "--positions", "sinusoidal")
    validate(doc)
    assert doc["notes"] == [f"{path} has no embeddings table, so the embeddings are seeded "
                            "(seed 0)."]
    assert doc["positions"] == sinusoidal_positions(2, 8).tolist()
    assert doc["config"]["positions"] == "sinusoidal"


def test_text_dash_reads_standard_input() -> None:
    doc = explain_json("-", stdin="The animal was tired\n")
    assert doc["text"] == "The animal was tired"  # the final newline is dropped
    assert [t["text"] for t in doc["tokens"]] == ["The", "animal", "was", "tired"]
    assert doc == explain_json("The animal was tired")


def test_json_is_one_document_and_a_newline_on_stdout() -> None:
    result = invoke("explain", "a b", "--json")
    assert result.stdout.endswith("}\n") and result.stdout.count("\n") == 1
    assert result.stderr == ""


def test_json_floats_are_shortest_round_trip_reprs() -> None:
    out = invoke("explain", "I love AI", "-w", str(I_LOVE_AI), "--json").stdout
    doc = strict_json(out)
    w = doc["heads"][0]["weights"][0][0]
    assert repr(w) in out
    assert math.isclose(w, 0.307195886, abs_tol=1e-9)
