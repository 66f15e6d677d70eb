"""The encoder families of issue 28 and ALiBi: each fixture matches transformers (every layer
and head, float32 and float64, and the LM head's logits), predicts through the CLI, and each
new way of scoring counts: with it taken out of the code, parity with the reference breaks.

Each fixture is one checkpoint with its LM head (scripts/make_model_fixtures.py, the block
"encoder families and ALiBi").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, invoke, layer_diffs, ok_json, reference

from attncli.attention import Variant
from attncli.models import FAMILIES, load_model

PARITY = 1e-5  # float32 against transformers' float32
PARITY64 = 1e-6  # --float64 against transformers run in float64
LOGITS = 1e-4  # as tests/test_predict.py
# fixture -> its model_type
NEW = {"mpnet-mlm": "mpnet", "camembert-mlm": "camembert", "albert-mlm": "albert",
       "bloom-lm": "bloom", "mpt-lm": "mpt", "modernbert-mlm": "modernbert",
       "deberta-v2-mlm": "deberta-v2"}


def config_type(name: str) -> str:
    import json

    return str(json.loads((FIXTURES / name / "config.json").read_text())["model_type"])


@pytest.mark.parametrize("name", sorted(NEW))
def test_registered_small_and_every_head_matches(name: str) -> None:
    assert config_type(name) == NEW[name] and NEW[name] in FAMILIES
    size = sum(f.stat().st_size for f in (FIXTURES / name).iterdir())
    assert size < 120_000, f"{name}: {size} bytes"
    assert max(layer_diffs(FIXTURES / name, name)) <= PARITY


@pytest.mark.parametrize("name", sorted(NEW))
def test_float64_and_logits_match(name: str) -> None:
    ref = reference(name)
    model = load_model(str(FIXTURES / name))
    h, weights = model.forward(ref["input_ids"], float64=True)
    assert max(float(np.abs(w - r).max()) for w, r in zip(weights, ref["attentions64"],
                                                          strict=True)) <= PARITY64
    h, _ = model.forward(ref["input_ids"])
    got = model.logits(h)  # (n, vocab)
    want = ref["logits"]
    if model.causal:
        got = got[-1]  # a decoder's reference holds the last position's
    assert got.shape == want.shape and float(np.abs(got - want).max()) < LOGITS


@pytest.mark.parametrize("name", sorted(NEW))
def test_predict_through_the_cli(name: str) -> None:
    text = str(reference(name)["text"])
    doc = ok_json(invoke("predict", text, "--model", str(FIXTURES / name), "--json"))
    assert doc["predictions"] and doc["predictions"][0]["top"]


def without(monkeypatch: pytest.MonkeyPatch, cls: type, method: str, change) -> None:
    """cls.method with its result changed by change(result)."""
    original = getattr(cls, method)
    monkeypatch.setattr(cls, method, lambda self, *a, **k: change(original(self, *a, **k)))


def breaks(name: str) -> float:
    """The worst difference from the reference, for the code as it now is."""
    return max(layer_diffs(FIXTURES / name, name))


def test_mpnet_without_its_relative_bias_no_longer_matches(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from attncli.models.mpnet import MPNet

    assert breaks("mpnet-mlm") <= PARITY
    without(monkeypatch, MPNet, "variant", lambda v: Variant(mask=v.mask))
    assert breaks("mpnet-mlm") > 100 * PARITY


def test_mpnet_shows_its_bias_in_the_json() -> None:
    text = str(reference("mpnet-mlm")["text"])
    doc = ok_json(invoke("explain", text, "--model", str(FIXTURES / "mpnet-mlm"), "--json",
                         "--layer", "1", "--head", "2"))
    (head,) = doc["heads"]
    bias = np.array(head["score_bias"], dtype=float)
    scores = np.array(head["scores"], dtype=float)
    np.testing.assert_allclose(np.array(head["scaled"], dtype=float),
                               scores / np.sqrt(8) + bias, atol=1e-12)
    assert doc["config"]["positions"] == "learned+relative"
    assert len({round(b, 9) for b in bias[3]}) > 3  # the bias differs along a row


def test_fixtures_are_below_their_budget() -> None:
    total = sum(f.stat().st_size for f in Path(FIXTURES).parent.rglob("*") if f.is_file())
    assert total < 15_000_000


def test_albert_layers_run_their_groups_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models.albert import Albert

    model = load_model(str(FIXTURES / "albert-mlm"))
    assert [model.group(i) for i in range(3)] == [0, 0, 1]  # int(i / 1.5)
    monkeypatch.setattr(Albert, "group", lambda self, i: min(i, self.groups - 1))
    assert breaks("albert-mlm") > 100 * PARITY


def test_albert_with_several_inner_layers_is_refused(tmp_path: Path) -> None:
    import shutil

    from conftest import edit_config

    from attncli.errors import AttnError

    d = shutil.copytree(FIXTURES / "albert-mlm", tmp_path / "albert")
    edit_config(d, inner_group_num=2)
    with pytest.raises(AttnError, match="inner_group_num"):
        load_model(str(d))


@pytest.mark.parametrize("kind", ["relative_key", "relative_key_query"])
def test_bert_with_relative_key_positions_is_refused_saying_why(kind: str, tmp_path: Path
                                                                ) -> None:
    import shutil

    from conftest import edit_config

    from attncli.errors import AttnError

    d = shutil.copytree(FIXTURES / "bert", tmp_path / "bert")
    edit_config(d, position_embedding_type=kind)
    with pytest.raises(AttnError, match=f"'{kind}': transformers 5 no longer runs"):
        load_model(str(d))


# ---- ALiBi ----


def test_alibi_slopes_as_each_family_makes_them() -> None:
    from attncli.models.alibi import bloom_slopes, mpt_slopes

    assert bloom_slopes(4).tolist() == [1 / 4, 1 / 16, 1 / 64, 1 / 256]
    assert bloom_slopes(8).tolist() == [0.5 ** k for k in range(1, 9)]
    # 3 heads: 2's series (2^-4, 2^-8), then the first odd power of 4's series (2^-2)
    assert bloom_slopes(3).tolist() == [1 / 16, 1 / 256, 1 / 4]
    assert mpt_slopes(4).tolist() == [1 / 4, 1 / 16, 1 / 64, 1 / 256]
    # 3 heads: 4's slopes, the odd-numbered ones first
    assert mpt_slopes(3).tolist() == [1 / 16, 1 / 256, 1 / 4]


@pytest.mark.parametrize(("name", "module", "cls"), [("bloom-lm", "bloom", "Bloom"),
                                                     ("mpt-lm", "mpt", "MPT")])
def test_without_alibi_it_no_longer_matches(name: str, module: str, cls: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    family = getattr(importlib.import_module(f"attncli.models.{module}"), cls)
    assert breaks(name) <= PARITY
    without(monkeypatch, family, "variant",
            lambda v: Variant(scale=v.scale, mask=v.mask))
    assert breaks(name) > 100 * PARITY


def test_alibi_is_a_labelled_step_with_its_slope() -> None:
    from conftest import ok

    text, model = str(reference("bloom-lm")["text"]), str(FIXTURES / "bloom-lm")
    doc = ok_json(invoke("explain", text, "--model", model, "--json", "--head", "all"))
    n = len(doc["tokens"])
    distance = np.arange(n)[None, :] - np.arange(n)[:, None]  # key − query
    for head, slope in zip(doc["heads"], [1 / 16, 1 / 256, 1 / 4], strict=True):
        assert head["alibi_slope"] == slope
        bias = np.array(head["score_bias"], dtype=float)
        np.testing.assert_array_equal(np.tril(bias), np.tril(slope * distance))
    assert doc["config"]["positions"] == "alibi"
    out = ok(invoke("explain", text, "--model", model, "--head", "2"))
    assert "ALiBi bias = slope × (key − query), slope 0.25" in out
    pair = ok(invoke("explain", text, "--model", model, "--head", "2", "--from", "cross",
                     "--to", "tired"))
    assert "slope 0.25 × (2 − 5)" in " ".join(pair.split())


# ---- ModernBERT ----


def test_modernbert_without_its_local_window_no_longer_matches(monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    from attncli.models.modernbert import ModernBert

    assert breaks("modernbert-mlm") <= PARITY
    monkeypatch.setattr(ModernBert, "mask", lambda self, n, i: None)
    assert breaks("modernbert-mlm") > 100 * PARITY


def test_modernbert_with_one_rope_base_no_longer_matches(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from attncli.models.modernbert import ModernBert
    from attncli.models.rope import rope

    monkeypatch.setattr(ModernBert, "rotation",
                        lambda self, n, i: rope(n, self.scalings["full_attention"].inv_freq))
    assert breaks("modernbert-mlm") > 100 * PARITY


def test_modernbert_reads_the_older_config_form(tmp_path: Path) -> None:
    import json
    import shutil

    d = shutil.copytree(FIXTURES / "modernbert-mlm", tmp_path / "modernbert")
    config = json.loads((d / "config.json").read_text())
    del config["layer_types"], config["rope_parameters"]  # as ModernBERT-base's config.json
    config.update(global_rope_theta=160000.0, local_rope_theta=10000.0)
    (d / "config.json").write_text(json.dumps(config))
    assert max(layer_diffs(d, "modernbert-mlm")) <= PARITY


def test_modernbert_local_window_is_named_in_the_json() -> None:
    text = str(reference("modernbert-mlm")["text"])
    doc = ok_json(invoke("explain", text, "--model", str(FIXTURES / "modernbert-mlm"),
                         "--json", "--layer", "all", "--from", "tired", "--to", "cross"))
    kinds = [(h["layer"], h["mask_kind"], h.get("window")) for h in doc["heads"]]
    assert kinds == [(0, "none", None), (1, "local_window", 3)]
    pair = ok_json(invoke("explain", text, "--model", str(FIXTURES / "modernbert-mlm"),
                          "--json", "--layer", "1", "--from", "tired", "--to", "cross"))["pair"]
    assert pair["mask_reason"] == {"kind": "local_window", "distance": -5, "window": 3}
    weights = np.array(doc["heads"][1]["weights"], dtype=float)
    far = np.abs(np.arange(len(weights))[None, :] - np.arange(len(weights))[:, None]) >= 3
    assert (weights[far] == 0).all() and (weights[~far] > 0).all()


# ---- DeBERTa-v2 ----


@pytest.mark.parametrize("term", ["c2p", "p2c"])
def test_deberta_without_one_position_term_no_longer_matches(term: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from dataclasses import replace

    from attncli.models.deberta_v2 import DebertaV2

    assert breaks("deberta-v2-mlm") <= PARITY

    def dropped(v: Variant) -> Variant:
        kept = tuple((name, t) for name, t in v.score_terms if name != term)
        assert len(kept) == 1
        return replace(v, score_bias=kept[0][1], score_terms=kept)

    without(monkeypatch, DebertaV2, "variant", dropped)
    assert breaks("deberta-v2-mlm") > 100 * PARITY


def test_deberta_log_buckets_as_transformers_makes_them() -> None:
    from attncli.models.deberta_v2 import log_buckets

    # buckets 8 (mid 4), max position 24: |d| <= 4 as it is, then
    # ceil(log(|d| / 4) / log(23 / 4) · 3) + 4, signed
    d = np.arange(-10, 11)
    want = [int(np.sign(x)) * (abs(x) if abs(x) <= 4 else int(np.ceil(
        np.log(abs(x) / 4) / np.log(23 / 4) * 3)) + 4) for x in d]
    assert log_buckets(d, 8, 24).tolist() == want
    assert log_buckets(d, 8, 24)[[0, 5, 10, 15, 20]].tolist() == [-6, -5, 0, 5, 6]


def test_deberta_terms_are_labelled_steps_with_their_numbers() -> None:
    from conftest import ok

    text, model = str(reference("deberta-v2-mlm")["text"]), str(FIXTURES / "deberta-v2-mlm")
    doc = ok_json(invoke("explain", text, "--model", model, "--json", "--layer", "1",
                         "--head", "3", "--from", "tired", "--to", "cross"))
    (head,) = doc["heads"]
    c2p, p2c = (np.array(head["score_terms"][k], dtype=float) for k in ("c2p", "p2c"))
    np.testing.assert_allclose(np.array(head["score_bias"], dtype=float), c2p + p2c, atol=1e-12)
    assert head["scale"] == pytest.approx(1 / np.sqrt(8 * 3))
    pair = doc["pair"]
    i, j = pair["from"], pair["to"]
    assert pair["bias_terms"] == {"c2p": c2p[i, j], "p2c": p2c[i, j]}
    assert pair["bias"] == pytest.approx(c2p[i, j] + p2c[i, j], abs=1e-12)
    out = " ".join(ok(invoke("explain", text, "--model", model, "--layer", "1", "--head", "3",
                             "--show", "scaled")).split())
    assert "Step 4a″ · + c2p + p2c, DeBERTa's position terms" in out
    assert "c2p (11×11)" in out and "p2c (11×11)" in out


@pytest.mark.parametrize(("name", "terms"), [("deberta-v2-mlm", {"c2p", "p2c"}),
                                             ("bloom-lm", set()), ("mpnet-mlm", set())])
def test_focus_shows_the_bias_in_each_row(name: str, terms: set[str]) -> None:
    from conftest import ok

    text, model = str(reference(name)["text"]), str(FIXTURES / name)
    doc = ok_json(invoke("explain", text, "--model", model, "--json", "--layer", "1",
                         "--head", "2", "--focus", "tired"))
    (row,) = doc["focus"]
    (head,) = doc["heads"]
    bias = np.array(head["score_bias"], dtype=float)[row["query"]]
    np.testing.assert_array_equal(np.array(row["bias"], dtype=float), bias)
    assert set(row.get("bias_terms", {})) == terms
    assert ("alibi_slope" in row) == (name == "bloom-lm")
    out = ok(invoke("explain", text, "--model", model, "--layer", "1", "--head", "2",
                    "--focus", "tired"))
    assert "already includes the" in out and all(t in out for t in terms)
