"""attn lens and attn attribute: the logit lens and direct logit attribution.

The lens's last layer is attn predict's logits; the attribution's parts add up to the logit
(the parts are worked out again from the weights, so the sum checks them); a norm held at its
scale is linear, for every family's norm; one head and the embeddings are worked by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURES, invoke, ok, ok_json, refused, render_text
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.lens import attribute, lens
from attncli.models import FAMILIES, load_model
from attncli.models.blocks import Norm
from attncli.models.layers import held_layer_norm, held_rms_norm, layer_norm, rms_norm
from attncli.predict import predict

EXACT = 1e-5  # the lens against the logits, and the parts' sum against the logit
PRE_NORM = ("gpt2-lm", "llama-lm", "qwen2-lm", "phi3-lm", "gemma2-lm", "olmo2-lm")
POST_NORM = ("bert-mlm", "roberta-mlm")
TEXT = "The capital of France is"


def fixture(name: str):
    model = load_model(str(FIXTURES / name))
    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        return model, str(npz["text"])


# ---- a norm held at its scale, by hand ----

def test_layer_norm_held_by_hand():
    # x = [1, 3, 1, 3]: mean 2, centred [-1, 1, -1, 1], variance 1, so 1/sigma = 1 (eps 0)
    x = np.array([1.0, 3.0, 1.0, 3.0])
    w, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.0, 0.0, 0.0])
    held = held_layer_norm(x, w, b, 0.0)
    assert held.scale.tolist() == [1.0]
    # a part the same in every dimension is all mean: LayerNorm takes it away entirely
    assert held(np.array([1.0, 1.0, 1.0, 1.0])).tolist() == [0.0, 0.0, 0.0, 0.0]
    # [0, 2, 0, 2] centred is [-1, 1, -1, 1], times w
    assert held(np.array([0.0, 2.0, 0.0, 2.0])).tolist() == [-1.0, 2.0, -3.0, 4.0]
    # the parts' shares plus the bias: the norm itself, [-0.5, 2, -3, 4]
    assert (held(np.array([0.0, 2.0, 0.0, 2.0])) + b).tolist() == [-0.5, 2.0, -3.0, 4.0]
    assert layer_norm(x, w, b, 0.0).tolist() == [-0.5, 2.0, -3.0, 4.0]


def test_rms_norm_held_by_hand():
    # x = [3, 4, 0, 0]: mean square 25 / 4, RMS 2.5, so the held scale is 0.4
    x = np.array([3.0, 4.0, 0.0, 0.0], dtype=np.float32)
    held = held_rms_norm(x, np.array([1.0, 1.0, 2.0, 2.0]), 0.0)
    assert held.scale.tolist() == pytest.approx([0.4])
    assert held(np.array([3.0, 0.0, 0.0, 0.0])).tolist() == pytest.approx([1.2, 0, 0, 0])
    assert held(np.array([0.0, 4.0, 1.0, -1.0])).tolist() == pytest.approx([0, 1.6, 0.8, -0.8])
    assert held.b is None and not held.centre
    np.testing.assert_allclose(held(x), rms_norm(x, np.array([1, 1, 2, 2], np.float32), 0.0),
                               rtol=1e-6)


# every family, by its fixture: its held norm adds back up to its own norm
FAMILY_FIXTURES = sorted(t for t in FAMILIES if (FIXTURES / t).is_dir())


@pytest.mark.parametrize("model_type", FAMILY_FIXTURES)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), parts=st.integers(1, 5))
def test_each_familys_held_norm_adds_up_to_its_norm(model_type, seed, parts):
    model = load_model(str(FIXTURES / model_type))
    rng = np.random.default_rng(seed)
    d = model.d_model
    split = rng.normal(size=(parts, d)).astype(np.float32) * 3  # parts of x
    x = split.sum(axis=0, dtype=np.float32)  # (d,)
    norm = Norm(rng.normal(size=d).astype(np.float32),
                rng.normal(size=d).astype(np.float32))
    held = model.held_norm(x, norm)
    got = held(split.astype(np.float64)).sum(axis=0) + (0 if held.b is None else held.b)
    want = model.normalise(x.astype(np.float64), norm)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---- the lens ----

@pytest.mark.parametrize("name", PRE_NORM + POST_NORM)
def test_lens_last_layer_is_predicts_logits(name):
    model, text = fixture(name)
    pr = predict(text, model)
    ln = lens(text, model)
    assert ln.where.position == pr.positions[0]
    assert len(ln.rows) == model.n_layers + 1
    assert [r.layer for r in ln.rows] == [None, *range(model.n_layers)]
    assert np.abs(ln.logits[-1] - pr.logits[0]).max() < EXACT
    assert [c.id for c in ln.rows[-1].top] == [c.id for c in pr.predictions[0].top]
    assert ln.final[-1] == pytest.approx(pr.predictions[0].top[0].probability)


def test_lens_rows_are_the_hidden_states_through_the_head():
    model, text = fixture("llama-lm")
    ln = lens(text, model, at="#3")
    hidden = model.hidden_states([t.id for t in model.tokens(text)])
    for row, h in zip(ln.logits, hidden, strict=True):
        assert np.abs(row - model.logits(h[3:4])[0]).max() < EXACT
    assert ln.where.position == 3 and ln.where.kind == "next"


# ---- direct logit attribution ----

@pytest.mark.parametrize("name", PRE_NORM)
def test_parts_add_up_to_the_logit(name):
    model, text = fixture(name)
    at = attribute(text, model)
    pr = predict(text, model)
    top = pr.predictions[0].top[0]
    assert at.target.id == at.top_id == top.id
    assert abs(at.total - at.logit) < EXACT
    assert at.target.logit == pytest.approx(top.logit, abs=EXACT)  # the model's, soft-capped
    assert at.heads.shape == (model.n_layers, model.n_heads)
    assert sum(p.kind == "head" for p in at.parts) == model.n_layers * model.n_heads
    assert sum(p.kind == "mlp" for p in at.parts) == model.n_layers


@pytest.mark.parametrize("name", PRE_NORM)
def test_parts_add_up_for_another_token_and_position(name):
    model, text = fixture(name)
    at = attribute(text, model, target="#7", at="#2")
    assert at.target.id == 7 and at.where.position == 2
    assert abs(at.total - at.logit) < EXACT


def test_one_head_by_hand_on_gpt2():
    """Layer 1 head 2's share, from the lesson's own float64 steps of that head: its output
    row through its slice of W_O, centred, over the final LayerNorm's sigma, times its
    weight, dotted with the target's row of the (tied) unembedding."""
    model, text = fixture("gpt2-lm")
    ids = [t.id for t in model.tokens(text)]
    at = attribute(text, model)
    p, t, hd = at.where.position, at.target.id, model.head_dim
    steps = model.attention(ids, [1], [2])[0].steps
    w_o, _ = model.output_projection(1)
    y = steps.output[p] @ w_o[2 * hd:3 * hd].astype(np.float64)  # (d,)
    h_last = model.hidden_states(ids)[-1][p].astype(np.float64)
    sigma = np.sqrt(h_last.var() + model.eps)
    head = model.lm_head()
    value = ((y - y.mean()) / sigma * head.norm.w) @ head.w[t]
    assert at.heads[1, 2] == pytest.approx(value, abs=1e-5)


