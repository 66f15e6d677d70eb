"""Pictures: one file per page into a folder (save_each), and SVGs that render anywhere.

The alignment checks are made on the SVG itself (every piece of text at its column, spaces
kept, local fonts), so they run everywhere; one more test draws an SVG with librsvg's
rsvg-convert when it is installed.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from math import ceil
from pathlib import Path

import pytest
from conftest import ANIMAL_TIRED, ok, refused, render_text
from conftest import invoke as run
from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

from attncli.cli.output import check_exports
from attncli.errors import AttnError
from attncli.files import wants_dir
from attncli.render import console as screen

SVG = "{http://www.w3.org/2000/svg}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
WIDTH = 80
EXPLAIN = ("explain", "The animal was tired", "-w", str(ANIMAL_TIRED), "--show", "softmax,bars")


def matrix() -> Table:
    """Right-aligned numbers under right-aligned headers: runs of spaces lead each cell."""
    table = Table(box=None, show_edge=False)
    table.add_column("query ↓ key →")
    for word in ("The", "animal", "was", "tired"):
        table.add_column(word, justify="right")
    for word, row in (("The", (0.15, 0.55, 0.15, 0.15)), ("animal", (0.17, 0.17, 0.17, 0.5))):
        table.add_row(word, *(Text(f"{x:.2f}", style="bold reverse" if x > 0.4 else "")
                              for x in row))
    return table


PAGES = [
    ("What self-attention does", Text("Each word   looks at   every word.")),
    ("Step 1 · Embeddings", matrix()),
    ("Step 2 · Queries, keys and values", Group(Text("    indented"), Text("█████▌  55.0%"))),
]
NAMES = ["01-what-self-attention-does", "02-step-1-embeddings",
         "03-step-2-queries-keys-and-values"]


def folder(path: Path) -> str:
    """A folder target as the command line gives it: a str ending with "/"."""
    return f"{path}/"


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def svg_lines(path: Path) -> tuple[list[str], float]:
    """The terminal lines an SVG shows, rebuilt from each piece of text at x = column × cell,
    and the cell's width; checks that every piece is exactly as wide as its characters."""
    root = ET.parse(path).getroot()  # raises if the file is not well-formed XML
    assert root.tag == f"{SVG}svg"
    lines: dict[int, list[tuple[float, str]]] = {}
    cell = None
    for el in root.iter(f"{SVG}text"):
        clip = re.search(r"-line-(\d+)\)", el.get("clip-path") or "")
        if clip is None:  # the window's title
            continue
        text = "".join(el.itertext()).replace("\xa0", " ").rstrip("\n")
        if not text:
            continue
        length = float(el.get("textLength"))
        cell = cell or length / cell_len(text)
        assert length == pytest.approx(cell * cell_len(text)), text
        lines.setdefault(int(clip.group(1)), []).append((float(el.get("x")), text))
    assert cell is not None
    out = []
    for n in range(max(lines) + 1):
        row = ""
        for x, text in sorted(lines.get(n, [])):
            column = x / cell
            assert column == pytest.approx(round(column)), (x, text)  # on a column
            assert round(column) >= cell_len(row), (row, text)  # pieces never overlap
            row = row.ljust(round(column)) + text
        out.append(row.rstrip())
    return out, cell


