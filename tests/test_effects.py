"""Knocking heads out and patching them (attncli.effects): `attn predict --ablate` and
`attn heads --effect`.

The sweep re-uses the residual stream and runs many streams through each layer at once, so
every head's effect is checked against a plain forward pass with that head knocked out
through the head_outputs hook; tests/fixtures/effects/ holds transformers' logits with heads
knocked out (by a hook zeroing that head's slice of the output projection's input) for the
parity tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURES, invoke, ok, ok_json, refused, render_text
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli import effects
from attncli.errors import AttnError, RoleError
from attncli.models import Hooks, load_model
from attncli.predict import token_id
from attncli.render import effects as render_effects

PRONOUN = "The animal didn't cross the street because it"
MASKED = "The animal didn't cross the [MASK] because it was tired"
CASES = {"gpt2-lm": PRONOUN, "llama-lm": PRONOUN, "qwen2-lm": PRONOUN, "gemma2-lm": PRONOUN,
         "bert-mlm": MASKED}
EFFECTS = FIXTURES.parent / "effects"


def logprob(row: np.ndarray, token: int) -> float:
    row = row.astype(np.float64)
    return float(row[token] - row.max() - np.log(np.exp(row - row.max()).sum()))


def knocked_logits(model, ids, position, heads, mode="zero"):
    h, _ = model.forward(ids, hooks=Hooks(head_outputs=effects.knock_out_hook(heads, mode)))
    return model.logits(h[[position]])[0]


# ---- pure pieces, by hand ----


def test_parse_heads():
    assert effects.parse_heads("3.1, 5.11,3.1", 6, 12) == [(3, 1), (5, 11)]
    for bad in ("3", "3.", ".1", "a.b", "3.1.2", "-1.0", ""):
        with pytest.raises(RoleError, match="LAYER.HEAD"):
            effects.parse_heads(bad, 6, 12)
    with pytest.raises(RoleError, match="out of range: the model has 6 layers and 12 heads"):
        effects.parse_heads("6.0", 6, 12)
    with pytest.raises(RoleError, match="out of range"):
        effects.parse_heads("0.12", 6, 12)


def test_knocked_out_by_hand():
    z = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]])  # (n=3, head_dim=2)
    assert effects.knocked_out(z, "zero").tolist() == [[0, 0], [0, 0], [0, 0]]
    assert effects.knocked_out(z, "mean").tolist() == [[3, 3], [3, 3], [3, 3]]


def test_hook_knocks_out_only_its_heads():
    z = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)  # (batch, H, n, hd)
    hook = effects.knock_out_hook([(1, 2), (1, 0), (0, 1)], "zero")
    out = hook(1, z)
    assert (out[:, [0, 2]] == 0).all() and (out[:, 1] == z[:, 1]).all()
    assert (z != 0).sum() == z.size - 1  # the input is left as it was (only z[0,0,0,0] is 0)
    assert hook(2, z) is z  # a layer without knocked-out heads passes through


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=6, max_size=6))
def test_mean_knock_out_keeps_the_mean(values):
    z = np.array(values).reshape(3, 2)
    out = effects.knocked_out(z, "mean")
    assert np.allclose(out.mean(axis=0), z.mean(axis=0))
    assert np.allclose(out, out[0])  # every position the same


def test_token_id():
    model = load_model(str(FIXTURES / "gpt2-lm"))
    assert token_id(model, "Ġanimal") == model.tokenizer.token_to_id("Ġanimal")
    want = model.tokenizer.token_to_id("Ġanimal")
    assert token_id(model, " animal") == token_id(model, "␣animal") == want
    with pytest.raises(RoleError, match="is not one token"):
        token_id(model, "animalistic crossings")


# ---- the sweep against a plain forward pass per head ----


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_every_head_matches_a_run_with_it_knocked_out(name, mode):
    model = load_model(str(FIXTURES / name))
    found = effects.heads_effect(CASES[name], model, mode=mode)
    ids = [t.id for t in found.tokens]
    assert found.grid.shape == (model.n_layers, model.n_heads)
    assert found.clean == pytest.approx(
        logprob(knocked_logits(model, ids, found.position, [], mode), found.target), abs=1e-6)
    for layer in range(model.n_layers):
        for head in range(model.n_heads):
            row = knocked_logits(model, ids, found.position, [(layer, head)], mode)
            want = logprob(row, found.target) - found.clean
            assert found.grid[layer, head] == pytest.approx(want, abs=2e-5), (layer, head)


@pytest.mark.parametrize("name", ["deberta-v2-mlm", "modernbert-mlm", "mpnet-mlm", "mixtral",
                                  "qwen2_moe", "bloom-lm", "gemma3", "stablelm", "olmo"])
def test_the_sweep_runs_every_family_batched(name):
    """The sweep's batch of streams through a layer gives what one run per head gives, on the
    families whose scores or MLP depend on more than q·k (DeBERTa's terms, routed experts)."""
    model = load_model(str(FIXTURES / name))
    text = MASKED if not model.causal else PRONOUN
    found = effects.heads_effect(text, model)
    ids = [t.id for t in found.tokens]
    for layer, head in [(0, 0), (model.n_layers - 1, model.n_heads - 1)]:
        row = knocked_logits(model, ids, found.position, [(layer, head)])
        want = logprob(row, found.target) - found.clean
        assert found.grid[layer, head] == pytest.approx(want, abs=1e-4), (layer, head)


def test_logit_difference_and_target():
    model = load_model(str(FIXTURES / "gpt2-lm"))
    found = effects.heads_effect(PRONOUN, model, token="Ġthe", vs="Ġstreet")
    assert found.measure == "logit_diff" and found.target_token == "Ġthe"
    ids = [t.id for t in found.tokens]
    the, street = found.target, found.vs
    clean = knocked_logits(model, ids, found.position, [])
    assert found.clean == pytest.approx(float(clean[the] - clean[street]), abs=1e-5)
    row = knocked_logits(model, ids, found.position, [(1, 2)])
    assert found.grid[1, 2] == pytest.approx(float(row[the] - row[street]) - found.clean,
                                             abs=2e-5)


def test_patching_restores_by_hand():
    """Patching a head: the corrupted run with that head's output taken from the clean run,
    worked out with hooks; the restored share is (patched − corrupted) / (clean − corrupted)."""
    model = load_model(str(FIXTURES / "gpt2-lm"))
    corrupt = "The street didn't cross the animal because it"
    found = effects.heads_effect(PRONOUN, model, corrupt=corrupt, vs="c")
    assert found.measure == "restored" and found.mode == "patch"
    ids = [t.id for t in model.tokens(PRONOUN)]
    bad = [t.id for t in model.tokens(corrupt)]
    outputs = []
    model.forward(ids, hooks=Hooks(head_outputs=lambda i, z: outputs.append(z) or z))
    t, v = found.target, found.vs

    def diff(row):
        return float(row[t] - row[v])

    clean = diff(knocked_logits(model, ids, found.position, []))
    corrupted = diff(knocked_logits(model, bad, found.position, []))
    assert found.clean == pytest.approx(clean, abs=1e-5)
    assert found.corrupted == pytest.approx(corrupted, abs=1e-5)
    for layer, head in [(0, 0), (0, 3), (1, 1)]:
        def patch(i, z, layer=layer, head=head):
            if i != layer:
                return z
            z = z.copy()
            z[head] = outputs[layer][head]
            return z

        h, _ = model.forward(bad, hooks=Hooks(head_outputs=patch))
        patched = diff(model.logits(h[[found.position]])[0])
        want = (patched - corrupted) / (clean - corrupted)
        assert found.grid[layer, head] == pytest.approx(want, abs=1e-4), (layer, head)


def test_patching_every_head_of_the_clean_text_restores_it_all():
    """Patching a text into itself restores nothing and changes nothing: refused, since there
    is no logit difference to restore."""
    model = load_model(str(FIXTURES / "gpt2-lm"))
    with pytest.raises(AttnError, match="same logit difference"):
        effects.heads_effect(PRONOUN, model, corrupt=PRONOUN, vs="c")


def test_batched_layer_step_equals_one_stream_at_a_time():
    model = load_model(str(FIXTURES / "olmo2-lm"))  # its q/k norm scales per stream
    ids = [t.id for t in model.tokens(PRONOUN)]
    h = model.hidden_states(ids)[1]
    other = h[::-1].copy()
    attn, rest = model.load_attention(1), model.load_rest(1)
    both = model.layer_step(1, np.stack([h, other]), attn, rest)
    assert np.allclose(both[0], model.layer_step(1, h, attn, rest), atol=1e-6)
    assert np.allclose(both[1], model.layer_step(1, other, attn, rest), atol=1e-6)


# ---- transformers' references ----


def _reference(name):
    path = EFFECTS / f"{name}.npz"
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.mark.parametrize("name", ["gpt2-lm", "llama-lm", "qwen2-lm", "gemma2-lm", "bert-mlm"])
def test_knock_outs_match_transformers(name):
    ref = _reference(name)
    model = load_model(str(FIXTURES / name))
    ids = ref["ids"].tolist()
    assert [t.id for t in model.tokens(str(ref["text"]))] == ids
    position = int(ref["position"])
    assert np.abs(knocked_logits(model, ids, position, []) - ref["clean"]).max() < 1e-4
    for (layer, head), want, want_mean in zip(ref["heads"].tolist(), ref["ablated"],
                                              ref["mean_ablated"], strict=True):
        got = knocked_logits(model, ids, position, [(layer, head)])
        assert np.abs(got - want).max() < 1e-4, (layer, head)
        got = knocked_logits(model, ids, position, [(layer, head)], "mean")
        assert np.abs(got - want_mean).max() < 1e-4, (layer, head)
    pair = [tuple(p) for p in ref["pair"].tolist()]
    got = knocked_logits(model, ids, position, pair)
    assert np.abs(got - ref["pair_ablated"]).max() < 1e-4
    # the sweep gives the same log-probabilities as the references
    found = effects.heads_effect(str(ref["text"]), model)
    for (layer, head), want in zip(ref["heads"].tolist(), ref["ablated"], strict=True):
        assert found.grid[layer, head] == pytest.approx(
            logprob(want, found.target) - logprob(ref["clean"], found.target), abs=1e-4)


@pytest.mark.parametrize("name", ["gpt2-lm", "llama-lm"])
def test_patching_matches_transformers(name):
    ref = _reference(name)
    model = load_model(str(FIXTURES / name))
    text, corrupt = str(ref["text"]), str(ref["corrupt"])
    assert [t.id for t in model.tokens(corrupt)] == ref["corrupt_ids"].tolist()
    clean, corrupted = ref["clean"], ref["corrupt_logits"]
    target = int(np.argmax(clean))
    vs = int(np.argmax(corrupted))
    if vs == target:
        vs = int(np.argsort(corrupted)[-2])
    found = effects.heads_effect(text, model, corrupt=corrupt,
                                 vs=model.tokenizer.id_to_token(vs))
    assert found.target == target and found.position == int(ref["position"])
    gap = float(clean[target] - clean[vs]) - float(corrupted[target] - corrupted[vs])
    for (layer, head), patched in zip(ref["heads"].tolist(), ref["patched"], strict=True):
        want = (float(patched[target] - patched[vs]) - float(corrupted[target] -
                                                             corrupted[vs])) / gap
        assert found.grid[layer, head] == pytest.approx(want, abs=1e-4), (layer, head)


# ---- the CLI ----


def test_predict_ablate_json():
    model = str(FIXTURES / "gpt2-lm")
    doc = ok_json(invoke("predict", PRONOUN, "--model", model, "--ablate", "0.2,1.3", "--json"))
    assert doc["ablation"]["heads"] == [[0, 2], [1, 3]] and doc["ablation"]["mode"] == "zero"
    loaded = load_model(model)
    ids = [t.id for t in loaded.tokens(PRONOUN)]
    row = knocked_logits(loaded, ids, len(ids) - 1, [(0, 2), (1, 3)])
    top = doc["ablation"]["predictions"][0]["top"]
    assert top[0]["id"] == int(np.argmax(row))
    assert top[0]["logit"] == pytest.approx(float(row.max()), abs=1e-5)
    clean = {c["id"]: c["probability"] for c in doc["predictions"][0]["top"]}
    for c in top:  # probability_before is the clean run's
        if c["id"] in clean:
            assert c["probability_before"] == pytest.approx(clean[c["id"]])
    assert len(doc["ablation"]["probability_after"][0]) == len(doc["predictions"][0]["top"])


def test_predict_ablate_masked_lm_mean():
    doc = ok_json(invoke("predict", MASKED, "--model", str(FIXTURES / "bert-mlm"), "--ablate",
                         "1.0", "--ablate-mode", "mean", "--json"))
    assert doc["ablation"]["mode"] == "mean" and doc["kind"] == "mask"
    assert doc["ablation"]["predictions"][0]["position"] == doc["positions"][0]


def test_predict_ablate_view():
    out = ok(invoke("predict", PRONOUN, "--model", str(FIXTURES / "gpt2-lm"), "--ablate",
                    "0.2", width=80))
    assert "Knocked out: 0.2" in out and "as the model runs" in out and "knocked out" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_heads_effect_json():
    doc = ok_json(invoke("heads", PRONOUN, "--model", str(FIXTURES / "gpt2-lm"), "--effect",
                         "--json"))
    assert doc["schema"] == "attncli.effect/1" and doc["measure"] == "logprob"
    grid = np.array(doc["grid"])
    assert grid.shape == (2, 4)
    effects_ranked = [abs(h["effect"]) for h in doc["ranked"]]
    assert effects_ranked == sorted(effects_ranked, reverse=True) and len(effects_ranked) == 8
    for h in doc["ranked"]:
        assert grid[h["layer"], h["head"]] == h["effect"]
    assert doc["most_weight"]["weight"] == max(h["weight"] for h in doc["ranked"])


def test_heads_effect_view_says_whether_weight_and_effect_agree():
    model = load_model(str(FIXTURES / "gpt2-lm"))
    found = effects.heads_effect(PRONOUN, model)
    text = render_text(render_effects.effects(found), width=80)
    best, heavy = found.strongest, found.most_weight
    assert (best.layer, best.head) != (heavy.layer, heavy.head)  # this fixture disagrees
    assert "Weight and effect disagree" in text
    flat = " ".join(text.split())
    assert (f"layer {heavy.layer} head {heavy.head} gives one word (of those not left out) the "
            "most weight") in flat
    assert f"{100 * heavy.weight:.1f}%" in flat and f"{heavy.effect:+.3f}" in flat
    assert f"rank {found.weight_rank} of 8" in flat
    assert all(len(line) <= 80 for line in text.splitlines())
    agree = effects.Effects(**{**found.__dict__, "most_weight": best})
    assert "Weight and effect agree" in render_text(render_effects.effects(agree), width=80)


def test_heads_effect_says_what_each_head_gives_the_tokens_left_out():
    """A head's word is chosen leaving out the predicting token and the first token; the view
    says so and gives what those get, so 5.3% to a word is not read as where the head looks."""
    text = "The animal was tired because it"
    gpt2 = str(FIXTURES / "gpt2-lm")
    doc = ok_json(invoke("heads", text, "--model", gpt2, "--effect", "--json"))
    assert doc["left_out"] == [0, 5]  # “The” (the first token) and “it” (the position)
    row = ok_json(invoke("explain", text, "--model", gpt2, "--layer", "0", "--head", "3",
                         "--json"))["heads"][0]["weights"][5]
    l0h3 = next(h for h in doc["ranked"] if (h["layer"], h["head"]) == (0, 3))
    assert l0h3["left_out_weight"] == pytest.approx(row[0] + row[5])  # 94.6% to “The”
    assert l0h3["weight"] == pytest.approx(max(row[1:5])) and l0h3["key_token"] == "Ġanimal"
    for h in doc["ranked"]:
        assert h["weight"] + h["left_out_weight"] <= 1 + 1e-9
    shown = render_text(render_effects.effects(effects.heads_effect(text, load_model(gpt2))),
                        width=80)
    flat = " ".join(shown.split())
    assert "leaving out “it” itself and “The”" in flat
    assert "-2.698 gives 5.3% to “animal” (left out: 94.6%)" in flat
    assert "which gives 5.3% to “animal” and 94.6% to those left out." in flat


def test_heads_effect_grid_fits_80_columns_for_many_heads():
    grid = np.linspace(-3, 3, 24 * 14).reshape(24, 14)
    text = render_text(render_effects.EffectGrid(grid, percent=False), width=80)
    lines = text.splitlines()
    assert len(lines) == 25 and all(len(line) <= 80 for line in lines)
    assert lines[0].split()[-1] == "13"  # every head shown, with one decimal
    assert "-3.0" in lines[1]


@pytest.mark.parametrize("args, words", [
    (["--effect"], ["--effect goes with --model"]),
    (["--effect", "--model", "M", "--from", "it", "--to", "animal"], ["--from", "--effect"]),
    (["--token", "x", "--model", "M"], ["--token goes with --effect"]),
    (["--effect", "--model", "M", "--corrupt", "The animal"], ["--corrupt is", "tokens"]),
    (["--effect", "--model", "M", "--token", "animalistic crossings"], ["--token",
                                                                        "not one token"]),
    (["--effect", "--model", "M", "--ablate-mode", "max"], ["--ablate-mode", "zero or mean"]),
    (["--effect", "--model", "M", "--corrupt", PRONOUN.replace("animal", "street", 1),
      "--ablate-mode", "mean"], ["--ablate-mode", "--corrupt"]),
    (["--effect", "--model", "M", "--token", "Ġo", "--vs", "Ġo"], ["--vs", "target"]),
])
def test_heads_effect_refusals(args, words):
    args = [str(FIXTURES / "gpt2-lm") if a == "M" else a for a in args]
    refused(invoke("heads", PRONOUN, *args), *words)


def test_effect_needs_an_lm_head_and_one_mask():
    refused(invoke("heads", PRONOUN, "--model", str(FIXTURES / "gpt2"), "--effect"),
            "no LM head")
    refused(invoke("heads", "The [MASK] sat on the [MASK].", "--model",
                   str(FIXTURES / "bert-mlm"), "--effect"), "2 masks")
    refused(invoke("predict", PRONOUN, "--model", str(FIXTURES / "gpt2-lm"), "--ablate", "2.0"),
            "--ablate", "out of range")
    refused(invoke("predict", PRONOUN, "--model", str(FIXTURES / "gpt2-lm"), "--ablate-mode",
                   "mean"), "--ablate-mode goes with --ablate")
