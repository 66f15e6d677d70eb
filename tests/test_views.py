"""What the views show: the demo, the --svg/--html/--txt exports, widths, positions, compare.

Everything runs in-process through typer's CliRunner (click >= 8.2 keeps stdout and stderr
apart), except one real process for the demo with a standard input that is not a terminal.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import after_header, ok, ok_json, refused
from conftest import invoke as run
from rich.cells import cell_len

ROOT = Path(__file__).resolve().parent.parent
ANIMAL = ROOT / "sample_weights" / "animal-tired.json"
BERT = str(Path(__file__).parent / "fixtures" / "models" / "bert")
MODEL_TEXT = "The animal didn't cross the street because it was tired"
WIDTHS = (60, 80, 100, 150)
SVG_TEXT = "{http://www.w3.org/2000/svg}text"

WORDS = ("the quick brown fox jumps over a lazy dog while seven tired animals sleep under "
         "tall green trees near quiet rivers").split()


def sentence(n: int) -> str:
    """n words, a fixed mix of WORDS (some repeat, as in real text)."""
    return " ".join(WORDS[(7 * i + i // 3) % len(WORDS)] for i in range(n))


LONG_20, LONG_60 = sentence(20), sentence(60)
NUMBERED_60 = " ".join(f"w{i}" for i in range(60))  # 60 distinct tokens














def failed_write(result, *words: str) -> None:
    """Exit code 2 with one error line, after the screen was shown in full."""
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attn: error:"), result.stderr
    assert "Traceback" not in result.output
    assert "“tired” attends to:" in result.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])


# ---------------------------------------------------------------- exports

EXPORT_CASES = {
    "explain": (("explain", "The animal was tired", "-w", str(ANIMAL)),
                ["The", "animal", "was", "tired"]),
    "heads": (("heads", MODEL_TEXT, "--model", BERT, "--from", "it", "--to", "animal"),
              ["it", "animal", "layer"]),
    "compare": (("compare", "I sat by the river bank", "I deposited money at the bank",
                 "--word", "bank"), ["bank", "river", "deposited"]),
    "demo": (("demo", "--no-pause"), ["love", "AI", "animal", "tired"]),
    "demo-model": (("demo", "--no-pause", "--model", BERT), ["tired", "animal", "Layer"]),
}


def svg_text(path: Path) -> str:
    """The terminal lines an SVG shows (test_pictures rebuilds them, checking each column)."""
    from test_pictures import svg_lines

    return "\n".join(svg_lines(path)[0])


def folder_listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("command", list(EXPORT_CASES))
def test_exports_are_written_whole_and_match_the_terminal(command: str, tmp_path: Path) -> None:
    args, tokens = EXPORT_CASES[command]
    svg, html, txt = tmp_path / "v.svg", tmp_path / "v.html", tmp_path / "v.txt"
    shown = ok(run(*args, "--svg", str(svg), "--html", str(html), "--txt", str(txt)))
    assert folder_listing(tmp_path) == ["v.html", "v.svg", "v.txt"]  # no temporary files

    assert txt.read_text(encoding="utf-8") == shown  # exactly what the terminal showed
    text = svg_text(svg)
    for token in tokens:
        assert re.search(rf"\b{re.escape(token)}\b", text), token
        assert token in html.read_text(encoding="utf-8")
    # the SVG shows the same lines as the terminal
    svg_lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    shown_lines = [line.rstrip() for line in shown.splitlines() if line.strip()]
    assert svg_lines == shown_lines
    page = html.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>") and "</html>" in page
    assert oct(txt.stat().st_mode & 0o777) == "0o644"


JSON_CASES = {
    "explain": ("explain", "the cat"),
    "heads": ("heads", "the cat sat", "--heads", "2"),
    "compare": ("compare", "the cat", "a cat", "--word", "cat"),
}


@pytest.mark.parametrize("command", list(JSON_CASES))
@pytest.mark.parametrize("kinds", [["--svg"], ["--html"], ["--txt"], ["--svg", "--txt"]])
def test_exports_with_json_are_a_usage_error(command: str, kinds: list[str],
                                             tmp_path: Path) -> None:
    targets = [arg for kind in kinds for arg in (kind, str(tmp_path / f"out{kind[2:]}"))]
    line = refused(run(*JSON_CASES[command], "--json", *targets), *kinds, "--json")
    assert "what the terminal shows" in line
    assert folder_listing(tmp_path) == []


@pytest.mark.parametrize("command", ["explain", "heads", "compare", "demo"])
def test_the_html_export_has_a_title_and_reads_on_white(command: str, tmp_path: Path) -> None:
    args, _ = EXPORT_CASES[command]
    page = tmp_path / "page.html"
    ok(run(*args, "--html", str(page)))
    html = page.read_text(encoding="utf-8")
    title = re.search(r"<title>(.*)</title>", html)
    assert title is not None
    assert title.group(1).startswith(f"attn {command}")
    if command == "explain":
        assert title.group(1) == "attn explain: The animal was tired"
    assert "background-color: #ffffff" in html
    assert "#00ff00" not in html and "#ffff00" not in html  # rules are not bright green


def test_the_html_title_is_escaped(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    ok(run("explain", "a <b> & {c}", "--html", str(page)))
    assert "<title>attn explain: a &lt;b&gt; &amp; {c}</title>" in page.read_text("utf-8")


@pytest.mark.parametrize("command", list(EXPORT_CASES))
@pytest.mark.parametrize("kind", ["--svg", "--html", "--txt"])
def test_an_existing_file_is_refused_without_force(command: str, kind: str,
                                                   tmp_path: Path) -> None:
    args, _ = EXPORT_CASES[command]
    target = tmp_path / "existing"
    target.write_text("keep me")
    refused(run(*args, kind, str(target)), str(target), "already exists", "--force")
    assert target.read_text() == "keep me"
    assert folder_listing(tmp_path) == ["existing"]

    ok(run(*args, kind, str(target), "--force"))
    replaced = target.read_text(encoding="utf-8")
    assert replaced != "keep me"
    if kind == "--svg":
        ET.parse(target)
    assert folder_listing(tmp_path) == ["existing"]


def test_a_refused_export_writes_none_of_the_others(tmp_path: Path) -> None:
    (tmp_path / "taken.txt").write_text("x")
    refused(run("explain", "The animal was tired", "--svg", str(tmp_path / "new.svg"),
                "--txt", str(tmp_path / "taken.txt")), "already exists")
    assert folder_listing(tmp_path) == ["taken.txt"]


@pytest.mark.parametrize("command", list(EXPORT_CASES))
def test_a_missing_folder_leaves_no_file(command: str, tmp_path: Path) -> None:
    args, _ = EXPORT_CASES[command]
    good, bad = tmp_path / "good.svg", tmp_path / "no" / "such" / "out.txt"
    refused(run(*args, "--svg", str(good), "--txt", str(bad)), "does not exist")
    assert folder_listing(tmp_path) == []


def test_a_directory_as_target_is_refused(tmp_path: Path) -> None:
    refused(run("explain", "The animal was tired", "--svg", str(tmp_path)), "is a directory")
    assert folder_listing(tmp_path) == []


def test_a_failed_write_leaves_no_partial_or_temporary_file(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import attncli.files

    def broken_replace(src, dst):
        assert Path(src).exists()  # the temporary file was written: now fail the rename
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(attncli.files.os, "replace", broken_replace)  # with --force
    monkeypatch.setattr(attncli.files.os, "link", broken_replace)  # a new file: no clobber
    target = tmp_path / "out.svg"
    # the screen is shown first, then saved: the refusal comes after the output
    failed_write(run("explain", "The animal was tired", "--svg", str(target)), str(target),
                 "No space left on device")
    assert folder_listing(tmp_path) == []

    target.write_text("old")  # with --force, a failure keeps the old file as it was
    failed_write(run("explain", "The animal was tired", "--svg", str(target), "--force"))
    assert target.read_text() == "old"
    assert folder_listing(tmp_path) == ["out.svg"]


# ---------------------------------------------------------------- widths

WIDTH_CASES = {
    "explain-20": ("explain", LONG_20, "--heads", "2", "--causal"),
    "explain-60": ("explain", LONG_60, "--heads", "2", "--causal"),
    "explain-60-heatmap": ("explain", LONG_60, "--heatmap"),
    "compare": ("compare", LONG_20, LONG_60, "--word", "fox", "--heads", "2"),
    "heads": ("heads", LONG_60, "--heads", "4", "--from", "fox", "--to", "dog"),
    "heads-model": ("heads", MODEL_TEXT, "--model", BERT),
    "demo": ("demo", "--no-pause"),
    "demo-model": ("demo", "--no-pause", "--model", BERT),
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", list(WIDTH_CASES))
def test_no_line_is_wider_than_the_terminal(case: str, width: int) -> None:
    out = ok(run(*WIDTH_CASES[case], width=width))
    lines = out.splitlines()
    assert len(lines) > 5
    widest = max(cell_len(line) for line in lines)
    assert widest <= width, max(lines, key=cell_len)


HEADS_12 = ("heads", MODEL_TEXT, "--heads", "12", "--d-model", "24")


def grid_lines(out: str) -> list[str]:
    """The header and rows of the heads grid."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("layer "))
    return lines[start:start + 2]  # one layer: header and row


