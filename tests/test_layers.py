"""The package's layers, read from every module's imports (ast), so that CI keeps them apart.

A module may import its own layer and the layers below it, never one above; no two parts
of the package import each other, even through others; only the top two layers draw (rich,
typer, textual). docs/development.md, "How the code is laid out", shows the same layers.
"""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "attncli"

# top to bottom: (layer, the parts of attncli in it: a module or a subpackage, by its name)
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("cli", frozenset({"attncli", "__main__", "cli"})),  # "attncli": the package's __init__
    ("views", frozenset({"render", "demo", "explore", "export"})),
    ("api", frozenset({"api"})),
    ("analyses", frozenset({"explain", "heads", "compare", "predict", "sums", "flow", "roles",
                            "sinks", "induction", "spread", "effects", "lens", "generate",
                            "cache_steps", "corpus"})),
    ("base", frozenset({"models", "weights", "tokens", "tokens_ahead", "lookup", "files",
                        "masks", "sections", "errors", "safe_text", "json_writer"})),
    ("attention", frozenset({"attention", "attention_fast", "steps"})),
)
DRAWING = frozenset({"rich", "typer", "textual"})  # imported only by the layers below
DRAWS = frozenset({"cli", "views"})


def part_of(module: str) -> str:
    """The part of attncli a dotted module name belongs to: attncli.models.bert -> models."""
    names = module.split(".")
    if names[0] != "attncli" or len(names) == 1:
        return names[0]
    head = names[1]
    return head if (PACKAGE / f"{head}.py").exists() or (PACKAGE / head).is_dir() else "attncli"


def module_name(path: Path) -> str:
    names = ["attncli", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(names[:-1] if names[-1] == "__init__" else names)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in a file of the package."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in source, a module of package: at the top, in
    functions and under TYPE_CHECKING alike. `from attncli import x` gives attncli.x."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..models import y
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def layer_of(part: str) -> int | None:
    return next((i for i, (_, parts) in enumerate(LAYERS) if part in parts), None)


def edges() -> list[tuple[str, str, str, int]]:
    """(part, imported part or library, file, line) for every import in the package."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = part_of(module_name(path))
        for line, name in imports(path):
            out.append((part, part_of(name), str(path.relative_to(PACKAGE.parent)), line))
    return out


def test_every_part_of_the_package_is_in_a_layer() -> None:
    parts = {part_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    missing = sorted(part for part in parts if layer_of(part) is None)
    assert not missing, (f"attncli.{missing[0]} is in no layer: add it to LAYERS in "
                         "tests/test_layers.py and to docs/development.md")


def test_no_module_imports_a_layer_above_its_own() -> None:
    wrong = []
    for part, imported, where, line in edges():
        mine, theirs = layer_of(part), layer_of(imported)
        if mine is not None and theirs is not None and theirs < mine:
            wrong.append(f"{where}:{line}: {part} ({LAYERS[mine][0]}) imports {imported} "
                         f"({LAYERS[theirs][0]}), a layer above it")
    assert not wrong, "\n".join(wrong)


def test_only_the_top_two_layers_draw() -> None:
    # attention.py and models/ above all: they compute, and never import rich, typer or textual
    wrong = [f"{where}:{line}: {part} ({LAYERS[mine][0]}) imports {imported}"
             for part, imported, where, line in edges()
             if imported in DRAWING and (mine := layer_of(part)) is not None
             and LAYERS[mine][0] not in DRAWS]
    assert not wrong, "\n".join(wrong)


def test_no_parts_import_each_other() -> None:
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for part, imported, file, line in edges():
        if imported != part and layer_of(imported) is not None:
            graph.setdefault(part, set()).add(imported)
            where.setdefault((part, imported), f"{file}:{line}")

    def cycle_from(start: str) -> list[str] | None:
        path, seen = [start], {start}

        def walk(node: str) -> list[str] | None:
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    path.append(nxt)
                    if (found := walk(nxt)) is not None:
                        return found
                    path.pop()
            return None

        return walk(start)

    for start in sorted(graph):
        if (cycle := cycle_from(start)) is not None:
            steps = [f"{a} imports {b} ({where[a, b]})" for a, b in pairwise(cycle)]
            raise AssertionError("an import cycle: " + "; ".join(steps))


def test_the_check_sees_every_kind_of_import() -> None:
    source = ("import attncli.models.bert\n"
              "from attncli import weights as w, __version__\n"
              "from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n"
              "    from attncli.sums import Pair\n"
              "def f():\n"
              "    from rich.text import Text\n"
              "    from .render import explain\n"
              "    from ..tokens import Token\n")
    found = imports_in(source, "attncli.cli")
    assert [line for line, _ in found] == [1, 2, 2, 3, 5, 7, 8, 9]
    assert [part_of(name) for _, name in found] == [
        "models", "weights", "attncli", "typing", "sums", "rich", "cli", "tokens"]


def test_the_modules_the_api_names_are_imported_by_their_full_names() -> None:
    # attncli.explain and attncli.heads are the API's functions (attncli/__init__.py): a
    # module imported as `import attncli.explain` or `from attncli import explain` would be
    # the function, not the module
    import attncli

    shadowed = {name for name in attncli.API if part_of(f"attncli.{name}") == name}
    assert shadowed == {"explain", "heads"}
    wrong = []
    for folder in ("attncli", "tests", "scripts", "bench"):
        for path in sorted((PACKAGE.parent / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [f"attncli.{alias.name}" for alias in node.names]
                         if isinstance(node, ast.ImportFrom) and node.module == "attncli"
                         else [])
                wrong.extend(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}"
                             for name in names
                             if name.startswith("attncli.")
                             and name.removeprefix("attncli.") in shadowed)
    assert not wrong, ("these get the API's function, not the module; import the names "
                       "(from attncli.explain import Explanation): " + "; ".join(wrong))
