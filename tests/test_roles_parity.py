"""Role scores against an independent computation from transformers' own attentions.

scripts/make_model_fixtures.py --roles works the scores out by plain loops from the attentions
transformers computes in float64 (roles.npz beside reference.npz); here attncli computes them
from its own float64 forward pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli.explain import explain_model
from attncli.models import load_model
from attncli.roles import ROLES, role_scores

FIXTURES = Path(__file__).parent / "fixtures" / "models"
NAMES = ("bert", "llama", "qwen2", "mistral", "t5")  # encoder, GQA, sliding windows, T5


@pytest.mark.parametrize("name", NAMES)
def test_role_scores_match_the_fixture_scripts_within_1e_6(name: str) -> None:
    with np.load(FIXTURES / name / "roles.npz", allow_pickle=False) as npz:
        texts, names = npz["texts"].tolist(), npz["roles"].tolist()
        expected, ks = npz["scores"], npz["offset_k"]  # (texts, layers, heads, roles)
        ids = [npz[f"input_ids_{t}"].tolist() for t in range(len(texts))]
    assert names == list(ROLES)
    model = load_model(str(FIXTURES / name))
    checked = 0
    for t, text in enumerate(texts):
        ex = explain_model(text, model, list(range(model.n_layers)),
                           list(range(model.n_heads)), float64=True)
        assert [tok.id for tok in ex.tokens] == ids[t]
        for hs in ex.heads:
            got = role_scores(hs.steps.weights, ex.tokens, ex.text, hs.steps.mask)
            want = expected[t, hs.layer, hs.head]
            for r, role in enumerate(names):
                score = got.scores[role]
                if np.isnan(want[r]):
                    assert score is None, (name, t, hs.layer, hs.head, role)
                else:
                    assert score == pytest.approx(want[r], abs=1e-6), (name, role)
                    checked += 1
            assert (got.k or 0) == ks[t, hs.layer, hs.head]
    assert checked > 0


def test_the_fixtures_cover_gqa_sliding_windows_and_repeats() -> None:
    import json

    cfg = {n: json.loads((FIXTURES / n / "config.json").read_text()) for n in NAMES}
    assert cfg["llama"]["num_key_value_heads"] < cfg["llama"]["num_attention_heads"]
    assert cfg["qwen2"]["num_key_value_heads"] < cfg["qwen2"]["num_attention_heads"]
    assert cfg["mistral"]["sliding_window"] == 4
    for n in NAMES:  # the repeated text gives every fixture duplicate-token scores (a sliding
        # layer's window may hide every earlier copy: None there)
        with np.load(FIXTURES / n / "roles.npz", allow_pickle=False) as npz:
            dup = list(npz["roles"]).index("duplicate")
            assert not np.isnan(npz["scores"][1, 0, :, dup]).any(), n
