"""Every `$ attn …` console example in the README and docs/ prints what the page shows.

An example is a fenced ```console block whose first line starts with `$ attn`. Each `$ `
line is a command (a line ending in a backslash goes on on the next line); the lines after
it, up to the next `$ ` line, are what it prints. The command runs in-process through typer's
CliRunner, in a terminal WIDTH columns wide, and its stdout and stderr must read as shown:

- trailing spaces, and blank lines at the end of the output, are ignored;
- a line that is exactly `…` matches any run of lines, none included (output the page trims).

A block just after an HTML comment `<!-- not run: REASON -->` is not run (a real model the
tests cannot download, say); the reason must be given.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, invoke

WIDTH = 80  # the terminal width the pages' examples were printed at
TRIMMED = "…"
NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>\S.*?) -->$")


@dataclass(frozen=True)
class Example:
    path: Path
    line: int  # 1-based line of the `$ attn` command in its page
    command: str
    expected: list[str]
    not_run: str | None  # the reason given, for an example that is not run

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def pages() -> list[Path]:
    """The README and every page of the site that is written by hand."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def examples_in(path: Path) -> list[Example]:
    """The console examples of one Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marked = NOT_RUN.match(before)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        body = lines[i + 1:end]
        assert body and body[0].startswith("$ attn "), (
            f"{path.name}:{i + 2}: a console block starts with `$ attn …`")
        k = 0
        while k < len(body):
            start = k
            command = body[k][2:]
            while command.endswith("\\"):
                k += 1
                command = command[:-1].rstrip() + " " + body[k].strip()
            k += 1
            output_start = k
            while k < len(body) and not body[k].startswith("$ "):
                k += 1
            found.append(Example(path, i + 2 + start, command, body[output_start:k],
                                 marked.group("reason") if marked else None))
        i = end + 1
    return found


ALL = [example for page in pages() for example in examples_in(page)]
RUN = [example for example in ALL if example.not_run is None]


def shown_pattern(expected: list[str]) -> re.Pattern[str]:
    """A pattern that the whole output must match: `…` lines stand for any run of lines."""
    parts = []
    for line in expected:
        if line.rstrip() == TRIMMED:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(re.escape(line.rstrip()) + r"\n")
    return re.compile("".join(parts))


def matches(expected: list[str], output: str) -> bool:
    """Whether OUTPUT (trailing spaces aside) reads as the page shows it."""
    text = "".join(line.rstrip() + "\n" for line in output.rstrip().splitlines())
    return shown_pattern(expected).fullmatch(text) is not None


def run(example: Example) -> str:
    """The example's command, run from the repository's root as the pages' paths assume."""
    words = shlex.split(example.command)
    assert words[0] == "attn", example.command
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        result = invoke(*words[1:], width=WIDTH)
    finally:
        os.chdir(here)
    assert result.exit_code == 0 or any("attn: error:" in line for line in example.expected), (
        example.name, result.exit_code, result.stderr)
    return result.stdout + result.stderr


@pytest.mark.parametrize("example", RUN, ids=[example.name for example in RUN])
def test_the_example_prints_what_the_page_shows(example: Example) -> None:
    assert example.expected, f"{example.name}: the page shows no output to compare with"
    output = run(example)
    assert matches(example.expected, output), (
        f"{example.name}: `{example.command}` printed, at {WIDTH} columns:\n{output}")


def test_every_page_has_its_examples_found() -> None:
    """The parser sees the examples it should: the pages' first lessons are among them."""
    names = {example.path.name for example in RUN}
    assert {"README.md", "tutorial.md", "explain.md"} <= names, names
    assert len(RUN) >= 8, [example.name for example in RUN]
    for example in ALL:
        if example.not_run is not None:
            assert len(example.not_run) >= 10, f"{example.name}: say why it is not run"


def test_a_changed_number_or_a_missing_line_does_not_match() -> None:
    """The comparison can fail: a page whose number or line no longer matches is caught."""
    example = next(e for e in RUN if e.path.name == "README.md")
    output = run(example)
    assert matches(example.expected, output)
    at = next(i for i, line in enumerate(example.expected) if re.search(r"\d\.\d", line))
    changed = list(example.expected)
    changed[at] = re.sub(r"(\d)\.(\d)", lambda m: f"{(int(m[1]) + 1) % 10}.{m[2]}",
                         changed[at], count=1)
    assert not matches(changed, output)
    without_trim = [line for line in example.expected if line != TRIMMED]
    assert not matches(without_trim, output)


def test_trimmed_lines_match_any_run_of_lines() -> None:
    assert matches(["a", TRIMMED, "d"], "a\nb\nc\nd\n")
    assert matches(["a", TRIMMED, "b"], "a\nb\n")
    assert matches(["a  ", "b"], "a\nb   \n")
    assert not matches(["a", TRIMMED, "d"], "a\nb\nc\n")
    assert not matches(["a", "d"], "a\nb\nd\n")


def test_the_readme_links_lead_somewhere() -> None:
    """The README is not part of the site, so MkDocs does not check its links: this does."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    anchors = {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
               for title in re.findall(r"^#+ (.*)$", readme, re.MULTILINE)}
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert len(targets) >= 20
    for target in targets:
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (ROOT / path).exists(), f"README.md links to {target}, which does not exist"
        else:
            assert anchor in anchors, f"README.md links to {target}: no such heading"


def test_the_readme_picture_shows_the_numbers_its_paragraph_gives() -> None:
    picture = (ROOT / "docs" / "pronoun.svg").read_text(encoding="utf-8")
    for number in ("48.9%", "10.9%", "2.5000", "1.0000", "4.0%"):
        assert number in picture, number
