"""The dependency bounds: ci/lowest.txt pins every floor pyproject.toml declares (issue 16).

ci/check_lowest.py is what .ci/run runs before the lowest-versions job; these tests run it on
the repository's own files and on small made-up ones, so that each kind of drift is caught.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_lowest", ROOT / "ci" / "check_lowest.py")
check_lowest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_lowest)


def run(tmp_path: Path, deps: list[str], test: list[str], lowest: str, *args: str) -> int:
    quoted = ", ".join(f'"{d}"' for d in deps)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "attncli"\nrequires-python = ">=3.10"\n'
        f"dependencies = [{quoted}]\n"
        "[project.optional-dependencies]\n"
        f"test = [{', '.join(repr(t) for t in test)}]\n", encoding="utf-8")
    (tmp_path / "lowest.txt").write_text(lowest, encoding="utf-8")
    return check_lowest.main(["--pyproject", str(tmp_path / "pyproject.toml"),
                              "--lowest", str(tmp_path / "lowest.txt"), *args, "test"])


def test_the_repository_floors_and_pins_agree(capsys) -> None:
    assert check_lowest.main(["--python", "3.10"]) == 0, capsys.readouterr().err


def test_agreeing_files_pass(tmp_path: Path) -> None:
    deps = ["typer>=0.18,<0.26", "NumPy>=1.24  ", "safe_tensors >= 0.4.3; python_version>'3'"]
    lowest = ("# floors\ntyper==0.18.0\nnumpy==1.24.0  # a comment\nsafe-tensors==0.4.3\n"
              "pytest==8.0\n")
    assert run(tmp_path, deps, ["pytest>=8", "attncli[hub]"], lowest, "--python", "3.10") == 0


@pytest.mark.parametrize(("deps", "lowest", "words"), [
    (["numpy>=1.24"], "numpy==1.23.5\n", "numpy: floor 1.24 in pyproject.toml"),
    (["numpy>=1.24", "orjson>=3.9"], "numpy==1.24\n", "orjson: floor 3.9 in pyproject.toml"),
    (["numpy>=1.24"], "numpy==1.24\nrich==14.2.0\n", "rich: pinned in ci/lowest.txt"),
    (["numpy"], "numpy==1.24\n", "numpy: no floor"),
    (["numpy<3"], "numpy==1.24\n", "numpy: no floor"),
])
def test_each_drift_fails_naming_it(tmp_path: Path, capsys, deps, lowest, words) -> None:
    assert run(tmp_path, deps, ["pytest>=8"], lowest + "pytest==8.0.0\n") == 1
    assert words in capsys.readouterr().err


def test_a_test_extra_is_checked_too(tmp_path: Path, capsys) -> None:
    assert run(tmp_path, ["numpy>=1.24"], ["pytest>=8.1"], "numpy==1.24\npytest==8.0.0\n") == 1
    assert "pytest: floor 8.1 in pyproject.toml (optional-dependencies.test)" in (
        capsys.readouterr().err)


def test_the_job_python_must_be_requires_python(tmp_path: Path, capsys) -> None:
    assert run(tmp_path, ["numpy>=1.24"], [], "numpy==1.24\n", "--python", "3.11") == 1
    assert "requires-python is '>=3.10'" in capsys.readouterr().err


def test_a_line_that_is_not_a_pin_is_an_error(tmp_path: Path, capsys) -> None:
    assert run(tmp_path, ["numpy>=1.24"], [], "numpy>=1.24\n") == 2
    assert "lowest.txt:1: expected name==version" in capsys.readouterr().err


def test_versions_compare_as_releases() -> None:
    assert check_lowest.release("1.24") == check_lowest.release("1.24.0")
    assert check_lowest.release("0.20") != check_lowest.release("0.2")
    assert check_lowest.release("8.0.0rc1") != check_lowest.release("8.0.0")


def test_the_hub_download_call_fits_the_installed_huggingface_hub() -> None:
    """hub.download calls snapshot_download(repo_id, allow_patterns=, cache_dir=)."""
    hub = pytest.importorskip("huggingface_hub")
    params = inspect.signature(hub.snapshot_download).parameters
    assert {"repo_id", "allow_patterns", "cache_dir"} <= set(params)
