"""`attn compare --model`: the word's vector in context after each layer, not one head's output.

Issue 20, item 6. The hidden states are checked against the fixture's reference, saved by
transformers (hidden_in[i]: the hidden state entering layer i); a cosine is worked out by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import after_header, ok, ok_json
from conftest import invoke as run

from attncli.compare import compare, cosine
from attncli.explain import explain_model
from attncli.models import load_model

FIXTURES = Path(__file__).parent / "fixtures" / "models"
BERT = str(FIXTURES / "bert")
TEXT = "The animal didn't cross the street because it was tired"  # the fixtures' reference
OTHER = "The tired animal slept"


def reference(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / name / "reference.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", ["bert", "distilbert", "gpt2", "t5"])
def test_hidden_states_are_the_reference_residual_stream(name: str) -> None:
    ref = reference(name)
    model = load_model(str(FIXTURES / name))
    hidden = model.hidden_states(ref["input_ids"].tolist(), float64=True)
    assert len(hidden) == model.n_layers + 1  # the embeddings, then after each layer
    for i, expected in enumerate(ref["hidden_in"]):  # entering layer i: hidden[i]
        np.testing.assert_allclose(hidden[i], expected, atol=1e-5, rtol=0)


def test_a_cosine_by_hand() -> None:
    assert cosine(np.array([1.0, 2.0, 2.0]), np.array([2.0, 0.0, 1.0])) == pytest.approx(
        4 / (3 * math.sqrt(5)))  # (2 + 0 + 2) / (3 · √5) = 0.5963


def test_compare_with_a_model_gives_one_cosine_per_layer() -> None:
    model = load_model(BERT)
    a = explain_model(TEXT, model, [1], [0])
    b = explain_model(OTHER, model, [1], [0])
    cmp = compare(a, b, "animal", model=model)
    i = 2  # [CLS] the animal …: "animal" in TEXT, as in the reference
    j = cmp.index_b
    hidden_b = model.hidden_states([t.id for t in b.tokens], float64=True)
    ref = reference("bert")["hidden_in"]  # (layers, n, d_model)
    for k, got in enumerate([cmp.embedding_cosine, *cmp.layer_cosines]):
        u = ref[k][i] if k < len(ref) else model.hidden_states(
            [t.id for t in a.tokens], float64=True)[k][i]
        v = hidden_b[k][j]
        by_hand = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
        assert got == pytest.approx(by_hand, abs=1e-5)
    assert len(cmp.layer_cosines) == model.n_layers
    same = compare(a, a, "animal", model=model)
    assert same.layer_cosines == pytest.approx([1.0] * model.n_layers)


def test_compare_model_json_carries_the_layer_cosines() -> None:
    doc = ok_json(run("compare", TEXT, OTHER, "--word", "animal", "--model", BERT, "--json"))
    assert len(doc["layer_cosines"]) == 2
    assert all(-1 <= c <= 1 for c in [doc["embedding_cosine"], *doc["layer_cosines"]])
    plain = ok_json(run("compare", TEXT, OTHER, "--word", "animal", "--json"))
    assert "layer_cosines" not in plain and "embedding_cosine" not in plain


def test_compare_model_view_shows_each_layer_and_a_head_only_when_asked() -> None:
    doc = ok_json(run("compare", TEXT, OTHER, "--word", "animal", "--model", BERT, "--json"))
    out = " ".join(after_header(ok(run("compare", TEXT, OTHER, "--word", "animal",
                                       "--model", BERT, width=100))).split())
    assert "the cosine of its vector in context (the hidden state" in out
    for k, c in enumerate(doc["layer_cosines"]):
        assert f"after layer {k} {c:.3f}" in out
    assert f"embeddings (into layer 0) {doc['embedding_cosine']:.3f}" in out
    assert "Layer 1 · Head 0" not in out and "Output of" not in out
    one = " ".join(after_header(ok(run("compare", TEXT, OTHER, "--word", "animal",
                                       "--model", BERT, "--head", "2", width=100))).split())
    assert "Layer 1 · Head 2" in one and "after layer 1" in one
    assert "Output of “animal” in layer 1 head 2 (8 numbers, before W_O): cosine" in one
