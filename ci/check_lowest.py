"""Check that ci/lowest.txt pins every dependency at the floor pyproject.toml declares.

The lowest-versions job installs the project with ci/lowest.txt as its constraints file, so
the floors it tests are the pins in that file. This script keeps the two in step: it reads
pyproject.toml itself, takes [project] dependencies and every extra named on the command
line (default: test and hub), and fails, naming each problem, when

- a dependency has no floor (no `>=`, `==` or `~=` in its specifier),
- a dependency is missing from ci/lowest.txt, or an entry of ci/lowest.txt is in no list,
- a floor and its pin differ (1.24 and 1.24.0 count as the same version),
- with --python X.Y: requires-python's floor is not X.Y (the Python the job runs on).

Usage: python ci/check_lowest.py [--python 3.10] [--pyproject P] [--lowest L] [EXTRA ...]
Exit 0 when they agree, 1 when they do not, 2 when a file cannot be read.
Python 3.11+ reads TOML with tomllib; 3.10 needs tomli (pytest brings it there).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
CLAUSE = re.compile(r"^\s*(~=|==|!=|<=|>=|<|>|===)\s*([^\s,]+)\s*$")


def normalize(name: str) -> str:
    """PEP 503: case, '-', '_' and '.' do not tell names apart."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> tuple:
    """A version to compare, trailing zeros of its release dropped (1.24 == 1.24.0)."""
    head = re.match(r"^(\d+(?:\.\d+)*)(.*)$", version.strip())
    if head is None:
        return ((), version.strip())
    parts = [int(p) for p in head.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return (tuple(parts), head.group(2))


def floor(requirement: str) -> tuple[str, str | None]:
    """(name, lowest version the requirement allows) from a PEP 508 string; None: no floor."""
    text = requirement.split(";", 1)[0]  # an environment marker does not change the floor
    m = NAME.match(text)
    if m is None:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    lowest = None
    for clause in filter(None, (c.strip() for c in m.group(3).split(","))):
        c = CLAUSE.match(clause)
        if c is None:
            raise ValueError(f"cannot read {clause!r} in {requirement!r}")
        if c.group(1) in (">=", "==", "~=", "==="):
            lowest = c.group(2)
    return normalize(m.group(1)), lowest


def read_project(pyproject: Path) -> dict:
    """pyproject.toml's [project] table."""
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]


def declared(project: dict, extras: list[str]) -> dict[str, tuple[str, str | None]]:
    """name -> (where it is declared, its floor), from pyproject.toml's [project]."""
    groups = [("dependencies", project.get("dependencies", []))]
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise ValueError(f"pyproject.toml has no extra {extra!r}")
        groups.append((f"optional-dependencies.{extra}", optional[extra]))
    found: dict[str, tuple[str, str | None]] = {}
    for where, requirements in groups:
        for requirement in requirements:
            name, low = floor(requirement)
            if name != "attncli":  # an extra may name the project itself
                found.setdefault(name, (where, low))
    return found


def pinned(lowest: Path) -> dict[str, str]:
    """name -> version, from the `name==version` lines of the constraints file."""
    pins: dict[str, str] = {}
    for number, line in enumerate(lowest.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)$", line)
        if m is None:
            raise ValueError(f"{lowest.name}:{number}: expected name==version, got {line!r}")
        name = normalize(m.group(1))
        if name in pins:
            raise ValueError(f"{lowest.name}:{number}: {name} is pinned twice")
        pins[name] = m.group(2)
    return pins


def problems(found: dict[str, tuple[str, str | None]], pins: dict[str, str],
             requires_python: str | None = None, python: str | None = None) -> list[str]:
    """Every way the floors and the pins (and the job's Python) disagree, one line each."""
    out = []
    if python is not None:
        low = floor(f"python{requires_python or ''}")[1]
        if low is None or release(low) != release(python):
            out.append(f"requires-python is {requires_python!r} in pyproject.toml, but the "
                       f"lowest-versions job runs on Python {python}")
    for name, (where, low) in sorted(found.items()):
        if low is None:
            out.append(f"{name}: no floor in pyproject.toml ({where}); give it one (>=)")
        elif name not in pins:
            out.append(f"{name}: floor {low} in pyproject.toml ({where}), missing from "
                       f"ci/lowest.txt; add {name}=={low}")
        elif release(pins[name]) != release(low):
            out.append(f"{name}: floor {low} in pyproject.toml ({where}) but "
                       f"ci/lowest.txt pins {pins[name]}")
    for name in sorted(set(pins) - set(found)):
        out.append(f"{name}: pinned in ci/lowest.txt ({pins[name]}) but declared nowhere "
                   "in pyproject.toml")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extras", nargs="*", default=["test", "hub"])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--lowest", type=Path, default=ROOT / "ci" / "lowest.txt")
    parser.add_argument("--python", help="the Python X.Y that the lowest-versions job runs on")
    args = parser.parse_args(argv)
    if tomllib is None:
        print("check_lowest: reading pyproject.toml needs Python 3.11+ or tomli",
              file=sys.stderr)
        return 2
    try:
        project = read_project(args.pyproject)
        found = declared(project, args.extras)
        pins = pinned(args.lowest)
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as exc:
        print(f"check_lowest: {exc}", file=sys.stderr)
        return 2
    wrong = problems(found, pins, project.get("requires-python"), args.python)
    for line in wrong:
        print(f"check_lowest: {line}", file=sys.stderr)
    if wrong:
        return 1
    print(f"check_lowest: the {len(found)} floors in pyproject.toml match ci/lowest.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
