"""The transformers references other tests read: their files, keys and shapes.

tests/fixtures/generate/<name>.npz (greedy generate, issue 25) and
tests/fixtures/effects/<name>.npz (heads knocked out and patched, issue 24) are written by
scripts/make_model_fixtures.py --generate / --effects, whose comments say what each key holds.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURES

from attncli.models import load_model

REFERENCES = FIXTURES.parent
GENERATE = ("gpt2-lm", "llama-lm", "qwen2-lm", "gemma2-lm", "phi3-lm")
STEPS = 20


def arrays(path):
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.mark.parametrize("name", GENERATE)
def test_generate_reference_has_its_keys_and_shapes(name):
    ref = arrays(REFERENCES / "generate" / f"{name}.npz")
    model = load_model(str(FIXTURES / name))
    assert [t.id for t in model.tokens(str(ref["prompt"]))] == ref["prompt_ids"].tolist()
    assert ref["prompt_ids"].dtype == ref["ids"].dtype == np.int64
    assert ref["ids"].shape == (STEPS,)
    assert ref["scores"].shape == (STEPS, model.vocab_size)
    assert ref["scores"].dtype == np.float32
    assert (ref["scores"].argmax(-1) == ref["ids"]).all()  # greedy
    window = max(w or 0 for w in model.windows or [None])
    assert len(ref["prompt_ids"]) > 2 * window
    assert int(ref["stop"]) == STEPS and not set(ref["ids"].tolist()) & set(ref["eos"].tolist())


EFFECTS = ("gpt2-lm", "llama-lm", "qwen2-lm", "gemma2-lm", "bert-mlm")
PATCHED = ("gpt2-lm", "llama-lm")


@pytest.mark.parametrize("name", EFFECTS)
def test_effects_reference_has_its_keys_and_shapes(name):
    ref = arrays(REFERENCES / "effects" / f"{name}.npz")
    model = load_model(str(FIXTURES / name))
    assert [t.id for t in model.tokens(str(ref["text"]))] == ref["ids"].tolist()
    n, vocab, k = len(ref["ids"]), model.vocab_size, model.n_layers * model.n_heads
    every = [(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]
    assert ref["heads"].tolist() == [list(lh) for lh in every]
    assert ref["clean"].shape == (vocab,)
    ours = model.logits(model.forward(ref["ids"])[0])[int(ref["position"])]
    assert np.abs(ours - ref["clean"]).max() < 1e-4  # the same model, run by attncli
    assert ref["ablated"].shape == ref["mean_ablated"].shape == (k, vocab)
    assert ref["pair"].shape == (2, 2) and ref["pair"][0, 0] != ref["pair"][1, 0]
    assert ref["pair_ablated"].shape == (vocab,)
    if name == "bert-mlm":
        assert model.tokens(str(ref["text"]))[int(ref["position"])].text == "[MASK]"
    else:
        assert int(ref["position"]) == n - 1
    if name == "llama-lm":
        assert model.n_kv_heads < model.n_heads  # grouped-query attention
    if name in PATCHED:
        assert ref["corrupt_ids"].shape == (n,)
        assert [t.id for t in model.tokens(str(ref["corrupt"]))] == ref["corrupt_ids"].tolist()
        assert ref["corrupt_logits"].shape == (vocab,)
        assert ref["patched"].shape == (k, vocab)
    else:
        assert "patched" not in ref
    for key in ("clean", "ablated", "mean_ablated", "pair_ablated"):
        assert ref[key].dtype == np.float32
