"""The generated pages of the docs site (scripts/docs_reference.py) cover what they document."""

from __future__ import annotations

import importlib.util
import json
import re
from types import ModuleType

from conftest import ROOT, invoke, ok


def reference() -> ModuleType:
    path = ROOT / "scripts" / "docs_reference.py"
    spec = importlib.util.spec_from_file_location("docs_reference", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_holds_every_command_help() -> None:
    page = reference().cli_reference()
    listed = re.findall(r"^  ([a-z]+)  ", ok(invoke("--help")).split("Commands:")[1], re.MULTILINE)
    weights = re.findall(r"^  ([a-z]+)  ",
                         ok(invoke("weights", "--help")).split("Commands:")[1], re.MULTILINE)
    titles = re.findall(r"^## `(attn[^`]*)`$", page, re.MULTILINE)
    expected = ["attn", *(f"attn {c}" for c in listed), *(f"attn weights {c}" for c in weights)]
    assert sorted(titles) == sorted(expected)
    # each section is the command's --help itself, at 80 columns
    shown = ok(invoke("compare", "--help", width=80)).rstrip().splitlines()
    assert shown[0].startswith("Usage: ") and shown[0].split(" ", 2)[2] in page
    assert "\n".join(line.rstrip() for line in shown[1:]) in page
    assert "Usage: attn weights init [OPTIONS]" in page


def test_the_schema_reference_holds_every_key_of_the_schema() -> None:
    page = reference().schema_reference()
    schema = json.loads((ROOT / "attncli" / "explain.schema.json").read_text(encoding="utf-8"))
    for key in schema["properties"]:
        assert f"| `{key}` |" in page, key
    for key in schema["properties"]["pair"]["properties"]:
        assert f"| `pair.{key}` |" in page, key
    for key in schema["properties"]["heads"]["items"]["properties"]:
        assert f"| `heads[].{key}` |" in page, key


def test_the_included_pages_are_the_files() -> None:
    pages = reference().pages()
    results = (ROOT / "bench" / "results.md").read_text(encoding="utf-8")
    assert results.partition("\n")[2] in pages["performance-results.md"]
    assert set(pages) == {"reference/cli.md", "reference/json-schema.md",
                          "performance-results.md", "contributing.md"}