@pytest.mark.parametrize("width", [40, 60, 80, 100])
@pytest.mark.parametrize("pair", [True, False])
def test_the_heads_grid_fits_narrow_terminals(width: int, pair: bool) -> None:
    args = (*HEADS_12, "--from", "it", "--to", "animal") if pair else HEADS_12
    out = ok(run(*args, width=width))
    assert max(cell_len(line) for line in out.splitlines()) <= width
    header, row = grid_lines(out)
    assert row.count("…") == (1 if row.endswith(" …") else 0)  # no cell is cut to "…"
    shown = header.split("…")[0].split()[1:]
    assert shown == [str(h) for h in range(len(shown))]
    cells = re.findall(r"[░▒▓█SPNFL·]?\s*\d+", row)[1:]  # after the layer number
    assert len(cells) == len(shown)
    if len(shown) < 12:
        assert header.endswith(f"… {12 - len(shown)} more heads") and row.endswith(" …")
    else:
        assert "more heads" not in header
    if width >= 60:  # 12 heads of 4 characters fit in 60 columns
        assert len(shown) == 12


def test_the_heads_grid_cells_are_as_wide_as_their_numbers() -> None:
    out = ok(run(*HEADS_12, "--from", "it", "--to", "animal", width=100))
    header, row = grid_lines(out)
    assert header == "layer" + "".join(f" {h:>3}" for h in range(12))  # "▓66" fits in 3
    assert len(row) == len(header)


