"""export.py: the streamed JSON writer (orjson, block by block) gives strict JSON whose every
value parses back exactly: the same document as to_dict, float for float, bit for bit.

Hypothesis runs WRITER_EXAMPLES (100) random sentences and settings through the writer, and
ARRAY_EXAMPLES (200) random arrays (float32 and float64, with -inf, subnormal and huge values,
any shape, cut into tiny blocks) through the array writer.
"""

from __future__ import annotations

import io
import json
import math
import struct

import numpy as np
import orjson
import pytest
from conftest import I_LOVE_AI, strict_json
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from attncli import export, json_writer
from attncli import weights as wts
from attncli.explain import explain
from attncli.tokens import word_level
from attncli.weights import files as weightfiles

WRITER_EXAMPLES = 100
ARRAY_EXAMPLES = 200


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


def same(got, want, path: str = "") -> None:
    """got (parsed) is want: the same keys in the same order, the same types, and every float
    the same float64 bit for bit (so -0.0 is not 0.0)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), path
        for key in want:
            same(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            same(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert type(got) is float and struct.pack("<d", got) == struct.pack("<d", want), \
            (path, got, want)
    else:
        assert type(got) is type(want) and got == want, (path, got, want)


def round_trips(ex) -> str:
    """The streamed text parses strictly back to to_dict(ex), bit for bit; the text."""
    text = streamed(export.document(ex))
    same(strict_json(text), export.to_dict(ex))
    return text


@pytest.mark.parametrize("kwargs", [
    {}, {"causal": True}, {"positions": "sinusoidal"}, {"heads": 4, "causal": True},
])
def test_streamed_output_parses_back_to_to_dict_exactly(kwargs: dict) -> None:
    ex = seeded("The animal was tired, said the vet.", **kwargs)
    text = round_trips(ex)
    assert export.dumps(export.document(ex)) == text


def test_the_spelling_is_orjsons_own() -> None:
    """Compact, shortest round-trip floats: what orjson.dumps gives for the plain document
    (the CHANGELOG notes the change from json.dumps's spelling)."""
    ex = seeded("The animal was tired", causal=True, heads=2)
    assert streamed(export.document(ex)) == orjson.dumps(export.to_dict(ex)).decode()


def test_streamed_output_with_dims_and_notes(tmp_path) -> None:
    ex = explain("I love AI", word_level("I love AI"), weightfiles.load(I_LOVE_AI), seed=0,
                 causal=True)
    round_trips(ex)
    path = tmp_path / "w.safetensors"
    weightfiles.save(wts.seeded(0, 8, 4, 4, 1), path)
    noted = explain("a b", word_level("a b"), weightfiles.load(path), seed=0)
    assert noted.notes
    assert strict_json(round_trips(noted))["notes"] == list(noted.notes)


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
        for key, name in export.STEP_KEYS.items():
            assert np.array(got[key], dtype=np.float64).tobytes() == \
                getattr(hs.steps, name).tobytes(), key


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nan_or_positive_infinity_is_a_bug_and_never_written(bad: float) -> None:
    with pytest.raises(ValueError):
        export.dumps({"m": np.array([[1.0, bad]])})
    with pytest.raises(ValueError):
        export.dumps({"x": bad})


def test_negative_infinity_in_a_matrix_is_written_as_null() -> None:
    text = export.dumps({"m": np.array([[1.0, -np.inf], [0.5, 2.0]])})
    assert strict_json(text) == {"m": [[1.0, None], [0.5, 2.0]]}
    assert text == '{"m":[[1.0,null],[0.5,2.0]]}'


def test_text_is_written_as_unicode_not_escapes() -> None:
    ex = seeded("café “quoted” 注意")
    out = streamed(export.document(ex))
    assert '"text":"café “quoted” 注意"' in out
    assert strict_json(out)["text"] == "café “quoted” 注意"


words = st.sampled_from(["the", "cat", "sat", "on", "a", "mat", ",", ".", "é", "注意", "'"])


@settings(max_examples=WRITER_EXAMPLES, deadline=None)
@given(st.lists(words, min_size=1, max_size=8), st.booleans(), st.sampled_from([1, 2, 4]),
       st.sampled_from(["none", "sinusoidal"]), st.integers(0, 1000))
def test_the_writer_round_trips_any_input(tokens, causal, heads, positions, seed) -> None:
    ex = seeded(" ".join(tokens), causal=causal, heads=heads, positions=positions, seed=seed)
    text = round_trips(ex)
    assert strict_json(text)["schema"] == "attncli.explain/1"


def expected(arr: np.ndarray):
    """What an array must parse back to: nested lists of the float64 each number widens to,
    None where it was -inf."""
    wide = arr.astype(np.float64)
    return np.where(np.isneginf(wide), None, wide).tolist() if wide.ndim else wide.item()


floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # huge, tiny and subnormal included
    st.just(-np.inf), st.just(0.0), st.just(-0.0), st.just(5e-324), st.just(1e-5),
    st.just(1.7976931348623157e308), st.floats(-1e-300, 1e-300))


@settings(max_examples=ARRAY_EXAMPLES, deadline=None)
@given(st.sampled_from([np.float64, np.float32, ">f8", ">f4"]),
       hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5), st.data(),
       st.integers(1, 7), st.booleans())
