"""export.py: the streamed JSON writer gives exactly the text json.dumps would, strictly.

Hypothesis runs WRITER_EXAMPLES (100) random sentences and settings through the writer.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import I_LOVE_AI, strict_json
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli import export
from attncli import weights as wts
from attncli.explain import explain
from attncli.tokens import word_level
from attncli.weights import files as weightfiles

WRITER_EXAMPLES = 100


def seeded(text: str, **kwargs):
    heads = kwargs.pop("heads", 1)
    d_model = kwargs.pop("d_model", 8)
    seed = kwargs.pop("seed", 0)
    per_head = d_model // heads if heads > 1 else d_model // 2
    ws = wts.seeded(seed, d_model, per_head, per_head, heads)
    return explain(text, word_level(text), ws, seed=seed, **kwargs)


def streamed(doc) -> str:
    buf = io.StringIO()
    export.write(doc, buf)
    return buf.getvalue()


@pytest.mark.parametrize("kwargs", [
    {}, {"causal": True}, {"positions": "sinusoidal"}, {"heads": 4, "causal": True},
])
def test_streamed_output_is_exactly_json_dumps_of_to_dict(kwargs: dict) -> None:
    ex = seeded("The animal was tired, said the vet.", **kwargs)
    text = streamed(export.document(ex))
    assert text == json.dumps(export.to_dict(ex), ensure_ascii=False, allow_nan=False)
    assert export.dumps(export.document(ex)) == text


def test_streamed_output_with_dims_and_notes(tmp_path) -> None:
    ex = explain("I love AI", word_level("I love AI"), weightfiles.load(I_LOVE_AI), seed=0,
                 causal=True)
    assert streamed(export.document(ex)) == json.dumps(export.to_dict(ex), ensure_ascii=False)
    path = tmp_path / "w.safetensors"
    weightfiles.save(wts.seeded(0, 8, 4, 4, 1), path)
    noted = explain("a b", word_level("a b"), weightfiles.load(path), seed=0)
    assert noted.notes
    assert streamed(export.document(noted)) == json.dumps(export.to_dict(noted),
                                                          ensure_ascii=False)


def test_to_dict_is_plain_python_with_null_for_masked_entries() -> None:
    doc = export.to_dict(seeded("a b c", causal=True))

    def plain(value) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, int, float, bool))

    assert plain(doc)
    scaled = doc["heads"][0]["scaled"]
    assert [[v is None for v in row] for row in scaled] == [
        [False, True, True], [False, False, True], [False, False, False]]
    assert doc["heads"][0]["weights"][0][1:] == [0.0, 0.0]


def test_the_document_keeps_arrays_until_written() -> None:
    ex = seeded("a b")
    doc = export.document(ex)
    assert doc["embeddings"] is ex.x
    assert doc["heads"][0]["weights"] is ex.heads[0].steps.weights


def test_every_float_round_trips_exactly() -> None:
    ex = seeded("The animal was tired", positions="sinusoidal", heads=2)
    doc = strict_json(streamed(export.document(ex)))
    assert np.array(doc["embeddings"]).tobytes() == ex.x.tobytes()
    for got, hs in zip(doc["heads"], ex.heads, strict=True):
        for key in export.STEP_KEYS:
            assert np.array(got[key], dtype=np.float64).tobytes() == \
                getattr(hs.steps, key).tobytes(), key


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nan_or_positive_infinity_is_a_bug_and_never_written(bad: float) -> None:
    with pytest.raises(ValueError):
        export.dumps({"m": np.array([[1.0, bad]])})
    with pytest.raises(ValueError):
        export.dumps({"x": bad})


def test_negative_infinity_in_a_matrix_is_written_as_null() -> None:
    assert export.dumps({"m": np.array([[1.0, -np.inf], [0.5, 2.0]])}) == \
        '{"m": [[1.0, null], [0.5, 2.0]]}'


def test_text_is_written_as_unicode_not_escapes() -> None:
    ex = seeded("café “quoted” 注意")
    out = streamed(export.document(ex))
    assert '"text": "café “quoted” 注意"' in out
    assert strict_json(out)["text"] == "café “quoted” 注意"


words = st.sampled_from(["the", "cat", "sat", "on", "a", "mat", ",", ".", "é", "注意", "'"])


@settings(max_examples=WRITER_EXAMPLES, deadline=None)
@given(st.lists(words, min_size=1, max_size=8), st.booleans(), st.sampled_from([1, 2, 4]),
       st.sampled_from(["none", "sinusoidal"]), st.integers(0, 1000))
def test_the_writer_matches_json_dumps_for_any_input(tokens, causal, heads, positions,
                                                     seed) -> None:
    ex = seeded(" ".join(tokens), causal=causal, heads=heads, positions=positions, seed=seed)
    text = streamed(export.document(ex))
    assert text == json.dumps(export.to_dict(ex), ensure_ascii=False, allow_nan=False)
    assert strict_json(text)["schema"] == "attncli.explain/1"