@pytest.mark.parametrize("width", [40, 60])
def test_the_heads_grid_of_a_model_fits(width: int) -> None:
    out = ok(run("heads", MODEL_TEXT, "--model", BERT, "--from", "it", "--to", "animal",
                 width=width))
    assert max(cell_len(line) for line in out.splitlines()) <= width
    header, _ = grid_lines(out)
    assert header.split() == ["layer", "0", "1", "2", "3"]


def test_exports_are_laid_out_at_the_terminal_width(tmp_path: Path) -> None:
    txt = tmp_path / "wide.txt"
    ok(run(*WIDTH_CASES["explain-60"], "--txt", str(txt), width=60))
    lines = txt.read_text(encoding="utf-8").splitlines()
    assert max(cell_len(line) for line in lines) <= 60


@pytest.mark.parametrize("width", [60, 80, 150])
def test_a_long_matrix_says_how_many_columns_and_rows_it_hides(width: int) -> None:
    out = ok(run("explain", NUMBERED_60, "--show", "scores", width=width))
    header = next(line for line in out.splitlines() if line.startswith("query ↓ key →"))
    shown_cols = re.findall(r"\bw\d+\b", header)
    hidden_cols = re.search(r"… (\d+) more$", header.rstrip())
    assert hidden_cols is not None, header
    assert len(shown_cols) + int(hidden_cols.group(1)) == 60
    assert shown_cols == [f"w{i}" for i in range(len(shown_cols))]
    out = after_header(out)
    rows = [line for line in out.splitlines() if re.match(r"w\d+\s", line)]
    hidden_rows = re.search(r"^… (\d+) more rows$", out, re.MULTILINE)
    assert hidden_rows is not None
    assert len(rows) + int(hidden_rows.group(1)) == 60
    assert all(line.rstrip().endswith("…") for line in rows)  # each row says it goes on


