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
