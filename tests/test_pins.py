"""What `attn explain --model` shows, pinned to transformers' own numbers, head by head.

The attention weights alone cannot catch every mistake in the numbers on screen: a key bias
adds the same q·b_K to every score of a query, which softmax cancels, and RoPE turns q and k
by their positions, so starting the positions at 1 leaves every q·k (and weight) as it was.
Each fixture's pins.npz (scripts/make_model_fixtures.py --pins, tests/fixtures/models/
README.md) holds what transformers' eager_attention_forward itself received and computed:
q, k and v after their biases, norms and RoPE, q·kᵀ before the scaling, the scaling, and the
softmax's input (scaled, soft-capped, biased and masked). The tests read attncli's numbers
from `--json`, as a person or a script receives them, and compare every layer and head.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, PARITY, copy_that_matches, invoke, layer_diffs, ok_json
from test_fixtures_catch_bugs import rewrite

PINNED = ["bert", "roberta", "xlm-roberta", "distilbert", "electra", "gpt2", "gpt2-layer-scale",
          "opt", "gpt_neox", "llama", "llama-linear", "llama-dynamic", "llama-yarn",
          "llama-llama3", "mistral", "qwen2", "qwen3", "phi3", "phi3-longrope",
          "phi3-longrope-short", "olmo2", "gemma", "gemma2", "gemma3_text", "t5", "mt5", "umt5"]
PINNED += ["phi", "gptj", "gpt_bigcode", "starcoder2", "olmo"]  # issue 28's decoders
PINNED += ["stablelm", "cohere", "smollm3", "gemma3", "granite"]  # i28-more
PINNED += ["helium"]
PINNED += ["bart", "mbart", "marian", "pegasus"]  # issue 28's BART-like encoder-decoders
SEQ2SEQ = {"t5", "mt5", "umt5"}  # encoder self-attention, decoder self- and cross-attention
SEQ2SEQ |= {"bart", "mbart", "marian", "pegasus"}  # the same three, without a position bias
# opt multiplies the query by head_dim^-0.5 before q·kᵀ and passes transformers' attention a
# scaling of 1; attncli shows the lesson's order (q, then q·k, then ÷√d_k): its q and scores
# are transformers' divided by √d_k
QUERY_SCALED = {"opt"}
# Both sides run in float32, summing in different orders, and a later layer's input already
# differs by float32 rounding. An absolute 1e-5 holds where the numbers are a few units, but
# q·k runs to tens or hundreds, where one float32 step is several 1e-6: each value may also be
# off by RTOL times the largest |value| in its head's matrix (about 50 float32 steps of it:
# numpy 1.21's OpenBLAS, the lowest CI job's, sums in another order than numpy 2's and puts
# electra's scaled scores at 1.1 times a bound of 32 steps).
ATOL, RTOL = 1e-5, 6e-6
HIDDEN = -1e30  # transformers hides a key by adding float32's lowest, -3.4e38, to its logit
QUANTITIES = ("q", "k", "v", "scores", "scaled", "score_bias")


def pins(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / name / "pins.npz", allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def reference_text(name: str) -> tuple[str, str | None]:
    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        return str(npz["text"]), (str(npz["target"]) if "target" in npz.files else None)


def stacks(name: str) -> list[str]:
    """The prefixes of pins.npz's arrays that this fixture has."""
    return ["", "decoder_", "cross_"] if name in SEQ2SEQ else [""]


def shown(directory: Path, name: str, prefix: str = "") -> dict:
    """attncli's --json for every layer and head of one attention ("" the model's own, or an
    encoder's; "decoder_" or "cross_" an encoder-decoder's decoder), as arrays per quantity,
    indexed [layer][head]."""
    text, target = reference_text(name)
    args = ["explain", text, "--model", str(directory), "--layer", "all", "--head", "all",
            "--json"]
    if prefix:
        args += ["--target", target, "--attention", "self" if prefix == "decoder_" else "cross"]
    doc = ok_json(invoke(*args))
    found: dict = {"d_k": doc["config"]["d_k"], "heads": {}}
    for head in doc["heads"]:
        arrays = {key: np.array([[math.nan if x is None else x for x in row]
                                 for row in head[key]], dtype=np.float64)
                  for key in QUANTITIES if key in head}
        arrays["scale"] = head.get("scale", 1 / math.sqrt(doc["config"]["d_k"]))
        found["heads"][head["layer"], head["head"]] = arrays
    return found