def test_heatmap_fits_60_tokens_in_100_columns() -> None:
    out = ok(run("explain", NUMBERED_60, "--heatmap", "--show", "scores,scaled,softmax",
                 width=100))
    assert max(cell_len(line) for line in out.splitlines()) <= 100
    assert "more" not in out  # nothing is cut
    for i in range(60):  # every query's row, once per matrix, with all 60 cells
        rows = re.findall(rf"^\s*{i} w{i}\s+([ ░▒▓█]{{60}})$", out, re.MULTILINE)
        assert len(rows) == 3, (i, rows)
    # the softmax heatmap shades each row relative to its largest weight: one █ at least
    softmax = out[out.index("softmax("):]
    cells = re.findall(r"^\s*\d+ w\d+\s+([ ░▒▓█]{60})$", softmax, re.MULTILINE)
    assert len(cells) == 60 and all("█" in row for row in cells)


def test_max_tokens_refuses_longer_text() -> None:
    refused(run("explain", NUMBERED_60, "--max-tokens", "59"), "60 tokens", "59")
    refused(run("explain", NUMBERED_60, "--max-tokens", "59", "--json"), "60 tokens")
    doc = ok_json(run("explain", NUMBERED_60, "--max-tokens", "60", "--json"))
    assert len(doc["tokens"]) == 60
    refused(run("explain", "a b", "--max-tokens", "0"), "--max-tokens")
    refused(run("explain", "a b", "--max-tokens", "8193"), "--max-tokens")


# ---------------------------------------------------------------- positions


