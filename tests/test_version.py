"""One version everywhere: pyproject.toml, attncli.__version__, `attn --version` and the docs."""

from __future__ import annotations

import re

from conftest import ROOT, invoke, ok

import attncli


def _pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version = "([^"]+)"$', text, re.MULTILINE)
    assert match, "pyproject.toml has no version line"
    return match.group(1)


def test_the_version_agrees_everywhere() -> None:
    version = _pyproject_version()
    assert attncli.__version__ == version
    assert ok(invoke("--version")) == f"attn {version}\n"


def test_the_changelog_and_the_docs_name_the_version() -> None:
    version = _pyproject_version()
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog,
                     re.MULTILINE), f"CHANGELOG.md has no dated heading for {version}"
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert f"version {version}" in index, f"docs/index.md does not say version {version}"