def stripped(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


# ---------------------------------------------------------------- one file per page

def test_wants_dir(tmp_path: Path) -> None:
    assert wants_dir(f"{tmp_path}/new/") and wants_dir(tmp_path) and wants_dir(str(tmp_path))
    assert not wants_dir(tmp_path / "new") and not wants_dir(tmp_path / "x.svg")
    assert screen.Exports(svg=folder(tmp_path / "new"), txt=tmp_path / "a.txt").is_dir("svg")
    assert not screen.Exports(svg=folder(tmp_path), txt=tmp_path / "a.txt").is_dir("txt")
    assert not screen.Exports().is_dir("html")


@pytest.mark.parametrize(("name", "expected"), [
    ("What self-attention does", "what-self-attention-does"),
    ("Step 1 · Embeddings", "step-1-embeddings"),
    ("  Déjà vu: “Q·Kᵀ / √d_k”!  ", "deja-vu-q-kt-d-k"),
    ("Part 3 — what a real model does with the same sentence, layer by layer",
     "part-3-what-a-real-model-does-with-the"),
    ("x" * 60, "x" * 40),
    ("· — ·", ""),
])
def test_slug(name: str, expected: str) -> None:
    assert screen.slug(name) == expected
    assert len(screen.slug(name)) <= screen.SLUG_CAP


def test_save_each_writes_one_numbered_svg_per_page(tmp_path: Path) -> None:
    target = tmp_path / "pics"
    target.mkdir()
    exports = screen.Exports(svg=folder(target))
    written = screen.save_each(PAGES, exports, WIDTH, "attn demo")
    assert written == [target / f"{name}.svg" for name in NAMES]
    assert listing(target) == [f"{name}.svg" for name in NAMES]  # no temporary files left
    for path, (_, page) in zip(written, PAGES, strict=True):
        lines, _ = svg_lines(path)  # each one parses as XML
        assert stripped("\n".join(lines)) == stripped(render_text(page, WIDTH))
        assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_save_each_numbers_with_three_digits_from_100_pages(tmp_path: Path) -> None:
    pages = [(f"Screen {n}", Text(str(n))) for n in range(1, 101)]
    written = screen.save_each(pages, screen.Exports(txt=folder(tmp_path)), 20, "attn")
    assert [p.name for p in written[:2]] == ["001-screen-1.txt", "002-screen-2.txt"]
    assert written[-1].name == "100-screen-100.txt"
    assert screen.page_files(["a", "", "b"], "svg") == ["01-a.svg", "02.svg", "03-b.svg"]


def test_txt_pages_hold_exactly_what_the_terminal_shows(tmp_path: Path) -> None:
    written = screen.save_each(PAGES, screen.Exports(txt=folder(tmp_path)), WIDTH, "attn")
    for path, (_, page) in zip(written, PAGES, strict=True):
        assert path.read_text(encoding="utf-8") == render_text(page, WIDTH)
    table = written[1].read_text(encoding="utf-8").splitlines()
    # the columns line up: each number ends where its right-aligned header ends
    for word in ("The", "animal", "was", "tired"):
        end = table[0].index(word) + len(word)
        assert all(line[end - 4:end].strip() == line[end - 4:end] for line in table[1:3])


def test_every_kind_goes_into_its_folder_and_save_skips_folders(tmp_path: Path) -> None:
    whole = tmp_path / "lesson.txt"
    exports = screen.Exports(svg=folder(tmp_path / "pics"), html=folder(tmp_path / "pics"),
                             txt=whole)
    check_exports(exports, allow_dirs=True)  # two kinds may share a folder
    screen.save(Group(*(page for _, page in PAGES)), exports, WIDTH, "attn demo")
    assert listing(tmp_path) == ["lesson.txt"]  # save writes the files only
    written = screen.save_each(PAGES, exports, WIDTH, "attn demo")
    assert len(written) == 2 * len(PAGES)  # save_each writes the folders only
    assert listing(tmp_path / "pics") == sorted(f"{name}.{kind}" for name in NAMES
                                                for kind in ("svg", "html"))
    assert listing(tmp_path) == ["lesson.txt", "pics"]
    page = (tmp_path / "pics" / f"{NAMES[1]}.html").read_text(encoding="utf-8")
    assert "<title>attn demo · 2/3 Step 1 · Embeddings</title>" in page
    assert screen.save_each(PAGES, screen.Exports(txt=tmp_path / "x.txt"), WIDTH, "t") == []


def test_save_each_creates_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "new"
    exports = screen.Exports(svg=folder(target))
    check_exports(exports, allow_dirs=True)
    assert not target.exists()  # the check creates nothing
    written = screen.save_each(PAGES, exports, WIDTH, "attn")
    assert target.is_dir() and listing(target) == sorted(p.name for p in written)


def test_a_folder_whose_parent_is_missing_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such"
    exports = screen.Exports(svg=folder(target))
    for attempt in (lambda: check_exports(exports, allow_dirs=True),
                    lambda: screen.save_each(PAGES, exports, WIDTH, "attn")):
        with pytest.raises(AttnError) as refusal:
            attempt()
        message = str(refusal.value)
        assert "\n" not in message and str(target) in message and "does not exist" in message
    assert listing(tmp_path) == []


def test_a_file_where_the_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pics").write_text("keep me")
    exports = screen.Exports(svg=folder(tmp_path / "pics"))
    with pytest.raises(AttnError, match="is not a directory"):
        check_exports(exports, allow_dirs=True)
    with pytest.raises(AttnError, match="is not a directory"):
        screen.save_each(PAGES, exports, WIDTH, "attn")
    assert (tmp_path / "pics").read_text() == "keep me"


def test_an_existing_page_is_refused_without_force_and_nothing_is_written(tmp_path: Path
                                                                         ) -> None:
    taken = tmp_path / f"{NAMES[2]}.svg"
    taken.write_text("keep me")
    exports = screen.Exports(svg=folder(tmp_path), txt=folder(tmp_path))
    with pytest.raises(AttnError, match="already exists") as refusal:
        screen.save_each(PAGES, exports, WIDTH, "attn")
    assert str(taken) in str(refusal.value)  # the CLI adds how to replace it (--force)
    line = refused(run("demo", "--no-pause", "--svg", f"{tmp_path}/"), "already exists",
                   "(use --force to overwrite it)")
    assert str(taken) in line
    assert listing(tmp_path) == [taken.name]  # not even the pages before it
    assert taken.read_text() == "keep me"
    # known up front, the pages' names let the check refuse before the lesson
    with pytest.raises(AttnError, match="already exists"):
        check_exports(exports, allow_dirs=True, pages=[name for name, _ in PAGES])
    check_exports(exports, allow_dirs=True)  # without them, only the folder is checked

    forced = screen.Exports(svg=folder(tmp_path), txt=folder(tmp_path), force=True)
    check_exports(forced, allow_dirs=True, pages=[name for name, _ in PAGES])
    assert len(screen.save_each(PAGES, forced, WIDTH, "attn")) == 6
    ET.parse(taken)  # replaced by the page
    assert len(listing(tmp_path)) == 6


def test_check_refuses_a_folder_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(AttnError, match=r"is a directory$"):
        check_exports(screen.Exports(svg=tmp_path))  # explain, heads and compare: as ever
    with pytest.raises(AttnError, match="names a folder"):
        check_exports(screen.Exports(txt=folder(tmp_path / "new")))
    check_exports(screen.Exports(svg=tmp_path), allow_dirs=True)
    check_exports(screen.Exports(svg=folder(tmp_path / "new")), allow_dirs=True)
    assert listing(tmp_path) == []
    refused(run(*EXPLAIN, "--svg", str(tmp_path)), "is a directory")


def test_a_file_and_a_folder_of_the_same_name_are_refused(tmp_path: Path) -> None:
    exports = screen.Exports(svg=folder(tmp_path / "out"), txt=tmp_path / "out")
    with pytest.raises(AttnError, match="given to both --svg and --txt"):
        check_exports(exports, allow_dirs=True)


# ---------------------------------------------------------------- SVGs that render anywhere

@pytest.fixture(scope="module")
def explain_svg(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """attn explain's softmax matrix and bars as an SVG, and what the terminal showed."""
    path = tmp_path_factory.mktemp("svg") / "explain.svg"
    shown = ok(run(*EXPLAIN, "--svg", str(path), width=WIDTH))
    return path, shown


def test_the_svg_uses_local_fonts_only(explain_svg: tuple[Path, str]) -> None:
    svg = explain_svg[0].read_text(encoding="utf-8")
    assert "@font-face" not in svg and "Fira Code" not in svg
    assert "https:" not in svg and ".woff" not in svg
    assert re.findall(r"url\(([^)]*)\)", svg) and all(  # only the SVG's own clip paths
        ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", svg))
    stack = screen.MONO_FONTS
    assert stack.startswith("'DejaVu Sans Mono', ") and stack.endswith(", monospace")
    assert f"font-family: {stack};" in svg


def test_the_svg_keeps_every_space(explain_svg: tuple[Path, str]) -> None:
    path, _ = explain_svg
    svg = path.read_text(encoding="utf-8")
    root = ET.parse(path).getroot()
    # librsvg strips leading and trailing spaces, no-break ones too, unless preserve
    assert root.get(XML_SPACE) == "preserve"
    assert not [el for el in root.iter() if el.get(XML_SPACE) not in (None, "preserve")]
    assert "white-space: pre;" in svg
    pieces = ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]
    assert any(piece.startswith("\xa0\xa0") for piece in pieces)  # right-aligned numbers
    assert not any(" " in piece for piece in pieces)  # every space is a no-break one


def test_the_svg_columns_match_the_terminal(explain_svg: tuple[Path, str]) -> None:
    path, shown = explain_svg
    lines, cell = svg_lines(path)
    assert stripped("\n".join(lines)) == stripped(shown)
    matrix_rows = [line for line in lines if re.search(r"0\.\d\d", line)]
    assert len(matrix_rows) == 4 and all("%" not in row for row in matrix_rows)
    # each piece of text starts at its column even in a renderer that ignores textLength
    # (librsvg): a cell is as wide as a DejaVu Sans Mono character (1233/2048 em)
    size = float(re.search(r"font-size: (\d+(?:\.\d+)?)px", path.read_text()).group(1))
    assert cell / size == pytest.approx(1233 / 2048, abs=0.001)


def test_the_txt_export_matches_the_terminal(tmp_path: Path) -> None:
    txt = tmp_path / "explain.txt"
    shown = ok(run(*EXPLAIN, "--txt", str(txt), width=WIDTH))
    assert txt.read_text(encoding="utf-8") == shown
    header = next(line for line in shown.splitlines() if "key →" in line)
    rows = [line for line in shown.splitlines() if re.match(r"(The|animal|was|tired) +0", line)]
    assert len(rows) == 4
    for row in rows:
        for word in ("The", "animal", "was", "tired"):
            end = header.index(word, header.index("→")) + len(word)
            assert re.fullmatch(r"0\.\d\d\*?", row[:end + 1].split()[-1]), (row, word)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.skipif(shutil.which("rsvg-convert") is None,
                    reason="rsvg-convert (librsvg2-bin) is not installed; the XML-level "
                           "tests above check the alignment")
def test_librsvg_draws_the_svg(explain_svg: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = explain_svg
    png = tmp_path / "explain.png"
    done = subprocess.run(["rsvg-convert", str(path), "-o", str(png)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', path.read_text()).groups()
    assert png_size(png) == tuple(ceil(float(side)) for side in box)