def hand_pe(pos: int, d_model: int) -> list[float]:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(the same)."""
    out = []
    for j in range(d_model):
        two_i = j - j % 2
        angle = pos / 10000 ** (two_i / d_model)
        out.append(math.sin(angle) if j % 2 == 0 else math.cos(angle))
    return out


def test_sinusoidal_positions_are_the_paper_values() -> None:
    plain = ok_json(run("explain", "The cat sat on the mat", "--json"))
    doc = ok_json(run("explain", "The cat sat on the mat", "--positions", "sinusoidal",
                      "--json"))
    assert doc["config"]["positions"] == "sinusoidal"
    assert "positions" not in plain
    pe = np.array(doc["positions"])
    assert pe.shape == (6, 8)
    expected_1 = [math.sin(1), math.cos(1), math.sin(0.1), math.cos(0.1), math.sin(0.01),
                  math.cos(0.01), math.sin(0.001), math.cos(0.001)]
    np.testing.assert_allclose(pe[1], expected_1, rtol=0, atol=1e-15)
    assert pe[0].tolist() == [0.0, 1.0] * 4
    for pos in range(6):
        np.testing.assert_allclose(pe[pos], hand_pe(pos, 8), rtol=0, atol=1e-15)
    # X is the embeddings plus PE, and the heads start from that X
    np.testing.assert_allclose(doc["embeddings"], np.array(plain["embeddings"]) + pe,
                               rtol=0, atol=1e-15)
    q = np.array(doc["embeddings"]) @ np.array(doc["heads"][0]["w_q"])
    np.testing.assert_allclose(doc["heads"][0]["q"], q, rtol=0, atol=1e-12)


def test_sinusoidal_positions_with_an_odd_d_model() -> None:
    doc = ok_json(run("explain", "a b c", "--positions", "sinusoidal", "--d-model", "5",
                      "--json"))
    pe = np.array(doc["positions"])
    assert pe.shape == (3, 5)
    for pos in range(3):
        np.testing.assert_allclose(pe[pos], hand_pe(pos, 5), rtol=0, atol=1e-15)


def test_positions_are_their_own_step_in_the_terminal() -> None:
    out = ok(run("explain", "The cat sat", "--positions", "sinusoidal", "--show", "x,qkv"))
    x, pe, step2 = (out.index("Step 1 · Embeddings X"), out.index("Step 1b · Positions"),
                    out.index("Step 2"))
    assert x < pe < step2
    block = out[pe:step2]
    assert "PE (3×8)" in block and "X = embeddings + PE (3×8)" in block
    assert re.search(r"^pos 1\s+0\.84\s+0\.54\s+0\.10\s+1\.00\s+0\.01\s+1\.00\s+0\.00\s+1\.00",
                     block, re.MULTILINE)
    assert "Positions" not in ok(run("explain", "The cat sat", "--show", "x,qkv"))


def permutation_pair(positions: str) -> tuple[dict, dict, list[int]]:
    a = ok_json(run("explain", "dog bites man today", "--positions", positions, "--json"))
    b = ok_json(run("explain", "today man bites dog", "--positions", positions, "--json"))
    words_a = [t["text"] for t in a["tokens"]]
    perm = [words_a.index(t["text"]) for t in b["tokens"]]  # b's token i is a's token perm[i]
    return a, b, perm


def test_without_positions_attention_is_permutation_equivariant() -> None:
    a, b, perm = permutation_pair("none")
    assert perm == [3, 2, 1, 0]
    ha, hb = a["heads"][0], b["heads"][0]
    p = np.array(perm)
    for key in ("q", "k", "v", "output"):
        np.testing.assert_allclose(np.array(hb[key]), np.array(ha[key])[p], rtol=0, atol=1e-12)
    for key in ("scores", "weights"):
        np.testing.assert_allclose(np.array(hb[key]), np.array(ha[key])[np.ix_(p, p)],
                                   rtol=0, atol=1e-12)


def test_with_positions_it_is_not() -> None:
    a, b, perm = permutation_pair("sinusoidal")
    p = np.array(perm)
    ha, hb = a["heads"][0], b["heads"][0]
    assert not np.allclose(np.array(hb["output"]), np.array(ha["output"])[p], atol=1e-6)
    assert not np.allclose(np.array(hb["weights"]), np.array(ha["weights"])[np.ix_(p, p)],
                           atol=1e-6)


# ---------------------------------------------------------------- compare

BANK_A, BANK_B = "I sat by the river bank", "I deposited money at the bank"


def test_compare_bank_text() -> None:
    out = ok(run("compare", BANK_A, BANK_B, "--word", "bank"))
    doc = ok_json(run("compare", BANK_A, BANK_B, "--word", "bank", "--json"))
    assert after_header(out).startswith("“bank” in two contexts, A and B")
    assert f"Input A “{BANK_A}”" in out and f"Input B “{BANK_B}”" in out
    assert out.count("“bank” attends to:") == 2
    assert f"Output of “bank”: cosine {doc['cosine']:.3f} between A and B" in out
    assert "Input X of “bank”: cosine 1.000 between A and B (the same embedding goes in)" in out
    # the bars' percentages are the JSON's weights of "bank" in each sentence
    for side in ("a", "b"):
        for w in doc[side]["heads"][0]["weights"]:
            assert f"{100 * w:.1f}%" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_draws_both_charts_to_one_scale(width: int) -> None:
    # "bank" holds the same weights for "I" in both columns only if both bars share a scale:
    # compare a sentence with itself, whose two charts must then be identical cell for cell
    out = ok(run("compare", BANK_A, BANK_A, "--word", "bank", width=width))
    rows = [line for line in out.splitlines() if "%" in line]
    assert len(rows) == len(BANK_A.split())
    for line in rows:
        left, right = line[: len(line) // 2 + 2].rstrip(), line[len(line) // 2 + 2:].strip()
        assert left.strip() == right, line
        assert cell_len(line) <= width
        assert line.strip().endswith("%")  # the percentage is never cut off


@pytest.mark.parametrize("width", (30, 50, 80))
def test_compare_keeps_every_percentage_whole_in_narrow_terminals(width: int) -> None:
    a, b = "the extraordinarily big elephant", "an extraordinarily small elephant"
    out = ok(run("compare", a, b, "--word", "extraordinarily", width=width))
    doc = ok_json(run("compare", a, b, "--word", "extraordinarily", "--json"))
    for side in ("a", "b"):
        for w in doc[side]["heads"][0]["weights"]:
            assert f"{100 * w:.1f}%" in out, (width, w)
    assert max(cell_len(line) for line in out.splitlines()) <= width


def test_compare_quotes_a_byte_level_word_without_its_space() -> None:
    gpt2 = str(Path(__file__).parent / "fixtures" / "models" / "gpt2")
    out = ok(run("compare", "The animal was tired", "The animal slept", "--word", "animal",
                 "--model", gpt2, "--layer", "0", width=80))
    assert out.count("“animal” attends to:") == 2
    assert "“ animal”" not in out


def test_compare_bank_json() -> None:
    doc = ok_json(run("compare", BANK_A, BANK_B, "--word", "bank", "--json"))
    assert doc["schema"] == "attncli.compare/1"
    assert doc["word"] == "bank"
    assert doc["config"]["weights"] == "seeded"
    for side, text in (("a", BANK_A), ("b", BANK_B)):
        entry = doc[side]
        assert entry["text"] == text
        assert entry["tokens"][entry["index"]]["text"] == "bank"
        assert entry["index"] == 5
        (head,) = entry["heads"]
        assert len(head["weights"]) == len(entry["tokens"]) == 6
        assert sum(head["weights"]) == pytest.approx(1.0, abs=1e-12)
        assert len(head["output"]) == 4
    for key in ("cosine", "input_cosine"):
        assert -1.0 <= doc[key] <= 1.0
    assert -1.0 <= doc["head_cosines"][0] <= 1.0
    out_a = np.array(doc["a"]["heads"][0]["output"])
    out_b = np.array(doc["b"]["heads"][0]["output"])
    cos = out_a @ out_b / (np.linalg.norm(out_a) * np.linalg.norm(out_b))
    assert doc["cosine"] == pytest.approx(cos, abs=1e-12)
    assert doc["cosine"] < 0.999  # the context moved it
    assert doc["input_cosine"] == pytest.approx(1.0, abs=1e-12)  # same word, same embedding


@pytest.mark.parametrize("extra", [(), ("--heads", "2"), ("--positions", "sinusoidal"),
                                   ("--causal",), ("-w", str(ANIMAL))])
def test_a_sentence_compared_with_itself_has_cosine_1(extra: tuple[str, ...]) -> None:
    text = "The animal was tired" if extra[:1] == ("-w",) else BANK_A
    word = "tired" if extra[:1] == ("-w",) else "bank"
    doc = ok_json(run("compare", text, text, "--word", word, *extra, "--json"))
    assert doc["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert doc["input_cosine"] == pytest.approx(1.0, abs=1e-12)
    assert doc["head_cosines"] == pytest.approx([1.0] * len(doc["head_cosines"]), abs=1e-12)
    assert doc["a"]["heads"] == doc["b"]["heads"]


def test_a_permuted_sentence_gives_cosine_1_without_positions() -> None:
    doc = ok_json(run("compare", "dog bites man", "man bites dog", "--word", "dog", "--json"))
    assert doc["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert doc["input_cosine"] == pytest.approx(1.0, abs=1e-12)
    assert sorted(doc["a"]["heads"][0]["weights"]) == pytest.approx(
        sorted(doc["b"]["heads"][0]["weights"]), abs=1e-12)
    out = ok(run("compare", "dog bites man", "man bites dog", "--word", "dog"))
    assert "Output of “dog”: cosine 1.000 between A and B" in out
    # with positions, the two "dog"s differ (README: input 0.845, output 0.998)
    moved = ok_json(run("compare", "dog bites man", "man bites dog", "--word", "dog",
                        "--positions", "sinusoidal", "--json"))
    assert moved["input_cosine"] == pytest.approx(0.845, abs=0.0005)
    assert moved["cosine"] == pytest.approx(0.998, abs=0.0005)
    assert moved["cosine"] < 1 - 1e-6


def test_compare_with_the_animal_tired_weights() -> None:
    args = ("compare", "The animal was tired", "The tired animal was", "--word", "tired",
            "-w", str(ANIMAL))
    doc = ok_json(run(*args, "--json"))
    assert doc["config"]["embeddings"] == "file"
    assert doc["config"]["weights"] == str(ANIMAL)
    weights_a = doc["a"]["heads"][0]["weights"]
    assert weights_a == pytest.approx([0.118, 0.646, 0.118, 0.118], abs=0.0005)
    animal_b = [t["text"] for t in doc["b"]["tokens"]].index("animal")
    assert doc["b"]["heads"][0]["weights"][animal_b] == pytest.approx(0.646, abs=0.0005)
    assert doc["cosine"] == pytest.approx(1.0, abs=1e-12)  # a permutation, no positions
    out = ok(run(*args))
    assert out.count("64.6%") == 2


def test_compare_unknown_word_is_refused() -> None:
    refused(run("compare", BANK_A, BANK_B, "--word", "money"), "'money'", "TEXT_A")
    refused(run("compare", BANK_A, BANK_B, "--word", "river", "--json"), "'river'", "TEXT_B")
    refused(run("compare", BANK_A, BANK_B, "--word", "tiger"), "'tiger'")


def test_compare_needs_a_word() -> None:
    refused(run("compare", BANK_A, BANK_B), "--word")


def test_two_exports_into_one_file_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "same.out"
    for force in ([], ["--force"]):
        result = run("explain", "a b", "--svg", str(target), "--txt",
                     str(tmp_path / "." / "same.out"), *force)
        assert result.exit_code == 2
        assert "given to both --svg and --txt" in result.stderr
        assert not target.exists()  # refused before anything is written
