"""`attn explain` end to end: the terminal view at 100 columns, options, and every error's shape.

CliRunner keeps stdout and stderr apart (click 8.2+), and its stdout is not a terminal,
so these runs are the piped case. FORCE_COLOR stands in for a terminal where one is needed.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ANIMAL_TIRED, I_LOVE_AI, ROOT, WIDTH, after_header, invoke, strict_json
from conftest import refused as assert_refused
from rich.cells import cell_len

import attncli

SENTENCE = "The animal was tired"


def ok(*args: str, **kwargs):
    result = invoke(*args, **kwargs)
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return result




# ---------------------------------------------------------------- the terminal view


def test_explain_prints_every_section_within_100_columns_without_escape_codes() -> None:
    out = ok("explain", SENTENCE, "-w", str(ANIMAL_TIRED)).stdout
    marks = ["Tokens (word-level)", "Step 1 · Embeddings X", "W_Q (6×4)", "W_K (6×4)",
             "W_V (6×4)", "Q (4×4)", "K (4×4)", "V (4×4)", "Scores (4×4)",
             "Scaled = scores / √d_k = scores / √4 = scores / 2.000", "Weights (4×4)",
             "“tired” attends to:", "Output (4×4)"]
    places = [out.index(m) for m in marks]
    assert places == sorted(places)
    assert max(cell_len(line) for line in out.splitlines()) <= WIDTH
    assert "\x1b" not in out


def test_narrower_terminals_are_respected() -> None:
    out = ok("explain", "the quick brown fox jumps over the lazy dog", width=60).stdout
    assert max(cell_len(line) for line in out.splitlines()) <= 60


def test_a_terminal_gets_styles_but_no_color_gets_no_escape_codes_at_all() -> None:
    styled = ok("explain", "a b", "--show", "softmax",
                env={"FORCE_COLOR": "1", "NO_COLOR": None})
    assert "\x1b[" in styled.stdout  # a terminal: bold, reverse, colour
    plain = ok("explain", "a b", "--show", "softmax",
               env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b" not in plain.stdout
    assert "*" in plain.stdout  # the mark still says which weight is largest
    piped = ok("explain", "a b", "--show", "softmax", env={"FORCE_COLOR": None})
    assert piped.stdout == plain.stdout


def test_focus_tired_prints_the_lessons_chart() -> None:
    out = ok("explain", SENTENCE, "--weights", str(ANIMAL_TIRED), "--focus", "tired").stdout
    out = out[out.index("“tired” attends to:"):]  # after the header and the softmax by hand
    assert [line.rstrip() for line in out.splitlines() if line.strip()] == [
        "“tired” attends to:",
        "   The ██▉                       11.8%",
        "animal ███████████████▌          64.6%",
        "   was ██▉                       11.8%",
        " tired ██▉                       11.8%",
    ]


def test_focus_ignores_case_and_an_unknown_word_is_refused() -> None:
    assert "“tired” attends to:" in ok("explain", SENTENCE, "--focus", "TIRED").stdout
    assert_refused(invoke("explain", SENTENCE, "--focus", "zebra"),
                   "--focus 'zebra' is not one of the tokens: The, animal, was, tired")


def test_the_lesson_patterns_in_the_json_numbers() -> None:
    doc = strict_json(ok("explain", SENTENCE, "-w", str(ANIMAL_TIRED), "--json").stdout)
    words = [t["text"] for t in doc["tokens"]]
    weights = np.array(doc["heads"][0]["weights"])

    def most(word: str) -> tuple[str, float]:
        row = weights[words.index(word)]
        return words[int(np.argmax(row))], float(row.max())

    tired_to, share = most("tired")
    assert tired_to == "animal" and 0.60 <= share <= 0.70
    # e^1.7 / (e^1.7 + 3) = 5.473947 / 8.473947 = 0.645974
    assert share == pytest.approx(0.645974, abs=1e-6)
    assert most("The")[0] == "animal"
    assert most("animal")[0] == "tired"


def test_show_picks_sections_and_refuses_unknown_ones() -> None:
    out = after_header(ok("explain", SENTENCE, "--show", "scores,softmax").stdout)
    assert "Scores (4×4)" in out and "Weights (4×4)" in out
    assert "Tokens" not in out and "Output" not in out and "W_Q" not in out
    repeated = after_header(ok("explain", SENTENCE, "--show", "scores", "--show",
                               "output").stdout)
    assert "Scores (4×4)" in repeated and "Output (4×4)" in repeated  # --show can repeat
    assert "Weights" not in repeated
    assert_refused(invoke("explain", SENTENCE, "--show", "scores,bogus"),
                   "unknown section 'bogus'")


def test_precision_sets_decimal_places_but_json_keeps_every_digit() -> None:
    out = ok("explain", "I love AI", "-w", str(I_LOVE_AI), "--show", "softmax",
             "--precision", "4").stdout
    assert "0.3072   0.1863   0.5065*" in out
    out6 = ok("explain", "I love AI", "-w", str(I_LOVE_AI), "--show", "softmax",
              "--precision", "6").stdout
    assert "0.307196" in out6  # 0.307195886 to six places
    assert_refused(invoke("explain", "a b", "--precision", "11"), "--precision")


def test_two_heads() -> None:
    out = ok("explain", SENTENCE, "--heads", "2", "--show", "softmax").stdout
    assert out.index("Head 0 (of 2: 0 to 1)") < out.index("Head 1 (of 2: 0 to 1)")
    doc = strict_json(ok("explain", SENTENCE, "--heads", "2", "--json").stdout)
    assert doc["config"]["heads"] == 2
    assert (doc["config"]["d_k"], doc["config"]["d_v"]) == (4, 4)  # 8 / 2 each
    assert len(doc["heads"]) == 2
    assert doc["heads"][0]["weights"] != doc["heads"][1]["weights"]


def test_causal() -> None:
    out = ok("explain", SENTENCE, "--causal", "--show", "scaled,softmax").stdout
    assert "−∞" not in out and "0.00 " not in out.split("Weights (4×4)")[1].split("\n")[2]
    assert out.count("—") == 2 * 6 + 1  # 6 hidden pairs in scaled and weights, and the legend
    assert "— masked: a later token, hidden by the causal mask" in out
    doc = strict_json(ok("explain", SENTENCE, "--causal", "--json").stdout)
    assert doc["config"]["causal"] is True
    for i, row in enumerate(doc["heads"][0]["weights"]):
        assert all(w == 0 for w in row[i + 1:])
        assert sum(row) == pytest.approx(1.0, abs=1e-12)


def test_version() -> None:
    result = ok("--version")
    assert result.stdout == f"attn {attncli.__version__}\n"


def test_python_dash_m_runs_the_same_cli() -> None:
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    help_run = subprocess.run([sys.executable, "-m", "attncli", "--help"], capture_output=True,
                              text=True, env=env, timeout=60, check=False)
    assert help_run.returncode == 0, help_run.stderr
    assert help_run.stdout.startswith("Usage: attn")
    for command in ("explain", "heads", "compare", "demo", "weights"):
        assert command in help_run.stdout
    run = subprocess.run([sys.executable, "-m", "attncli", "explain", SENTENCE, "-w",
                          str(ANIMAL_TIRED), "--focus", "tired"], capture_output=True,
                         text=True, env=env, timeout=60, check=False, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "animal ███████████████▌          64.6%" in run.stdout
    assert "\x1b" not in run.stdout  # a pipe: no escape codes


# ---------------------------------------------------------------- errors


def write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


@pytest.mark.parametrize(("name", "content", "words"), [
    ("missing.json", None, ["missing.json: no such weights file"]),
    ("bad.json", "nope", ["bad.json: not valid JSON"]),
    ("weights.txt", "hi", ["unknown weights format .txt", ".json, .npz, .safetensors"]),
    ("model.pt", "x", ["pickles", "refused"]),
    ("shape.json", {"w_q": [[1, 0, 0], [0, 1, 0]], "w_k": [[1, 0], [0, 1]], "w_v": [[1], [0]]},
     ["w_q is 2×3 but w_k is 2×2"]),
    ("rows.json", {"w_q": [[1, 0], [0, 1]], "w_k": [[1, 0], [0, 1]], "w_v": [[1], [0], [1]]},
     ["w_v has 3 rows but w_q has 2"]),
    ("flat.json", {"w_q": [1, 0], "w_k": [1, 0], "w_v": [1, 0]}, ["'w_q' must be a non-empty 2-D"]),
    ("nokey.json", {"w_q": [[1]], "w_k": [[1]]}, ["missing 'w_v'"]),
    ("emb.json", {"embeddings": {"a": [1, 2, 3], "b": [1, 2]}, "w_q": [[1], [0]],
                  "w_k": [[1], [0]], "w_v": [[1], [0]]},
     ["embeddings['a'] has 3 numbers", "d_model = 2"]),
    ("nan.json", '{"w_q": [[NaN]], "w_k": [[1]], "w_v": [[1]]}', ["NaN"]),
])
def test_bad_weight_files_are_one_line_and_exit_2(tmp_path: Path, name: str, content,
                                                  words: list[str]) -> None:
    path = tmp_path / name
    if content is not None:
        write(path, content)
    assert_refused(invoke("explain", "a b", "-w", str(path)), *words)


@pytest.mark.parametrize(("args", "words"), [
    (["--d-model", "7", "--heads", "2"], ["d_model 7 does not split into 2 heads"]),
    (["--d-model", "0"], ["--d-model must be between 1 and 4096"]),
    (["--d-k", "0"], ["--d-k must be between 1 and 1024"]),
    (["--positions", "learned"], ["unknown --positions 'learned'"]),
    (["--bogus"], ["No such option", "--bogus"]),  # typer's wording, our one line
    (["--seed", "-1"], ["--seed"]),
    (["--layer", "1"], ["--layer goes with --model"]),
    (["-w", str(ANIMAL_TIRED), "--d-model", "4"], ["--d-model cannot be combined with --weights"]),
    (["-w", str(I_LOVE_AI)], ["token 'a' has no embedding", "it knows: I, love, AI"]),
])
def test_bad_options_are_one_line_and_exit_2(args: list[str], words: list[str]) -> None:
    assert_refused(invoke("explain", "a b", *args), *words)


def test_d_model_not_divisible_works_when_d_k_and_d_v_are_given() -> None:
    doc = strict_json(ok("explain", "a b", "--d-model", "7", "--heads", "2", "--d-k", "3",
                         "--d-v", "2", "--json").stdout)
    assert (doc["config"]["d_model"], doc["config"]["d_k"], doc["config"]["d_v"]) == (7, 3, 2)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_text_is_refused(text: str) -> None:
    assert_refused(invoke("explain", text), "the text is empty")
    assert_refused(invoke("explain", "-", stdin=text), "the text is empty")


def test_a_text_of_only_punctuation_is_one_token() -> None:
    doc = strict_json(ok("explain", "?!", "--json").stdout)
    assert [t["text"] for t in doc["tokens"]] == ["?!"]
    assert doc["heads"][0]["weights"] == [[1.0]]  # one token attends only to itself


def test_a_missing_argument_is_one_line() -> None:
    assert_refused(invoke("explain"), "Missing argument 'TEXT'")  # named as --help names it


# ---------------------------------------------------------------- typer's own exceptions


def test_an_abort_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    explain_module = importlib.import_module("attncli.explain")

    def abort(*args, **kwargs):
        raise typer.Abort()

    monkeypatch.setattr(explain_module, "explain", abort)
    result = invoke("explain", "a b")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "attn: error: aborted\n")


def test_a_typer_error_raised_by_a_command_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    explain_module = importlib.import_module("attncli.explain")

    def fail(*args, **kwargs):
        raise typer.BadParameter("no good", param_hint="'--head'")

    monkeypatch.setattr(explain_module, "explain", fail)
    line = assert_refused(invoke("explain", "a b"), "Invalid value for '--head': no good")
    assert line.endswith("(see 'root explain --help')")


def test_ctrl_c_exits_130_without_a_word(monkeypatch: pytest.MonkeyPatch) -> None:
    explain_module = importlib.import_module("attncli.explain")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(explain_module, "explain", interrupt)
    result = invoke("explain", "a b")
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "")


@pytest.mark.parametrize(("args", "code", "start"), [
    (["--help"], 0, "Usage: attn [OPTIONS]"),
    (["explain", SENTENCE, "--json"], 0, '{"schema":"attncli.explain/1"'),
    (["explain", SENTENCE, "--bogus"], 2, ""),
    (["--show-completion", "bash"], 0, "_attn_completion()"),
])
def test_the_click_package_is_never_imported(args: list[str], code: int, start: str) -> None:
    # typer vendors its own click since 0.26: the click package, when some other package
    # brings it, is not the one typer runs, so nothing here may import it
    script = ("import runpy, sys; sys.modules['click'] = None; sys.argv = ['attn', *sys.argv[1:]]; "
              "runpy.run_module('attncli', run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "100"}, timeout=60, check=False)
    assert run.returncode == code, run.stderr
    assert run.stdout.startswith(start)
    if code == 2:
        assert run.stderr.startswith("attn: error: No such option") and run.stderr.count("\n") == 1


def test_a_long_tokenizer_path_stays_on_the_title_line() -> None:
    path = Path(__file__).resolve().parent / "fixtures" / "models" / "bert" / "tokenizer.json"
    result = invoke("explain", "The animal was tired", "--tokenizer", str(path),
                    "--show", "tokens", width=40)
    assert result.exit_code == 0, result.output
    lines = after_header(result.stdout).splitlines()
    assert lines[0].startswith("Tokens (") and lines[0].endswith("…")
    assert lines[1].split() == ["#", "token", "id", "start", "end"]
    assert lines[2].split() == ["0", "[CLS]", "2", "0", "0"]
    assert max(cell_len(line) for line in lines) <= 40


def test_empty_layer_and_show_values_are_refused_not_defaulted() -> None:
    bert = str(ROOT / "tests" / "fixtures" / "models" / "bert")
    for args, words in ((["explain", "a b", "--model", bert, "--layer", ""], "--layer ''"),
                        (["heads", "a b", "--model", bert, "--head", ""], "--head ''"),
                        (["explain", "a b", "--show", ","], "--show: name at least one")):
        result = invoke(*args)
        assert result.exit_code == 2 and words in result.stderr, (args, result.stderr)


def test_focus_adds_its_bars_to_show_and_is_checked_with_json() -> None:
    out = invoke("explain", "the cat", "--show", "softmax", "--focus", "cat").stdout
    assert "Step 4b" in out and "“cat” attends to:" in out and "“the” attends to" not in out
    result = invoke("explain", "the cat", "--json", "--focus", "dog")
    assert result.exit_code == 2 and "--focus 'dog' is not one of the tokens" in result.stderr


def test_heads_and_compare_take_max_tokens() -> None:
    for args in (["heads", "a b c", "--max-tokens", "2"],
                 ["compare", "a b c", "a b", "--word", "a", "--max-tokens", "2"]):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert "the text has 3 tokens, more than the limit of 2" in result.stderr
    assert invoke("heads", "a b c", "--max-tokens", "3", "--json").exit_code == 0


def test_heads_and_compare_name_the_options_only_from_the_cli() -> None:
    # below the CLI the words are "the query word" and "the word"; the commands name their
    # options, in errors and in the note about a repeated word
    from attncli import weights as wts
    from attncli.compare import compare
    from attncli.errors import AttnError
    from attncli.explain import explain
    from attncli.heads import overview
    from attncli.tokens import word_level

    assert_refused(invoke("heads", "the cat saw the cat", "--from", "cat"),
                   "--from and --to go together")
    assert "Pick another with --from 'cat#2' or --from '#4'" in ok(
        "heads", "the cat saw the cat", "--from", "cat", "--to", "saw", width=200).stdout
    assert "Pick another with --word 'cat#2'" in ok(
        "compare", "the cat saw the cat", "a cat", "--word", "cat", width=200).stdout
    text = "the cat saw the cat"
    ex = explain(text, word_level(text), wts.seeded(0, 8, 4, 4, 2), seed=0)
    (note,) = overview(ex, "cat", "saw").notes
    assert note.startswith("the query word 'cat' matches 2 tokens") and "--" not in note
    assert "Pick another with 'cat#2' or '#4'." in note
    assert "--" not in " ".join(compare(ex, ex, "cat").notes)
    with pytest.raises(AttnError, match="^the query word and the key word go together$"):
        overview(ex, "cat")
