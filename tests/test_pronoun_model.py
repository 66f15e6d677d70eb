"""The designed pronoun model (sample_weights/pronoun-lm, scripts/make_pronoun_model.py):
its story holds when attncli runs it, and the script writes the committed files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from attncli.effects import ablate, heads_effect
from attncli.models import load_model

ROOT = Path(__file__).resolve().parent.parent
TOP = ROOT / "sample_weights" / "pronoun-lm"
SHIPPED = ROOT / "attncli" / "sample_weights" / "pronoun-lm"
TEXT = "The animal didn't cross the street because it was"
FILES = ("config.json", "model.safetensors", "tokenizer.json")


def script():
    spec = importlib.util.spec_from_file_location("make_pronoun_model",
                                                  ROOT / "scripts" / "make_pronoun_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_writes_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    script().write(tmp_path)
    for name in FILES:
        made = (tmp_path / name).read_bytes()
        assert made == (TOP / name).read_bytes(), f"run scripts/make_pronoun_model.py ({name})"
        assert made == (SHIPPED / name).read_bytes(), f"copy {name} into {SHIPPED}"


@pytest.fixture(scope="module")
def model():
    return load_model(str(TOP))


def test_the_positional_head_has_the_most_weight_and_the_linking_head_the_effect(model) -> None:
    ef = heads_effect(TEXT, model)
    labels = [t.label(TEXT).strip() for t in ef.tokens]
    assert ef.target_token == "tired"
    positional, linking = (next(e for e in ef.ranked if (e.layer, e.head) == (0, h))
                           for h in (0, 1))
    assert labels[positional.key] == "it"  # the word before 'was'
    assert labels[linking.key] == "animal"
    assert (ef.most_weight.layer, ef.most_weight.head) == (0, 0)
    assert positional.weight > linking.weight
    assert abs(positional.effect) < 0.1 < 1.0 < -linking.effect
    assert (ef.strongest.layer, ef.strongest.head) == (0, 1) and ef.weight_rank == 2


def test_knocking_out_the_linking_head_changes_the_prediction_and_the_other_does_not(
        model) -> None:
    for heads, top in (([(0, 0)], "tired"), ([(0, 1)], "wide")):
        ab = ablate(TEXT, model, heads)
        assert ab.clean.predictions[-1].top[0].token == "tired"
        assert ab.predictions[-1].top[0].token == top


def test_from_it_the_linking_head_looks_at_animal_more_than_at_street(model) -> None:
    from attncli.explain import explain_model

    ex = explain_model(TEXT, model, [0], [1])
    labels = [lab.strip() for lab in ex.labels]
    row = ex.heads[0].steps.weights[labels.index("it")]
    assert row.argmax() == labels.index("animal")
    assert row[labels.index("animal")] > 4 * row[labels.index("street")]


def test_sample_weights_slash_name_finds_the_shipped_model_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.models.checkpoint import resolve

    monkeypatch.chdir(tmp_path)
    assert resolve("sample_weights/pronoun-lm") == SHIPPED
