"""Shared test helpers: a CLI runner, a fixed-width console, the sample weights files.

Fixtures here are only ever added to, never renamed: several test files use them.
The plain functions (render_text, strict_json, …) can also be imported directly:
`from conftest import render_text`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attncli.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_WEIGHTS = ROOT / "sample_weights"
I_LOVE_AI = SAMPLE_WEIGHTS / "i-love-ai.json"
ANIMAL_TIRED = SAMPLE_WEIGHTS / "animal-tired.json"
WIDTH = 100  # the terminal width every rendering test uses
FIXTURES = ROOT / "tests" / "fixtures" / "models"
PARITY = 1e-5  # ours against transformers' attention weights, every layer and head


def render_text(renderable, width: int = WIDTH) -> str:
    """What a renderable prints on a plain (no colour) console of the given width."""
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), record=True, color_system=None,
                      highlight=False, emoji=False, markup=False)
    console.print(renderable)
    return console.export_text()


def after_header(text: str) -> str:
    """What a view prints after its header (the lines up to the first blank one)."""
    head, _, rest = text.partition("\n\n")
    assert head.startswith(("Input ", "Weights")), head  # the header is always first
    return rest


def _reject_constant(name: str) -> None:
    raise ValueError(f"JSON holds {name}, which RFC 8259 does not allow")


def strict_json(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity instead of accepting them."""
    return json.loads(text, parse_constant=_reject_constant)


def invoke(*args: str, stdin: str | bytes | None = None, width: int = WIDTH,
           env: dict[str, str | None] | None = None):
    """Run `attn ARGS` in-process, at a fixed terminal width; stdout and stderr kept apart.

    env adds environment variables for the run (None unsets one).
    """
    return CliRunner().invoke(app, list(args), input=stdin,
                              env={"COLUMNS": str(width), **(env or {})})


def ok(result) -> str:
    """stdout of a run that worked: exit code 0 and nothing on stderr."""
    assert result.exit_code == 0, (result.exit_code, result.stderr, result.stdout[-500:])
    assert result.stderr == ""
    return result.stdout


def ok_json(result):
    """The strict JSON document a run that worked printed."""
    return strict_json(ok(result))


def refused(result, *words: str) -> str:
    """Exit code 2, nothing on stdout, one stderr line 'attn: error: …' holding each word."""
    assert result.exit_code == 2, (result.exit_code, result.stdout[-500:], result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("attn: error: "), lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def runner() -> CliRunner:
    """A typer CliRunner (click 8.2+: result.stdout and result.stderr are separate)."""
    return CliRunner()


@pytest.fixture
def attn():
    """Call `attn` in-process: attn("explain", "a b", "--json") -> click Result."""
    return invoke


@pytest.fixture
def render():
    """Render a rich renderable to plain text at WIDTH columns: render(obj) -> str."""
    return render_text


@pytest.fixture
def sample_weights() -> Path:
    """The folder of the shipped sample weights files."""
    return SAMPLE_WEIGHTS


@pytest.fixture
def i_love_ai() -> Path:
    return I_LOVE_AI


@pytest.fixture
def animal_tired() -> Path:
    return ANIMAL_TIRED


# ---- parity with a model fixture's reference, layer by layer (feature-off tests use it) ----


def reference(name: str) -> dict:
    """A model fixture's reference.npz: text, input_ids, attentions (L, H, n, n), …"""
    import numpy as np

    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def layer_diffs(directory: Path, name: str) -> list[float]:
    """For each layer, the largest |ours - transformers'| over its heads, for the checkpoint in
    `directory` against fixture `name`'s reference attentions."""
    import numpy as np

    from attncli.models import load_model

    ref = reference(name)
    model = load_model(str(directory))
    ids = [t.id for t in model.tokens(str(ref["text"]))]
    assert ids == ref["input_ids"].tolist()
    expected = ref["attentions"]  # (L, H, n, n)
    assert expected.shape[:2] == (model.n_layers, model.n_heads)
    found = model.attention(ids, range(model.n_layers), range(model.n_heads))
    assert [(hs.layer, hs.head) for hs in found] == [
        (i, h) for i in range(model.n_layers) for h in range(model.n_heads)]
    worst = [0.0] * model.n_layers
    for hs in found:
        diff = float(np.abs(hs.steps.weights - expected[hs.layer, hs.head]).max())
        worst[hs.layer] = max(worst[hs.layer], diff)
    return worst


def copy_that_matches(name: str, tmp_path: Path) -> Path:
    """A writable copy of a fixture, shown to match its reference before anything changes."""
    import shutil

    d = shutil.copytree(FIXTURES / name, tmp_path / name)
    assert max(layer_diffs(d, name)) <= PARITY, f"{name}: the unmodified copy differs"
    return d


def edit_config(directory: Path, **changes: object) -> None:
    config = json.loads((directory / "config.json").read_text())
    config.update(changes)
    (directory / "config.json").write_text(json.dumps(config, indent=2))


def limited(args: list[str], *, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`attn ARGS` in a process that may not map more than 3 GiB: a regression that allocates
    what the budget should have refused fails (MemoryError, exit 1) instead of swapping."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))

    # each BLAS thread maps its own buffers
    run_env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "attncli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, preexec_fn=cap,
                          env=run_env)