def test_any_array_round_trips_bit_exact(dtype, shape, data, block, transpose) -> None:
    """float32 and float64 arrays, either byte order, C order or not, with -inf (null),
    subnormals and extremes, cut into blocks of 1 to 7 numbers: parsed back, each number is
    the float64 it was, bit for bit."""
    dt = np.dtype(dtype)
    elements = floats.filter(lambda v: not math.isinf(v) or v < 0)
    if dt.itemsize == 4:  # a float32 array holds float32 values; too large ones become inf,
        # and values it cannot hold are rounded first (hypothesis 5 refuses them otherwise)
        elements = elements.filter(lambda v: math.isinf(v) or abs(v) <= 3.4e38).map(
            lambda v: float(np.float32(v)))
    arr = data.draw(hnp.arrays(dt, shape, elements=elements))
    if transpose:
        arr = arr.T  # not C-contiguous
    old = json_writer.BLOCK
    json_writer.BLOCK = block
    try:
        text = export.dumps({"a": arr})
    finally:
        json_writer.BLOCK = old
    same(strict_json(text)["a"], expected(arr))


def test_float32_numbers_are_written_as_the_float64_they_are() -> None:
    """orjson would write a float32 0.1 as 0.1, which parses to another float64; the writer
    widens first, so the number parses back to exactly np.float32(0.1)."""
    arr = np.array([0.1, 1 / 3], dtype=np.float32)
    got = strict_json(export.dumps({"a": arr, "s": np.float32(0.1)}))
    assert got["a"] == [float(v) for v in arr] and got["a"][0] != 0.1
    assert got["s"] == float(np.float32(0.1))


def test_integer_and_boolean_arrays_and_large_integers() -> None:
    doc = {"i": np.arange(6, dtype=">i4").reshape(2, 3).T, "b": np.array([True, False]),
           "big": 2**70, "mixed": [1, 2.5, None, True, 2**65]}
    assert strict_json(export.dumps(doc)) == {"i": [[0, 3], [1, 4], [2, 5]], "b": [True, False],
                                              "big": 2**70, "mixed": [1, 2.5, None, True, 2**65]}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_number_outside_an_array_is_refused(bad: float) -> None:
    """Only an array's -inf is a masked entry; a lone -inf, or one in a plain list, is a bug."""
    with pytest.raises(ValueError):
        export.dumps({"x": [1.0, bad]})
    with pytest.raises(ValueError):
        export.dumps({"x": np.float32(bad)})


def test_a_nan_in_a_late_block_is_still_refused() -> None:
    arr = np.zeros((4096, 64))
    arr[-1, -1] = np.nan
    with pytest.raises(ValueError):
        export.dumps({"m": arr})


class Chunks(io.StringIO):
    """A text stream that remembers the size of the largest single write."""

    largest = 0

    def write(self, text: str) -> int:
        self.largest = max(self.largest, len(text))
        return super().write(text)


def test_a_large_matrix_is_written_in_blocks_not_one_string() -> None:
    arr = np.random.default_rng(0).standard_normal((1000, 1000))  # about 20 MB of text
    out = Chunks()
    export.write({"m": arr}, out)
    assert len(out.getvalue()) > 15_000_000
    assert out.largest < 4_000_000  # a block of rows at a time, never the whole matrix
    assert np.array(strict_json(out.getvalue())["m"]).tobytes() == arr.tobytes()


def test_bytes_go_to_a_utf8_streams_buffer_in_order() -> None:
    """On a UTF-8 stream with a buffer (stdout), the writer flushes the text written before
    it and writes bytes; anything written after follows."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    out.write("before ")
    export.write({"t": "café \u202e", "m": np.array([[1.5, -np.inf]])}, out)
    out.write(" after")
    out.flush()
    assert raw.getvalue().decode() == 'before {"t":"café \\u202e","m":[[1.5,null]]} after'


def test_a_stream_in_another_encoding_gets_text() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="latin-1")
    export.write({"t": "café", "x": 0.5}, out)
    out.flush()
    assert raw.getvalue() == '{"t":"café","x":0.5}'.encode("latin-1")


def test_a_lone_surrogate_is_escaped_not_refused() -> None:
    """Invalid UTF-8 in argv arrives as a lone surrogate: written as \\udcXX, as before."""
    assert export.dumps({"t": "a\udc80b"}) == '{"t":"a\\udc80b"}'


@pytest.mark.parametrize("kind", ["heads", "compare", "pair", "focus"])
def test_every_document_round_trips(kind: str) -> None:
    """heads_to_dict, compare_to_dict and explain's pair and focus parts parse back exactly."""
    from attncli.compare import compare
    from attncli.explain import with_focus, with_pair
    from attncli.heads import overview

    ex = seeded("the animal was tired because the animal", heads=4, causal=True, seed=3)
    doc = {"heads": lambda: export.heads_to_dict(overview(ex, "tired", "animal")),
           "compare": lambda: export.compare_to_dict(
               compare(ex, seeded("an animal was tired", heads=4, seed=3), "animal")),
           "pair": lambda: export.document(with_pair(ex, 1, 3)),  # masked: scaled null
           "focus": lambda: export.document(with_focus(ex, [0, 3]))}[kind]()
    same(strict_json(export.dumps(doc)), export._plain(doc))


@pytest.mark.parametrize("text", ["\U0001d173", "a \U000e0001 b", "\u202e", "\x85", "x\u200dy",
                                  "\U0001f600"])
def test_hidden_characters_are_escaped_and_parse_back_to_the_same_text(text: str) -> None:
    """A format character beyond U+FFFF is written as its two UTF-16 surrogates: one \\u with
    five hex digits would parse back as another character and a digit."""
    from attncli.json_writer import _text

    raw = _text(text)
    assert json.loads(raw) == text
    import unicodedata

    shown = raw.decode("utf-8")  # an emoji and the zero-width joiner are kept as they are
    assert all(unicodedata.category(c) not in {"Cc", "Cf"} or c == "\u200d" for c in shown)
