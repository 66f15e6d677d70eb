"""Why the mask hides a key: the causal mask (a later token), the sliding window (too far back)
or the model's own mask; said by masks.reason, and by every view and the JSON after it.

By hand, for 5 tokens and a sliding window of 2 (a query sees itself and the token before):
query 4 may not see key 1 (3 places back, 3 >= 2) nor key 2 (2 places back), may see key 3,
and query 1 may not see key 3 (later)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import FIXTURES, invoke, ok, ok_json

from attncli import masks
from attncli.attention import Variant, causal_mask
from attncli.attention_fast import self_attention

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "attncli" / "explain.schema.json")
                    .read_text(encoding="utf-8"))
GEMMA2 = str(FIXTURES / "gemma2")  # layers 0 and 2 slide with a window of 4, layer 1 does not
GPT2 = str(FIXTURES / "gpt2")
TEXT = "The animal was tired"  # gemma2: <s> The animal was tired, "tired" is 4 after "<s>"


def validate(doc: dict) -> None:
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)


def steps_with(mask: np.ndarray | None, window: int | None = None, causal: bool = False):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(5, 3)), rng.normal(size=(3, 2))
    return self_attention(x, w, w, w, variant=Variant(mask=mask, window=window, causal=causal))


def window_mask(n: int, window: int) -> np.ndarray:
    return causal_mask(n) | np.tril(np.ones((n, n), dtype=bool), k=-window)


def test_each_masked_entry_gets_its_reason_worked_by_hand() -> None:
    s = steps_with(window_mask(5, 2), window=2)
    assert masks.reason(s, 4, 1) == masks.MaskReason("sliding_window", 4, 1, 2)
    assert masks.reason(s, 4, 1).distance == 3
    assert masks.reason(s, 4, 2).kind == "sliding_window"  # 2 back: the window's edge
    assert masks.reason(s, 4, 3) is None and masks.reason(s, 4, 4) is None
    assert masks.reason(s, 1, 3) == masks.MaskReason("causal", 1, 3)
    assert masks.reason(s, 1, 3).distance == -2
    assert masks.row_kinds(s, 4) == ["sliding_window"]  # the last query has nothing later
    assert masks.row_kinds(s, 0) == ["causal"]
    assert masks.row_kinds(s, 1) == ["causal"]  # key 0 is 1 back: inside the window
    assert masks.kinds(s) == ["causal", "sliding_window"]
    assert masks.mask_kind(s) == "sliding_window"


def test_a_mask_by_no_known_rule_is_the_models_own() -> None:
    own = np.zeros((5, 5), dtype=bool)
    own[3, 0] = True  # an earlier key hidden, with no window to say why
    s = steps_with(own)
    assert masks.reason(s, 3, 0) == masks.MaskReason("model", 3, 0)
    assert masks.mask_kind(s) == "model" and masks.kinds(s) == ["model"]


def test_the_heads_mask_kind() -> None:
    assert masks.mask_kind(steps_with(None)) == "none"
    assert masks.mask_kind(steps_with(None, causal=True)) == "causal"
    assert masks.mask_kind(steps_with(causal_mask(5))) == "causal"  # given as a mask: the same
    assert masks.kinds(steps_with(None)) == []


def test_a_kept_row_gets_the_same_reasons_as_in_the_whole_run() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(8, 3)), rng.normal(size=(3, 2))
    variant = Variant(mask=window_mask(8, 3), window=3)
    whole = self_attention(x, w, w, w, variant=variant)
    some = self_attention(x, w, w, w, variant=variant, rows=[6])
    assert [masks.reason(some, 6, j) for j in range(8)] == \
        [masks.reason(whole, 6, j) for j in range(8)]
    assert masks.kinds(some) == ["causal", "sliding_window"]


# ---------------------------------------------------------------- a sliding-window model


def test_the_pair_view_says_the_sliding_window_hides_a_key_too_far_back() -> None:
    out = " ".join(ok(invoke("explain", TEXT, "--model", GEMMA2, "--from", "tired", "--to",
                             "<s>")).split())
    assert "“<s>” is 4 places before “tired”, and this layer's sliding window of 4 hides " \
           "keys 4 or more places back" in out
    assert "comes after" not in out and "causal mask" not in out
    assert "— masked: a token 4 or more places back, outside this layer's sliding window " \
           "of 4; left out of the sum." in out


def test_focus_on_a_sliding_window_layer_names_the_window() -> None:
    out = " ".join(ok(invoke("explain", TEXT, "--model", GEMMA2, "--focus", "tired")).split())
    assert "outside this layer's sliding window of 4" in out
    assert "causal mask" not in out  # the last token has no later token to hide


def test_the_global_layer_of_the_same_model_hides_only_later_tokens() -> None:
    out = " ".join(ok(invoke("explain", TEXT, "--model", GEMMA2, "--layer", "1", "--from",
                             "animal", "--to", "tired")).split())
    assert "“tired” comes after “animal”, and the causal mask hides later tokens" in out
    assert "sliding window" not in out


def test_json_gives_each_heads_mask_and_the_pairs_reason_with_the_window() -> None:
    doc = ok_json(invoke("explain", TEXT, "--model", GEMMA2, "--layer", "all", "--from",
                         "tired", "--to", "<s>", "--json"))
    validate(doc)
    kinds = {(h["layer"], h["mask_kind"], h.get("window")) for h in doc["heads"]}
    assert kinds == {(0, "sliding_window", 4), (1, "causal", None), (2, "sliding_window", 4)}
    assert doc["pair"]["layer"] == 0 and doc["pair"]["masked"] is True
    assert doc["pair"]["mask_reason"] == {"kind": "sliding_window", "distance": 4, "window": 4}


# ---------------------------------------------------------------- a plain decoder


def test_a_plain_decoder_says_the_causal_mask_hides_a_later_token() -> None:
    out = " ".join(ok(invoke("explain", TEXT, "--model", GPT2, "--from", "The", "--to",
                             "tired")).split())
    assert "“tired” comes after “The”, and the causal mask hides later tokens" in out
    assert "— masked: a later token, hidden by the causal mask; left out of the sum." in out
    assert "sliding window" not in out
    focus = " ".join(ok(invoke("explain", TEXT, "--model", GPT2, "--focus", "The")).split())
    assert "— masked: a later token, hidden by the causal mask" in focus
    assert "sliding window" not in focus


def test_json_of_a_plain_decoder_gives_the_causal_reason() -> None:
    doc = ok_json(invoke("explain", TEXT, "--model", GPT2, "--from", "The", "--to", "tired",
                         "--json"))
    validate(doc)
    assert {h["mask_kind"] for h in doc["heads"]} == {"causal"}
    assert all("window" not in h for h in doc["heads"])
    reason = doc["pair"]["mask_reason"]
    assert reason == {"kind": "causal", "distance": doc["pair"]["from"] - doc["pair"]["to"]}
    assert reason["distance"] < 0


@pytest.mark.parametrize("args", [("--from", "tired", "--to", "The"), ("--focus", "tired")])
def test_an_unmasked_pair_or_an_encoder_has_no_reason(args: tuple[str, ...]) -> None:
    doc = ok_json(invoke("explain", TEXT, "--model", str(FIXTURES / "bert"), *args, "--json"))
    validate(doc)
    assert {h["mask_kind"] for h in doc["heads"]} == {"none"}
    assert "mask_reason" not in doc.get("pair", {})
