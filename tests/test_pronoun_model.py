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
    from attncli.models.hub import resolve

    monkeypatch.chdir(tmp_path)
    assert resolve("sample_weights/pronoun-lm") == SHIPPED


# ---------------------------------------------------------------- the demo's part 5


def demo_part() -> list:
    from attncli import demo

    screens = demo.lesson()
    return [(n, s, len(screens)) for n, s in enumerate(screens, start=1)
            if s.part.startswith("Part 5 · Does a head matter?")]


def test_the_demo_part_quotes_the_numbers_the_runs_give(model) -> None:
    ef = heads_effect(TEXT, model)
    positional, linking = (next(e for e in ef.ranked if (e.layer, e.head) == (0, h))
                           for h in (0, 1))
    knocked = ablate(TEXT, model, [(0, 1)])
    screens = demo_part()
    assert [s.title for _, s, _ in screens] == [
        "A model that predicts the next word", "Knock out one head at a time",
        "Which head matters?"]
    words = " ".join(" ".join(s.text().split()) for _, s, _ in screens)
    assert f"layer 0 head 0 gives {100 * positional.weight:.1f}% of its weight to 'it', " \
           "the word just before" in words
    assert f"layer 0 head 1 gives {100 * linking.weight:.1f}% of its weight to 'animal'" in words
    after = knocked.predictions[-1].top[0]
    assert (f"without layer 0 head 1, 'wide' {100 * after.probability:.1f}% (another top "
            f"word), a change in log p('tired') of {linking.effect:+.3f}") in words
    assert "Here they disagree:" in words
    assert f"but without it log p changes by {positional.effect:+.3f}" in words


def test_the_demo_part_fits_80_by_24() -> None:
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=80, height=24,
                      color_system=None)
    screens = demo_part()
    assert len(screens) == 3
    seen = ""
    for n, screen, total in screens:
        for page in screen.pages(n, total, console, 23):  # 23: the footer's line
            lines = ["".join(seg.text for seg in line).rstrip()
                     for line in console.render_lines(page, console.options, pad=False)]
            assert len(lines) <= 23 and max(map(len, lines)) <= 80, (n, screen.title)
            seen += "\n".join(lines)
    assert "Weight and effect disagree: layer 0 head 0" in " ".join(seen.split())
    assert "“it” in layer 0 head 1:" in seen
    side_by_side = [line for line in seen.splitlines() if "“was” in layer 0 head 0:" in line]
    assert side_by_side and "“was” in layer 0 head 1:" in side_by_side[0]
