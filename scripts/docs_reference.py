"""The generated pages of the documentation site, and the MkDocs hook that adds them.

`mkdocs build` (mkdocs.yml: `hooks: [scripts/docs_reference.py]`) calls `on_files`, which adds
the pages below to the site at build time, so none of them can drift from the code:

- reference/cli.md: every command's `--help`, as `attn` prints it at 80 columns;
- reference/json-schema.md: every key of attncli/explain.schema.json, the schema shipped;
- performance-results.md: bench/results.md, as the benchmark wrote it;
- contributing.md: CONTRIBUTING.md.

The functions that write the pages need attncli and typer only (the tests call them without
MkDocs); `on_files` imports MkDocs when MkDocs runs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "attncli" / "explain.schema.json"
WIDTH = 80  # the terminal width the reference shows every --help at


def command_paths() -> list[list[str]]:
    """Every command's words after `attn`, as the typer app registers them: [] is `attn`."""
    from attncli.cli import app

    paths: list[list[str]] = [[]]
    for command in app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        paths.append([name])
    for group in app.registered_groups:
        paths.append([group.name])
        for command in group.typer_instance.registered_commands:
            paths.append([group.name, command.name or command.callback.__name__])
    return paths


def help_text(words: list[str]) -> str:
    """`attn WORDS --help` as a terminal of WIDTH columns shows it."""
    from typer.testing import CliRunner

    from attncli.cli import app

    result = CliRunner().invoke(app, [*words, "--help"], prog_name="attn",
                                env={"COLUMNS": str(WIDTH), "NO_COLOR": "1"})
    if result.exit_code != 0:
        raise RuntimeError(f"attn {' '.join(words)} --help exited {result.exit_code}")
    return "\n".join(line.rstrip() for line in result.stdout.rstrip().splitlines())


def cli_reference() -> str:
    """The CLI reference page: each command's --help, in the order `attn --help` lists them."""
    parts = [
        "# CLI reference",
        "",
        "Every command's `--help`, exactly as `attn` prints it in a terminal 80 columns wide. "
        "This page is generated from the command line itself when the site is built "
        "(`scripts/docs_reference.py`), so it always matches the installed `attn`. "
        "The pages under *Commands* explain what each option does, with examples.",
    ]
    for words in command_paths():
        title = " ".join(["attn", *words])
        parts += ["", f"## `{title}`", "", "```text", help_text(words), "```"]
    return "\n".join(parts) + "\n"


def _type_of(node: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short name for what a schema node holds: string, integer, matrix, list of object…"""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return name.replace("_", " ") if node["$ref"].startswith("#/$defs/") else "token"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " or ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    kind = node.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" and isinstance(node.get("items"), dict):
        return f"list of {_type_of(node['items'], defs)}"
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(_type_of(n, defs) for n in node.get("oneOf", node.get("anyOf", [])))
    return str(kind)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(node: dict[str, Any], prefix: str, required: set[str], defs: dict[str, Any],
          out: list[str]) -> None:
    """One table row per key under node's properties, depth first (`heads[].q`, `pair.from`)."""
    for key, child in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        need = "yes" if key in required else ""
        out.append(f"| `{path}` | {_type_of(child, defs)} | {need} | "
                   f"{_cell(child.get('description', ''))} |")
        inner = child
        suffix = "."
        if child.get("type") == "array" and isinstance(child.get("items"), dict):
            inner, suffix = child["items"], "[]."
        if "properties" in inner:
            _rows(inner, path + suffix, set(inner.get("required", [])), defs, out)


def schema_reference() -> str:
    """The JSON reference page, one row per key of the shipped schema."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    defs = schema.get("$defs", {})
    rows: list[str] = []
    _rows(schema, "", set(schema.get("required", [])), defs, rows)
    together = [f"`{key}` comes with " + ", ".join(f"`{o}`" for o in others)
                for key, others in schema.get("dependentRequired", {}).items()]
    return "\n".join([
        "# JSON schema of `attn explain --json`",
        "",
        f"Schema `{schema['$id']}`, shipped in the package as `attncli/explain.schema.json` "
        "(JSON Schema 2020-12); `attn explain --json` output is checked against it in the tests. "
        "This page is generated from that file when the site is built "
        "(`scripts/docs_reference.py`). [JSON output](../json.md) explains the document "
        "in prose, with the other commands' documents.",
        "",
        _cell(schema.get("description", "")),
        "",
        "A *matrix* is a list of rows of numbers (`null` where masked), a *vector* a list of "
        "numbers. `a[].b` is key `b` of each item of list `a`.",
        "",
        "| key | holds | always | what it is |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        "Keys that come together: " + "; ".join(together) + ".",
    ]) + "\n"


def included(path: Path, note: str) -> str:
    """A file of the repository as a page of the site, with a line saying where it lives."""
    text = path.read_text(encoding="utf-8")
    title, _, rest = text.partition("\n")
    return f"{title}\n\n*{note}*\n{rest}"


def pages() -> dict[str, str]:
    """Every generated page, by its path in the site."""
    return {
        "reference/cli.md": cli_reference(),
        "reference/json-schema.md": schema_reference(),
        "performance-results.md": included(
            ROOT / "bench" / "results.md",
            "This page is bench/results.md, as bench/bench.py wrote it; "
            "see [Performance](performance.md) for how to read and reproduce it."),
        "contributing.md": included(ROOT / "CONTRIBUTING.md",
                                    "This page is CONTRIBUTING.md, at the top of the repository."),
    }


def on_files(files: Any, config: Any, **_: Any) -> Any:
    """MkDocs hook: add the generated pages to the site's files."""
    from mkdocs.structure.files import File

    for uri, content in pages().items():
        files.append(File.generated(config, uri, content=content))
    return files
