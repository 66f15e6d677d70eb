"""Hostile and broken input: every case works or is refused with one line and exit code 2.

Hypothesis runs in CI with the example counts set below (TEXT_EXAMPLES, FILE_EXAMPLES).
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from conftest import refused as assert_refused
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from attncli import weights as wts
from attncli.attention import causal_mask, softmax
from attncli.cli import app
from attncli.errors import AttnError
from attncli.weights import files as weightfiles

TEXT_EXAMPLES = 150  # random unicode texts through the whole CLI
FILE_EXAMPLES = 150  # random weight files, valid and invalid, per format

runner = CliRunner()
BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def invoke(*args: str, stdin: str | bytes | None = None):
    return runner.invoke(app, list(args), input=stdin)




def assert_terminal_safe(out: str) -> None:
    """Nothing in the output can steer a terminal: no control characters but newlines."""
    bad = [ch for ch in out if (unicodedata.category(ch) == "Cc" and ch != "\n") or ch in BIDI]
    assert not bad, [hex(ord(ch)) for ch in bad[:5]]


# ---------------------------------------------------------------- text


@pytest.mark.parametrize("text", [
    "nul\x00inside", "esc \x1b[31mred\x1b[0m", "bell\x07 and\rreturn", "tab\tand\vvertical",
    "bidi \u202eevil\u202c text", "isolate \u2066x\u2069",
])
def test_control_and_bidi_characters_are_shown_escaped(text: str) -> None:
    result = invoke("explain", text, "--show", "tokens,softmax,bars")
    assert result.exit_code == 0, result.output
    assert_terminal_safe(result.stdout)


def test_escape_sequences_appear_as_visible_text() -> None:
    result = invoke("explain", "a \x1b[31mred", "--show", "tokens")
    assert "\\x1b" in result.stdout


@pytest.mark.parametrize("text", [
    "👩‍👩‍👧 family and 🙂", "cafe\u0301 na\u0308ive", "שלום עולם", "مرحبا بالعالم",
    "注意力机制很有用", "[bold red]x[/] and [link=https://example.com]y[/link]",
])
def test_unusual_scripts_and_markup_work_and_show_literally(text: str) -> None:
    result = invoke("explain", text, "--show", "tokens,bars")
    assert result.exit_code == 0, result.output
    assert_terminal_safe(result.stdout)
    if "[" in text:  # markup is shown as text, not obeyed: its brackets reach the screen
        assert "[/]" in result.stdout
        assert "link" in result.stdout


def test_empty_and_whitespace_text_is_refused() -> None:
    for text in ("", "   ", "\n\t "):
        assert_refused(invoke("explain", text), "empty")


def test_invalid_utf8_on_stdin_is_refused() -> None:
    # "ok " is bytes 1 to 3, so the stray 0xff is byte 4, counted from 1 as people count
    assert_refused(invoke("explain", "-", stdin=b"ok \xff\xfe bad"), "UTF-8", "byte 4 (0xff)")


def test_invalid_utf8_in_an_argument_is_refused() -> None:
    # undecodable bytes in argv reach Python as lone surrogates (U+DC80 + byte)
    assert_refused(invoke("explain", "abcd\udcff"), "UTF-8", "character 5 (0xff)")


def test_text_starting_with_a_dash_goes_after_double_dash() -> None:
    assert invoke("explain", "--", "-1 is a number", "--json").exit_code == 2  # --json is text
    result = invoke("explain", "--json", "--", "-1 is a number")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["text"] == "-1 is a number"
    assert_refused(invoke("explain", "-1 is a number"))  # looks like an option


def test_ten_thousand_words_are_refused_before_any_matrix() -> None:
    assert_refused(invoke("explain", " ".join(["word"] * 10_000)), "10000 tokens", "--max-tokens")


def test_a_single_5000_character_word_works_and_fits_the_width() -> None:
    result = runner.invoke(app, ["explain", "x" * 5000 + " end"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


@pytest.mark.parametrize("args", [
    ["--d-model", "1000000000"], ["--d-model", "0"], ["--heads", "1000"], ["--d-k", "-3"],
    ["--d-model", "4096", "--d-k", "1024", "--heads", "64"],
])
def test_size_limits_refuse_before_allocating(args: list[str]) -> None:
    assert_refused(invoke("explain", "a b", *args))


@settings(max_examples=TEXT_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=0, max_size=60))
def test_any_unicode_text_works_or_is_refused_cleanly(text: str) -> None:
    result = invoke("explain", "--", text) if text.startswith("-") else invoke("explain", text)
    if result.exit_code == 2:
        assert_refused(result)
        return
    assert result.exit_code == 0, result.output
    assert_terminal_safe(result.stdout)
    doc = json.loads(invoke("explain", "--json", "--", text).stdout)
    assert doc["text"] == text
    for tok in doc["tokens"]:
        assert text[tok["start"]:tok["end"]] == tok["text"]


# ---------------------------------------------------------------- weight files


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_pickled_npz_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "evil.npz"
    np.savez(path, w_q=np.array([Evil()], dtype=object), w_k=np.eye(2), w_v=np.eye(2))
    assert_refused(invoke("explain", "a b", "--weights", str(path)), "pickle")
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pkl", ".pth", ".ckpt"])
def test_pickle_formats_are_refused_unopened(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"w{suffix}", pickle.dumps({"w_q": [[1]]}))
    assert_refused(invoke("explain", "a", "--weights", str(path)), str(path), "pickle")


def good_safetensors() -> bytes:
    from safetensors.numpy import save

    return save({"w_q": np.eye(2), "w_k": np.eye(2), "w_v": np.eye(2)})


@pytest.mark.parametrize("name,data,words", [
    ("cut.safetensors", good_safetensors()[:-7], ["not a valid safetensors"]),
    ("junk.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}", ["safetensors header"]),
    ("empty.json", b"", ["empty"]),
    ("empty.npz", b"", ["empty"]),
    ("nan.json", b'{"w_q": [[NaN, 0], [0, 1]], "w_k": [[1, 0], [0, 1]], "w_v": [[1]]}', ["NaN"]),
    ("inf.json", b'{"w_q": [[1e999, 0], [0, 1]], "w_k": [[1, 0], [0, 1]], "w_v": [[1], [1]]}',
     ["infinite"]),
    ("text.json", b'{"w_q": [["a", "b"]], "w_k": [[1, 2]], "w_v": [[1]]}', ["numbers"]),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, ["deeply"]),
    ("shape.json", b'{"w_q": [[1, 0]], "w_k": [[1, 0, 0]], "w_v": [[1]]}', ["must match"]),
    ("list.json", b"[1, 2, 3]", ["JSON object"]),
    ("bad.npz", b"PK\x03\x04 not really a zip", ["npz"]),
    ("w.txt", b"hello", ["unknown weights format"]),
])
def test_broken_weight_files_get_one_line_naming_the_file(
        tmp_path: Path, name: str, data: bytes, words: list[str]) -> None:
    path = write(tmp_path / name, data)
    assert_refused(invoke("explain", "a b", "--weights", str(path)), str(path), *words)


def test_nan_in_npz_and_safetensors_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save

    bad = np.array([[np.nan, 0.0], [0.0, 1.0]])
    np.savez(tmp_path / "w.npz", w_q=bad, w_k=np.eye(2), w_v=np.eye(2))
    write(tmp_path / "w.safetensors", save({"w_q": bad, "w_k": np.eye(2), "w_v": np.eye(2)}))
    for name in ("w.npz", "w.safetensors"):
        assert_refused(invoke("explain", "a b", "--weights", str(tmp_path / name)), "NaN")


def test_a_directory_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    assert_refused(invoke("explain", "a", "--weights", str(tmp_path / "d.json")), "directory")
    assert_refused(invoke("explain", "a", "--weights", str(tmp_path / "no.json")), "no such")


def test_an_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "w.json", b"{}")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)  # root can read anything: simulate it
    assert_refused(invoke("explain", "a", "--weights", str(path)), "permission denied")


def test_weights_that_overflow_are_refused_not_nan(tmp_path: Path) -> None:
    path = write(tmp_path / "big.json", json.dumps(
        {"w_q": [[1e300, 0], [0, 1]], "w_k": [[1e300, 0], [0, 1]], "w_v": [[1, 0], [0, 1]]}
    ).encode())
    assert_refused(invoke("explain", "a b", "--weights", str(path), "--json"), "overflow")


def test_an_integer_too_large_for_a_float_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "huge.json",
                 ('{"w_q": [[1' + "0" * 320 + ']], "w_k": [[1]], "w_v": [[1]]}').encode())
    assert_refused(invoke("explain", "a b", "--weights", str(path)), "huge.json", "'w_q'")


@pytest.mark.parametrize("key, array", [
    ("w_q", np.ones((2, 2), dtype=complex)),
    ("w_q", np.array([["2020-01-01", "2020-01-02"]] * 2, dtype="datetime64[D]")),
    ("embeddings", np.ones((2, 2), dtype=complex)),
])
def test_arrays_that_are_not_real_numbers_are_refused(tmp_path: Path, key: str,
                                                      array: np.ndarray) -> None:
    arrays = {"w_q": np.eye(2), "w_k": np.eye(2), "w_v": np.eye(2), "vocab": np.array(["a", "b"]),
              "embeddings": np.eye(2)}
    arrays[key] = array
    np.savez(tmp_path / "odd.npz", **arrays)
    assert_refused(invoke("explain", "a b", "--weights", str(tmp_path / "odd.npz")),
                   f"'{key}' must hold real numbers, not {array.dtype}")


def test_a_checkpoint_that_overflows_is_refused_not_nan(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    model = tmp_path / "bert"
    shutil.copytree(Path(__file__).parent / "fixtures" / "models" / "bert", model)
    tensors = load_file(model / "model.safetensors")
    name = next(k for k in tensors if "layer.0.attention.self.query.weight" in k)
    tensors[name][:] = 3e38  # float32's largest is 3.4e38: layer 0 overflows, layer 1 gets NaN
    save_file(tensors, model / "model.safetensors", metadata={"format": "pt"})
    for args in (["explain", "a b", "--layer", "1"], ["explain", "a b", "--layer", "1", "--json"],
                 ["heads", "a b", "--json"]):
        result = invoke(*args, "--model", str(model))
        assert_refused(result, "overflow", "layer")
        assert "RuntimeWarning" not in result.stderr


matrix = st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                     st.integers(-10, 10), st.text(max_size=2), st.none()),
                           min_size=0, max_size=3), min_size=0, max_size=3)
weight_doc = st.fixed_dictionaries(
    {}, optional={"w_q": matrix, "w_k": matrix, "w_v": matrix, "dims": st.lists(st.text()),
                  "embeddings": st.dictionaries(st.text(max_size=3), st.lists(st.floats())),
                  "description": st.one_of(st.text(), st.integers())})


@settings(max_examples=FILE_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=weight_doc)
def test_random_json_weight_files_load_or_raise_attn_error(tmp_path: Path, doc: dict) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc))
    try:
        ws = weightfiles.load(path)
    except AttnError as exc:
        assert str(path) in str(exc)
        return
    assert all(np.isfinite(h.w_q).all() and np.isfinite(h.w_v).all() for h in ws.heads)


@settings(max_examples=FILE_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".json", ".npz", ".safetensors"]))
def test_random_bytes_never_crash_the_loader(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"w{suffix}"
    path.write_bytes(data)
    with pytest.raises(AttnError):
        weightfiles.load(path)


@settings(max_examples=FILE_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(d_model=st.integers(1, 6), d_k=st.integers(1, 4), d_v=st.integers(1, 4),
       heads=st.integers(1, 3), seed=st.integers(0, 2**32),
       suffix=st.sampled_from([".json", ".npz", ".safetensors"]))
def test_random_valid_weight_files_round_trip(tmp_path: Path, d_model: int, d_k: int, d_v: int,
                                              heads: int, seed: int, suffix: str) -> None:
    ws = wts.seeded(seed, d_model, d_k, d_v, heads)
    path = tmp_path / f"w{suffix}"
    weightfiles.save(ws, path, force=True)
    back = weightfiles.load(path)
    for a, b in zip(ws.heads, back.heads, strict=True):
        assert np.array_equal(a.w_q, b.w_q) and np.array_equal(a.w_v, b.w_v)


# ---------------------------------------------------------------- numerics


@pytest.mark.parametrize("row", [
    [1e30, -1e30, 0.0], [-1e30, -1e30, -1e30], [1e30, -np.inf, 1e30], [-np.inf, 5.0, -1e30],
    [1e308, 1e308, -1e308],
])
def test_softmax_is_stable_for_any_magnitude(row: list[float]) -> None:
    out = softmax(np.array([row]))
    assert np.isfinite(out).all()
    assert out.sum() == pytest.approx(1.0)


def test_a_row_with_every_key_masked_gets_zero_weights() -> None:
    out = softmax(np.array([[-np.inf, -np.inf], [0.0, -np.inf]]))
    assert out.tolist() == [[0.0, 0.0], [1.0, 0.0]]
    assert causal_mask(3).sum() == 3


# ---------------------------------------------------------------- exit code 1


def test_an_internal_error_exits_1_with_a_hint_and_debug_shows_the_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    explain_module = importlib.import_module("attncli.explain")

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(explain_module, "explain", boom)
    result = invoke("explain", "a b")
    assert result.exit_code == 1
    assert "internal error" in result.stderr and "--debug" in result.stderr
    assert "Traceback" not in result.stderr
    debug = invoke("--debug", "explain", "a b")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "simulated bug" in debug.stderr
    # --debug works after the subcommand too, where people add it when rerunning
    late = invoke("explain", "a b", "--debug")
    assert late.exit_code == 1 and "Traceback" in late.stderr
    # after "--" it is text, not the option
    text = invoke("explain", "--json", "--", "--debug")
    assert text.exit_code == 1 and "Traceback" not in text.stderr


@pytest.mark.parametrize("args", [
    ["explain", "-", "--max-tokens", "5000", "--json"],
    ["explain", "-", "--max-tokens", "5000"],
    ["demo", "--no-pause"],
])
def test_a_reader_that_stops_early_is_not_an_error(args: list[str]) -> None:
    # `attn … | head`: the pipe closes while attn is still writing; that is exit code 0
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "attncli", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write((" ".join(["w"] * 4100)).encode())
    proc.stdin.close()
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Error" not in err and "Exception" not in err