def differences(directory: Path, name: str, prefix: str = "") -> dict[str, float]:
    """For each quantity, the largest |attncli's - transformers'| over every layer and head,
    as a multiple of ATOL + RTOL · (the largest |transformers'| in that head's matrix): a value
    above 1 fails. "masks" is 1 if a key attncli hides is one transformers shows, or back."""
    pin = pins(name)
    got = shown(directory, name, prefix)
    layers, heads = pin[prefix + "q"].shape[:2]
    assert sorted(got["heads"]) == [(i, h) for i in range(layers) for h in range(heads)]
    group = heads // pin[prefix + "k"].shape[1]  # query heads per key/value head
    worst: dict[str, float] = {"masks": 0.0}

    def note(key: str, ours: np.ndarray, theirs: np.ndarray) -> None:
        assert ours.shape == theirs.shape, (key, ours.shape, theirs.shape)
        assert np.isfinite(ours).all() and np.isfinite(theirs).all(), key  # no NaN slips by
        excess = np.abs(ours - theirs) / (ATOL + RTOL * np.abs(theirs).max())
        worst[key] = max(worst.get(key, 0.0), float(excess.max()))

    for (layer, head), ours in got["heads"].items():
        scaling = float(pin[prefix + "scaling"][layer])
        query_scale = 1.0
        if name in QUERY_SCALED:
            assert scaling == 1.0
            query_scale = ours["scale"]
        else:
            assert math.isclose(ours["scale"], scaling, rel_tol=1e-12), (ours["scale"], scaling)
        note("q", ours["q"] * query_scale, pin[prefix + "q"][layer, head])
        note("k", ours["k"], pin[prefix + "k"][layer, head // group])
        note("v", ours["v"], pin[prefix + "v"][layer, head // group])
        note("scores", ours["scores"] * query_scale, pin[prefix + "scores"][layer, head])
        logits = pin[prefix + "logits"][layer, head]
        hidden, ours_hidden = logits < HIDDEN, np.isnan(ours["scaled"])  # JSON null: −∞
        worst["masks"] = max(worst["masks"], float((ours_hidden != hidden).any()))
        either = hidden | ours_hidden
        note("scaled", np.where(either, 0, ours["scaled"]), np.where(either, 0, logits))
        if prefix + "position_bias" in pin:
            note("score_bias", ours["score_bias"], pin[prefix + "position_bias"][layer, head])
    return worst


def test_every_fixture_family_is_pinned() -> None:
    have = sorted(p.parent.name for p in FIXTURES.glob("*/pins.npz"))
    assert have == sorted(PINNED)


@pytest.mark.parametrize("name, prefix", [(name, prefix) for name in PINNED
                                          for prefix in stacks(name)])
def test_what_explain_shows_is_what_transformers_computes(name: str, prefix: str) -> None:
    worst = differences(FIXTURES / name, name, prefix)
    compared = {"masks", "q", "k", "v", "scores", "scaled"}
    if name in {"t5", "mt5", "umt5"} and prefix != "cross_":  # t5's relative bias, per head
        compared.add("score_bias")
    assert set(worst) == compared, worst
    assert all(excess <= 1 for excess in worst.values()), worst


# ---- the mistakes that the attention weights cannot see ----


def test_bert_without_its_key_bias_shows_other_keys_and_scores(tmp_path: Path) -> None:
    # The loader skipping bert's key bias, played by a copy whose key biases are 0: every
    # attention weight still matches transformers' (q·b_K is one shift per query, which softmax
    # cancels), but K, q·k and the scaled scores on screen are no longer transformers'.
    d = copy_that_matches("bert", tmp_path)
    assert differences(d, "bert")["k"] <= 1
    changed = rewrite(d, lambda key, values: values * 0 if key.endswith(".self.key.bias")
                      else None)
    assert changed == [f"encoder.layer.{i}.attention.self.key.bias" for i in (0, 1)]
    assert max(layer_diffs(d, "bert")) <= PARITY  # the weights-only check passes
    worst = differences(d, "bert")
    assert worst["k"] > 100 and worst["scores"] > 100 and worst["scaled"] > 100, worst
    assert worst["q"] <= 1 and worst["v"] <= 1 and worst["masks"] == 0, worst


def rope_from_1(original: Callable) -> Callable:
    """rope() with positions 1, 2, …, n in place of 0, 1, …, n - 1: the rotation of n + 1
    positions, applied to the rows with an empty row put before them."""
    def rope(n: int, *args: object, **kwargs: object) -> Callable[[np.ndarray], np.ndarray]:
        rotate = original(n + 1, *args, **kwargs)

        def shifted(t: np.ndarray) -> np.ndarray:
            padded = np.concatenate([np.zeros_like(t[..., :1, :]), t], axis=-2)
            return rotate(padded)[..., 1:, :]
        return shifted
    return rope


@pytest.mark.parametrize("name", ["llama", "gpt_neox", "gemma3_text"])
def test_rope_positions_from_1_show_other_queries_and_keys(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # RoPE turns q_i by i·θ and k_j by j·θ, so q_i·k_j depends on i - j only: positions
    # starting at 1 leave every score and weight as it was, and turn every q and k shown.
    from attncli.models import rope as rope_module

    d = copy_that_matches(name, tmp_path)
    assert max(differences(d, name).values()) <= 1  # before the mutant: q and k match
    original = rope_module.rope
    patched = [module for module in list(sys.modules.values())
               if module is not None and module.__name__.startswith("attncli.")
               and getattr(module, "rope", None) is original]
    assert patched, "no module calls attncli.models.rope.rope"
    mutant = rope_from_1(original)
    for module in patched:
        monkeypatch.setattr(module, "rope", mutant)
    # the mutant's rotation is rope()'s shifted by one place
    x = np.ones((3, 8), dtype=np.float32)
    inv_freq = np.array([1.0, 0.1, 0.01, 0.001], dtype=np.float32)
    np.testing.assert_array_equal(mutant(3, inv_freq)(x), original(4, inv_freq)(
        np.ones((4, 8), dtype=np.float32))[1:])
    assert max(layer_diffs(d, name)) <= PARITY  # the weights-only check passes
    worst = differences(d, name)
    assert worst["q"] > 100 and worst["k"] > 100, worst
    assert worst["v"] <= 1 and worst["masks"] == 0, worst