def test_embeddings_by_hand_on_llama():
    """llama's embeddings' share: the token's row over the final RMS, times the norm's
    weight, dotted with the target's row of lm_head."""
    model, text = fixture("llama-lm")
    ids = [t.id for t in model.tokens(text)]
    at = attribute(text, model)
    p, t = at.where.position, at.target.id
    e = model.tensor("wte", np.float64)[ids[p]]
    h_last = model.hidden_states(ids)[-1][p].astype(np.float64)
    head = model.lm_head()
    value = e / np.sqrt((h_last ** 2).mean() + model.eps) * head.norm.w @ head.w[t]
    (emb,) = [x.value for x in at.parts if x.kind == "embeddings"]
    assert emb == pytest.approx(value, abs=1e-5)
    assert "attention_bias" in [x.kind for x in at.parts]  # llama-lm has o_proj biases


def test_gemma2s_soft_cap_comes_after_the_sum():
    model, text = fixture("gemma2-lm")
    at = attribute(text, model)
    assert at.softcap == 3.0
    assert at.target.logit == pytest.approx(3.0 * np.tanh(at.logit / 3.0), abs=1e-6)
    assert abs(at.total - at.logit) < EXACT


def test_ranked_and_groups():
    model, text = fixture("qwen2-lm")
    at = attribute(text, model)
    plus, minus = at.ranked(3)
    assert [p.value for p in plus] == sorted((p.value for p in at.parts if p.value > 0),
                                             reverse=True)[:3]
    assert [p.value for p in minus] == sorted(p.value for p in at.parts if p.value < 0)[:3]
    assert sum(total for _, _, total in at.groups()) == pytest.approx(at.total)


# ---- the command line ----

