"""Hostile config.json values, swept from each family's table of validated fields (issue 21).

Every fixture is opened once to learn the fields its family reads (Model.fields: each field's
kind and bounds, recorded by attncli/models/config.py's readers); each field is then set, one
at a time, to values at its bounds and beyond them: the wrong type, negative, zero, huge
(1e39, 2**64), NaN-like strings, lists where numbers go, null. A field that a family starts
reading joins the sweep by itself.

Each case runs one command in-process (explain --json; for a T5, its decoder with --target;
for a fixture with an LM head, predict --json as well when explain works). What may come
out: exit 0 with nothing on stderr, or exit 2 with one line on stderr. A value outside the
field's bounds must be refused, naming the field. pytest turns numpy's RuntimeWarnings into
errors (pyproject.toml), which the CLI would report as an internal error, exit 1: so a case
that warns fails here. A few cases also run as real processes, where a warning would reach
stderr as text.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, invoke, limited

from attncli.cli.sources import _load_model
from attncli.models import load_model
from attncli.models.config import Field

TEXT = "The animal was tired"
LM = {"gpt2-lm": TEXT, "llama-lm": TEXT, "qwen2-lm": TEXT, "phi3-lm": TEXT, "olmo2-lm": TEXT,
      "gemma2-lm": TEXT, "bert-mlm": "The animal was [MASK]",
      "roberta-mlm": "The animal was <mask>"}
SEQ2SEQ = ("t5", "t5-v1_1", "mt5", "umt5", "bart", "mbart", "marian", "pegasus")
# the fixtures with an LM head first, so that a field they share with the others is swept
# with predict too
FIXTURE_NAMES = [*LM, *sorted(p.name for p in FIXTURES.iterdir()
                              if (p / "config.json").is_file() and p.name not in LM)]
MISSING = object()


def fields_of(name: str) -> tuple[Field, ...]:
    return load_model(str(FIXTURES / name)).fields


def cases() -> Iterator[tuple[str, Field]]:
    """(fixture, field) for each field a fixture's model_type reads that no fixture of the
    same model_type before it has already given the sweep."""
    seen: set[tuple[str, Field]] = set()
    for name in FIXTURE_NAMES:
        model_type = json.loads((FIXTURES / name / "config.json").read_text())["model_type"]
        for field in fields_of(name):
            if (model_type, field) not in seen:
                seen.add((model_type, field))
                yield name, field


def hostile(field: Field) -> tuple[list[object], list[object]]:
    """(values inside the field's bounds, values outside them) for field."""
    huge = [2**64, 1e39, -1e39]
    words = ["x", "NaN", "Infinity", ""]
    if field.kind == "integer":
        low, high = int(field.low or 0), int(field.high or 0)
        return [low, high, None], [low - 1, high + 1, -1, *huge, 2.5, *words, [low], True]
    if field.kind == "number":
        low, high = field.low, field.high
        inside: list[object] = [None]
        outside: list[object] = [*huge, *words, [1.0], True, False]
        if low is not None:
            inside.append(low + max(abs(low), 1e-300) * 1e-6 if field.above else low)
            outside.append(low if field.above else low - max(abs(low), 1e-6) * 0.5)
            outside.append(-1.0 if low >= 0 else low * 10)
        if high is not None:
            inside.append(high)
            outside.append(high * 10 if high > 0 else high + 1)
        return inside, outside
    if field.kind == "boolean":
        return [True, False, None], ["x", "true", 1, 0, [True]]
    if field.kind == "choice":
        return [*field.options, None], ["x", "", 1, [field.options[0]], True]
    if field.kind == "numbers":
        n, low, high = field.length or 0, float(field.low or 0), float(field.high or 0)
        return ([[low] * n, [high] * n],
                [[low / 2] * n, [high * 10] * n, [0.0] * n, [-1.0] * n, [1e39] * n, ["x"] * n,
                 [low] * (n + 1), [low] * max(n - 1, 0), "x", 1.0, None])
    if field.kind == "choices":
        n = field.length or 0
        return ([[option] * n for option in field.options] + [None, []],
                [[field.options[0]] * (n + 1), ["x"] * n, [1] * n, "x", 1])
    if field.kind == "strings":
        return [["X"], [], None], ["x", [1], 1]
    if field.kind == "whole numbers":  # one, or a list (eos_token_id)
        low, high = int(field.low or 0), int(field.high or 0)
        return ([low, high, [low, high], [], None],
                [low - 1, high + 1, [low - 1], 2.5, [2.5], *huge, *words, True, [True]])
    if field.kind == "section":
        return [{}, None], ["x", [1], 1, True]
    raise AssertionError(f"no hostile values for a {field.kind} field")


def set_field(config: dict, path: tuple[str, ...], value: object) -> dict:
    """A copy of config with the field at path set to value (None: removed)."""
    config = copy.deepcopy(config)
    inner = config
    for key in path[:-1]:
        if not isinstance(inner.get(key), dict):
            inner[key] = {}
        inner = inner[key]
    if value is None:
        inner.pop(path[-1], None)
    else:
        inner[path[-1]] = value
    return config


def commands(name: str, model: Path) -> list[list[str]]:
    explain = ["explain", TEXT, "--model", str(model), "--json"]
    if name in SEQ2SEQ:
        explain += ["--target", "a tired animal"]
    if name in LM:
        return [explain, ["predict", LM[name], "--model", str(model), "--json"]]
    return [explain]


def check(result, args: list[str], field: Field, value: object, must_refuse: bool) -> str | None:
    """What is wrong with one run, or None."""
    what = f"{field.name}={json.dumps(value)[:40]} {args[0]}"
    if result.exit_code == 0:
        if must_refuse:
            return f"{what}: accepted, must be refused"
        return None if result.stderr == "" else f"{what}: exit 0 with stderr {result.stderr!r}"
    lines = result.stderr.splitlines()
    if result.exit_code != 2 or len(lines) != 1 or not lines[0].startswith("attn: error: "):
        return f"{what}: exit {result.exit_code}, stderr {result.stderr[-300:]!r}"
    if result.stdout:
        return f"{what}: exit 2 with stdout"
    if must_refuse and f"'{field.name}'" not in lines[0]:
        return f"{what}: refused without naming the field: {lines[0]}"
    return None


ALL_CASES = list(cases())


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_validated_field_at_and_beyond_its_bounds(name: str, tmp_path: Path) -> None:
    model = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    original = json.loads((model / "config.json").read_text())
    problems = []
    for _, field in (case for case in ALL_CASES if case[0] == name):
        inside, outside = hostile(field)
        for value, must_refuse in [(v, False) for v in inside] + [(v, True) for v in outside]:
            config = set_field(original, field.path, value)
            (model / "config.json").write_text(json.dumps(config))
            for args in commands(name, model):
                _load_model.cache_clear()  # the CLI opens a path once per process
                result = invoke(*args)
                problem = check(result, args, field, value, must_refuse)
                if problem:
                    problems.append(problem)
                if result.exit_code != 0:
                    break  # refused when opened: every command would say the same
    assert not problems, "\n".join(problems)


def test_the_sweep_covers_every_family_and_each_kind_of_field() -> None:
    types = {json.loads((FIXTURES / name / "config.json").read_text())["model_type"]
             for name, _ in ALL_CASES}
    from attncli.models import FAMILIES
    assert types == set(FAMILIES)
    kinds = {field.kind for _, field in ALL_CASES}
    assert kinds == {"integer", "number", "boolean", "choice", "numbers", "choices", "strings",
                     "section", "whole numbers"}
    names = {field.name for _, field in ALL_CASES}
    for named in ("query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping",
                  "sliding_window", "layer_types", "decoder_start_token_id",
                  "relative_attention_max_distance", "relative_attention_num_buckets",
                  "pad_token_id", "rope_parameters.rope_theta", "rope_parameters.factor",
                  "rope_parameters.long_factor", "rms_norm_eps", "layer_norm_eps"):
        assert named in names, named


# ---- as real processes: a warning would be printed on stderr, not raised ----

PROCESS_CASES = [
    ("llama", ("rope_parameters", "rope_theta"), 1e39),
    ("llama", ("rope_parameters", "rope_theta"), 1e15),
    ("llama-linear", ("rope_parameters", "factor"), 0),
    ("llama-linear", ("rope_parameters", "factor"), 1e39),
    ("llama-dynamic", ("rope_parameters", "factor"), 1e3),
    ("phi3-longrope", ("rope_parameters", "long_factor"), [1e39, 1e39]),
    ("phi3-longrope", ("rope_parameters", "short_factor"), [0, 0]),
    ("gemma2-lm", ("attn_logit_softcapping",), 0),
    ("gemma2-lm", ("attn_logit_softcapping",), 1e-300),
    ("gemma2-lm", ("final_logit_softcapping",), 1e-6),
    ("gemma2-lm", ("query_pre_attn_scalar",), -1),
    ("t5", ("relative_attention_num_buckets",), 2),
    ("t5", ("decoder_start_token_id",), 2**32),
    ("llama-lm", ("rms_norm_eps",), -1e-6),
]


@pytest.mark.parametrize(("name", "path", "value"), PROCESS_CASES)
def test_in_a_real_process_stderr_is_one_line_or_nothing(name: str, path: tuple[str, ...],
                                                        value: object, tmp_path: Path) -> None:
    model = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    original = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(set_field(original, path, value)))
    for args in commands(name, model):
        done = limited(args)
        lines = done.stderr.splitlines()
        if done.returncode == 0:
            assert done.stderr == "", done.stderr
        else:
            assert done.returncode == 2, done.stderr
            assert len(lines) == 1 and lines[0].startswith("attn: error: "), done.stderr
            assert f"'{'.'.join(path)}'" in lines[0] or "memory budget" in lines[0], lines[0]
            break