def test_cli_lens_json():
    doc = ok_json(invoke("lens", TEXT, "--model", str(FIXTURES / "gpt2-lm"), "--json",
                         "--top", "3"))
    assert doc["schema"] == "attncli.lens/1"
    assert doc["position"] == len(doc["tokens"]) - 1 and doc["kind"] == "next"
    assert [row["layer"] for row in doc["layers"]] == [None, 0, 1]
    assert all(len(row["top"]) == 3 for row in doc["layers"])
    assert set(doc["layers"][0]["top"][0]) == {"token", "id", "probability", "logit"}
    pred = ok_json(invoke("predict", TEXT, "--model", str(FIXTURES / "gpt2-lm"), "--json"))
    assert [c["id"] for c in doc["layers"][-1]["top"]] == \
        [c["id"] for c in pred["predictions"][0]["top"][:3]]


def test_cli_attribute_json():
    doc = ok_json(invoke("attribute", TEXT, "--model", str(FIXTURES / "olmo2-lm"), "--json"))
    assert doc["schema"] == "attncli.attribute/1"
    assert abs(doc["sum"] - doc["logit"]) < EXACT
    assert doc["difference"] == pytest.approx(doc["logit"] - doc["sum"])
    assert sum(p["value"] for p in doc["parts"]) == pytest.approx(doc["sum"])
    assert len(doc["heads"]) == 2 and doc["target"]["id"] == doc["top_id"]
    assert {p["kind"] for p in doc["parts"]} >= {"embeddings", "head", "mlp"}


def test_cli_target_by_spelling_text_and_id():
    model = load_model(str(FIXTURES / "gpt2-lm"))
    want = model.tokenizer.token_to_id("Ġo")
    for spec in ("Ġo", " o", "␣o", f"#{want}"):
        doc = ok_json(invoke("attribute", TEXT, "--model", str(FIXTURES / "gpt2-lm"),
                             "--token", spec, "--json"))
        assert doc["target"]["id"] == want, spec


def test_cli_views_fit_80_columns():
    for args in (("lens", TEXT, "--top", "10"), ("attribute", TEXT)):
        out = ok(invoke(*args, "--model", str(FIXTURES / "gpt2-lm"), width=80))
        assert max(len(line.rstrip()) for line in out.splitlines()) <= 80, out


def test_lens_view_at_a_fixed_width():
    from attncli.render.lens import lens_view

    model, _ = fixture("gpt2-lm")
    text = render_text(lens_view(lens(TEXT, model, top=10)), width=80)
    lines = text.split("\n\n")[1].splitlines()
    assert lines[1] == "Per layer: the top 10 tokens, and p(␣o), the probability of the " \
        "prediction."
    assert lines[2].startswith("layer") and lines[2].endswith("… 5 more")  # ranks left out
    assert [line.split()[0] for line in lines[3:6]] == ["embeddings", "0", "1"]
    assert lines[5].split()[1:3] == ["33.2%", "␣o"]  # the prediction, at the last layer
    assert "not what the model “thinks”" in text
    wide = render_text(lens_view(lens(TEXT, model, top=10)), width=160)
    assert "more" not in wide.split("\n\n")[1]


def test_attribution_view_shows_the_sum_the_logit_and_the_difference():
    from attncli.render.lens import attribution_view

    model, _ = fixture("llama-lm")
    at = attribute(TEXT, model)
    text = render_text(attribution_view(at), width=80)
    assert "sum of every part" in text and f"{at.total:.6f}" in text
    assert f"{at.logit:.6f}" in text and f"{at.difference:.1e}" in text
    assert "layer 0" in text and "head 3" in text
    assert "soft-cap" not in text.split("Adding them up")[1]


def test_refuses_post_norm():
    for name in POST_NORM:
        refused(invoke("attribute", "The capital of France is [MASK].", "--model",
                       str(FIXTURES / name)),
                "post-norm", "do not add up to the logit")


def test_refuses_bad_input():
    model = str(FIXTURES / "llama-lm")
    refused(invoke("attribute", TEXT, "--model", model, "--token", "zzzq"),
            "--token 'zzzq' is not one token")
    refused(invoke("attribute", TEXT, "--model", model, "--token", "#99999"),
            "--token '#99999'", "no token id 99999")
    refused(invoke("lens", TEXT, "--model", model, "--at", "Berlin"),
            "--at 'Berlin' is not one of the tokens")
    refused(invoke("attribute", TEXT, "--model", model, "--at", "Berlin"), "--at 'Berlin'")
    for command in ("lens", "attribute"):
        refused(invoke(command, TEXT, "--model", str(FIXTURES / "gpt2")), "no LM head")
        refused(invoke(command, TEXT), "needs --model")
