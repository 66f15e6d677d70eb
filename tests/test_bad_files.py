"""Bad files and the machine's limits: special files, writes that race, OS errors, deep JSON,
the tokenizer's own regex, the memory budget, and raw escapes from names."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import edit_config, invoke, limited, refused

from attncli.errors import AttnError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev are POSIX")


@pytest.mark.parametrize("option", ["--weights", "--tokenizer"])
def test_a_fifo_is_refused_at_once_not_read(tmp_path: Path, option: str) -> None:
    fifo = tmp_path / ("w.json" if option == "--weights" else "tokenizer.json")
    os.mkfifo(fifo)
    start = time.monotonic()
    refused(invoke("explain", "a b", option, str(fifo)), str(fifo), "named pipe (FIFO)")
    assert time.monotonic() - start < 2


def test_a_device_is_refused_not_read_forever() -> None:
    refused(invoke("explain", "a b", "--weights", "/dev/zero.json"), "/dev/zero.json")
    real = subprocess.run([sys.executable, "-m", "attncli", "explain", "a b", "--tokenizer",
                           "/dev/zero"], capture_output=True, text=True, timeout=20)
    assert real.returncode == 2 and "character device" in real.stderr


def test_a_name_too_long_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    long = tmp_path / ("x" * 300 + ".json")
    line = refused(invoke("explain", "a b", "--weights", str(long)))
    assert "cannot read" in line or "File name too long" in line


def test_a_new_file_is_never_replaced_by_a_second_writer(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import attncli.files as files

    target = tmp_path / "out.txt"
    real_check = files.check_target

    def late(path: Path, *, force: bool = False) -> None:
        real_check(path, force=force)
        target.write_text("the other run's")  # another run wins the race after our check

    monkeypatch.setattr(files, "check_target", late)
    with pytest.raises(AttnError, match="already exists"):
        files.atomic_write(target, b"ours")
    assert target.read_text() == "the other run's"  # kept, not silently replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temporary left


def test_a_sample_name_too_long_is_one_line_too() -> None:
    refused(invoke("explain", "a b", "--weights", "sample_weights/" + "y" * 300 + ".json"))


BERT = Path(__file__).parent / "fixtures" / "models" / "bert"
DEEP = "[" * 100_000 + "]" * 100_000


def model_copy(tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(BERT, tmp_path / "bert")
    return tmp_path / "bert"


def test_a_deeply_nested_config_is_refused(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    (model / "config.json").write_text(DEEP)
    refused(invoke("explain", "a b", "--model", str(model)), "config.json", "nested too deeply")


def test_a_deeply_nested_safetensors_header_is_refused(tmp_path: Path) -> None:
    import struct

    model = model_copy(tmp_path)
    blob = ('{"__metadata__": ' + DEEP + "}").encode()
    (model / "model.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob)
    refused(invoke("explain", "a b", "--model", str(model)), "model.safetensors",
            "nested too deeply")
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(struct.pack("<Q", len(blob)) + blob)
    refused(invoke("explain", "a b", "--weights", str(weights)), "w.safetensors")


def test_a_deeply_nested_shard_index_is_refused(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    (model / "model.safetensors.index.json").write_text('{"weight_map": ' + DEEP + "}")
    refused(invoke("explain", "a b", "--model", str(model)), "index.json", "nested too deeply")


def test_nan_in_a_config_is_named_not_reported_as_an_overflow(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    text = (model / "config.json").read_text().replace(
        '"layer_norm_eps": ', '"layer_norm_eps": NaN, "x": ')
    (model / "config.json").write_text(text)
    refused(invoke("explain", "a b", "--model", str(model)), "config.json",
            "NaN is not a number JSON allows")


def test_cosine_of_huge_finite_vectors_is_a_number() -> None:
    import numpy as np
    from hypothesis import given
    from hypothesis import strategies as st

    from attncli.compare import cosine

    assert cosine(np.array([1e300, 1e300]), np.array([1e300, -1e300])) == 0.0
    assert cosine(np.array([3e200, 4e200]), np.array([3.0, 4.0])) == 1.0
    assert cosine(np.zeros(3), np.ones(3)) == 0.0

    finite = st.floats(allow_nan=False, allow_infinity=False)

    @given(st.lists(finite, min_size=1, max_size=6), st.lists(finite, min_size=1, max_size=6))
    def bounded(a: list[float], b: list[float]) -> None:
        n = min(len(a), len(b))
        c = cosine(np.array(a[:n]), np.array(b[:n]))
        assert -1.0 <= c <= 1.0

    bounded()


def test_compare_with_huge_but_finite_weights_prints_no_nan(tmp_path: Path) -> None:
    import json

    doc = {"w_q": [[1e150, 0], [0, 1e150]], "w_k": [[1e150, 0], [0, 1e150]],
           "w_v": [[1e150, 0], [0, 1e150]]}
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(doc))
    result = invoke("compare", "a b", "b a", "--word", "a", "-w", str(path), "--json")
    assert "nan" not in result.output.lower() and "Traceback" not in result.output
    assert result.exit_code in (0, 2)


def test_json_writes_bidi_and_c1_controls_as_escapes() -> None:
    import json

    text = "evil\u202e txt\x85 ok 😀\u200d😀"
    result = invoke("explain", text, "--json")
    assert result.exit_code == 0
    assert "\u202e" not in result.stdout and "\x85" not in result.stdout
    assert "\\u202e" in result.stdout and "\\u0085" in result.stdout
    assert "\u200d" in result.stdout  # the joiner of the emoji stays
    assert json.loads(result.stdout)["text"] == text  # the same text, parsed back


def test_names_with_escape_codes_never_reach_the_terminal_raw(tmp_path: Path) -> None:
    import shutil

    evil = tmp_path / "w\x1b]0;pwned\x07.json"
    out = invoke("weights", "init", "-o", str(evil))
    assert out.exit_code == 0 and "\x1b" not in out.stderr and "\\x1b" in out.stderr
    nofile = invoke("explain", "a b", "--weights", str(evil))  # its note names the file
    assert "\x1b" not in nofile.stdout and "\x07" not in nofile.stdout
    model = tmp_path / "m\x1b[31mred"
    shutil.copytree(BERT, model)
    demo = invoke("demo", "--no-pause", "--model", str(model))
    assert demo.exit_code == 0 and "\x1b" not in demo.stdout and "\\x1b" in demo.stdout


def test_naming_a_word_reads_each_label_once_not_once_per_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.cli import sources
    from attncli.lookup import find_all
    from attncli.tokens import Token

    ex = sources.build(" ".join(f"w{i}" for i in range(300)) + " tired",
                       sources.SourceOptions())
    calls = []
    real = Token.label
    monkeypatch.setattr(Token, "label", lambda self, text: calls.append(1) or real(self, text))
    assert find_all(ex, "tired", "focus") == [300]
    find_all(ex, "w7", "--focus")
    assert len(calls) <= 301  # linear: each label worked out once (it was 301² before)


@pytest.mark.parametrize("shard", ["../../../../etc/passwd", "/etc/passwd",
                                   "sub/../../outside.safetensors"])
def test_a_shard_index_naming_a_file_outside_the_model_is_refused(tmp_path: Path,
                                                                 shard: str) -> None:
    import json

    model = model_copy(tmp_path)
    (model / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"embeddings.word_embeddings.weight": shard}}))
    line = refused(invoke("explain", "a b", "--model", str(model)), "lies outside the model")
    assert "root:" not in line


def test_a_broken_weights_link_says_so(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    (model / "model.safetensors").unlink()
    (model / "model.safetensors").symlink_to(tmp_path / "blobs" / "gone")
    refused(invoke("explain", "a b", "--model", str(model)), "a broken link",
            "interrupted download")


def hf_cache(tmp_path: Path, ref: str) -> Path:
    import shutil

    repo = tmp_path / "hub" / "models--org--tiny"
    shutil.copytree(BERT, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(ref)
    return tmp_path / "hub"


@pytest.mark.parametrize(("ref", "words"), [
    ("def456", ["names snapshot def456, which is not in"]),
    ("../../../elsewhere", ["is not a snapshot name"]),
])
def test_refs_main_is_followed_or_refused_never_guessed(tmp_path: Path, ref: str,
                                                        words: list[str]) -> None:
    from attncli.cli import sources

    sources._load_model.cache_clear()  # one process opens a model once: start afresh here
    cache = hf_cache(tmp_path, ref)
    result = invoke("explain", "a b", "--model", "org/tiny",
                    env={"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"})
    refused(result, *words)
    good = hf_cache(tmp_path / "ok", "abc123")
    sources._load_model.cache_clear()
    assert invoke("explain", "a b", "--model", "org/tiny", "--json",
                  env={"HF_HUB_CACHE": str(good), "HF_HUB_OFFLINE": "1"}).exit_code == 0


def test_rope_theta_zero_is_refused_not_replaced(tmp_path: Path) -> None:
    import json
    import shutil

    model = shutil.copytree(Path(__file__).parent / "fixtures" / "models" / "llama",
                            tmp_path / "llama")
    config = json.loads((model / "config.json").read_text())
    config.setdefault("rope_parameters", {})["rope_theta"] = 0
    config["rope_theta"] = 0
    (model / "config.json").write_text(json.dumps(config))
    refused(invoke("explain", "a b", "--model", str(model)),
            "'rope_parameters.rope_theta' must be a number above 1", "got 0")


def test_inputs_over_their_size_cap_are_refused_before_reading(tmp_path: Path) -> None:
    from attncli.files import MAX_CONFIG, MAX_JSON_WEIGHTS, MAX_TOKENIZER

    big = tmp_path / "w.json"
    with open(big, "wb") as f:  # sparse: the size is there, nothing needs reading
        f.truncate(MAX_JSON_WEIGHTS + 1)
    refused(invoke("explain", "a b", "-w", str(big)), "w.json", "more than the 64 MiB")
    tok = tmp_path / "tokenizer.json"
    with open(tok, "wb") as f:
        f.truncate(MAX_TOKENIZER + 1)
    refused(invoke("explain", "a b", "--tokenizer", str(tok)), "more than the 64 MiB")
    model = model_copy(tmp_path)
    with open(model / "config.json", "wb") as f:
        f.truncate(MAX_CONFIG + 1)
    refused(invoke("explain", "a b", "--model", str(model)), "config.json",
            "more than the 16 MiB")


def test_standard_input_and_text_are_capped_before_tokenizing() -> None:
    from attncli.files import MAX_STDIN

    refused(invoke("explain", "-", stdin="a " * (MAX_STDIN // 2 + 1)), "standard input",
            "4 MiB")
    long_text = "a" * (4096 * 64 + 1)
    refused(invoke("explain", long_text), "characters", "--max-tokens")
    refused(invoke("explain", "a" * 65, "--max-tokens", "1"), "65 characters", "64 that 1")


def evil_tokenizer(tmp_path: Path) -> Path:
    """A tokenizer whose pre-tokenizer regex backtracks catastrophically: (a+)+$."""
    from tokenizers import Regex, Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel

    tok = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("(a+)+$"), behavior="isolated")
    path = tmp_path / "evil.json"
    tok.save(str(path))
    return path


def test_a_tokenizer_that_panics_is_one_line_naming_it(tmp_path: Path) -> None:
    path = evil_tokenizer(tmp_path)
    real = subprocess.run([sys.executable, "-m", "attncli", "explain", "a" * 29 + "b",
                           "--tokenizer", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert real.returncode == 2
    lines = real.stderr.splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "failed on this text" in lines[0]
    assert "panicked" not in real.stderr and "Traceback" not in real.stderr


def test_a_tokenizer_that_takes_too_long_is_given_up(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import attncli.tokens as tokens

    monkeypatch.setattr(tokens, "TOKENIZE_SECONDS", 0.0)  # any real tokenizing takes longer
    fixture = Path(__file__).parent / "fixtures" / "models" / "bert" / "tokenizer.json"
    with pytest.raises(AttnError, match="took more than 0 s on this text"):
        tokens.encode(tokens.load_tokenizer(fixture), "the animal was tired " * 2000,
                      source=str(fixture))


def declared_npz(tmp_path: Path) -> Path:
    """An npz whose one array, w_q, declares 10^12 float64s in its header and holds nothing."""
    import io
    import zipfile

    import numpy as np

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**6, 10**6)})
    declared = tmp_path / "declared.npz"
    with zipfile.ZipFile(declared, "w") as z:
        z.writestr("w_q.npy", header.getvalue())
    return declared


def test_the_memory_budget_refuses_before_allocating(tmp_path: Path) -> None:
    import io

    import numpy as np

    small = {"ATTN_MEMORY_BUDGET": "1M"}
    words = " ".join(f"w{i}" for i in range(300))
    line = refused(invoke("explain", words, "--heads", "4", env=small), "300 tokens × 4 heads",
                   "memory budget of 1 MiB", "ATTN_MEMORY_BUDGET")
    assert "MiB" in line
    assert invoke("explain", words, "--json").exit_code == 0  # the default 2 GiB holds it

    # an npz whose one array declares 10^12 float64s: refused from its header alone
    declared = declared_npz(tmp_path)
    refused(invoke("explain", "a b", "-w", str(declared)), "declared.npz", "memory budget")

    # a zip bomb: 8 MB of zeros compressed to a few KB, against a 1 MiB budget
    bomb = tmp_path / "bomb.npz"
    buf = io.BytesIO()
    np.savez_compressed(buf, w_q=np.zeros((1000, 1000)), w_k=np.zeros((2, 2)),
                        w_v=np.zeros((2, 2)))
    bomb.write_bytes(buf.getvalue())
    assert bomb.stat().st_size < 100_000
    refused(invoke("explain", "a b", "-w", str(bomb), env=small), "bomb.npz", "memory budget")

    refused(invoke("weights", "init", "--text", words, "--d-model", "1024", "-o",
                   str(tmp_path / "big.json"), env=small), "embeddings table of 300 words")
    assert not (tmp_path / "big.json").exists()
    refused(invoke("explain", "a b", env={"ATTN_MEMORY_BUDGET": "lots"}), "ATTN_MEMORY_BUDGET")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full is Linux's")
@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_a_full_disk_on_standard_output_is_one_line_exit_2(extra: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "attncli", "explain", "The animal was tired",
                               *extra], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["attn: error: cannot write the output (No space left "
                                        "on device)"]


def test_a_config_whose_head_dim_would_take_gigabytes_is_refused_at_once(tmp_path: Path) -> None:
    import json
    import shutil

    model = shutil.copytree(Path(__file__).parent / "fixtures" / "models" / "llama",
                            tmp_path / "llama")
    config = json.loads((model / "config.json").read_text())
    config["head_dim"] = 2**31 - 1  # the largest head_dim config.json may give
    (model / "config.json").write_text(json.dumps(config))
    start = time.monotonic()
    refused(invoke("explain", "a b", "--model", str(model)), "head_dim 2,147,483,647",
            "memory budget")
    assert time.monotonic() - start < 2


def test_the_budget_holds_under_a_real_memory_limit(tmp_path: Path) -> None:
    import shutil

    declared = declared_npz(tmp_path)
    model = shutil.copytree(Path(__file__).parent / "fixtures" / "models" / "llama",
                            tmp_path / "llama")
    edit_config(model, head_dim=10**10)
    cases = [
        (["explain", "a b", "-w", str(declared)], None),
        (["explain", "a b", "--model", str(model)], None),
        # --json keeps every row (the terminal keeps the rows it draws, and fits)
        (["explain", "-", "--heads", "8", "--max-tokens", "8192", "--json"],
         " ".join(f"w{i}" for i in range(8192))),
        (["explain", "a b", "-w", "/dev/zero.json"], None),
    ]
    for args, stdin in cases:
        done = limited(args, stdin=stdin)
        assert done.returncode == 2, (args[:3], done.returncode, done.stderr[-300:])
        assert len(done.stderr.splitlines()) == 1 and "MemoryError" not in done.stderr


@pytest.mark.parametrize(("name", "args", "tensor"), [
    ("bert", ["explain", "the animal was tired"], "intermediate.dense.weight"),  # MLP 64×32
    ("gpt2", ["explain", "the animal was tired", "--layer", "1"], "c_attn.weight"),  # sharded
    # the tied LM head reads the whole word-embedding table (the embeddings read 7 rows)
    ("bert-mlm", ["predict", "the [MASK] was tired"], "word_embeddings.weight' 250×32"),
])
def test_a_tensor_is_weighed_against_the_budget_before_it_is_read(
        name: str, args: list[str], tensor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # safetensors shapes (and so config-implied sizes, which must match them): each tensor's
    # stored and converted bytes are checked before it is read. The run's own estimates
    # (Model.check_memory, which counts a whole layer, and the tokenizer's) are set aside
    # to reach this check
    from attncli import files, tokens
    from attncli.models.base import Model

    model = Path(__file__).parent / "fixtures" / "models" / name
    assert invoke(*args, "--model", str(model)).exit_code == 0
    sizes = {"bert": 12_000, "gpt2": 20_000, "bert-mlm": 40_000}  # bytes: under each tensor
    budget = sizes[name]
    monkeypatch.setattr(files, "memory_budget", lambda: budget)
    monkeypatch.setattr(Model, "check_memory", lambda *_, **__: None)
    monkeypatch.setattr(tokens, "check_tokenizer_memory", lambda *_: None)
    line = refused(invoke(*args, "--model", str(model)), "memory budget", "tensor", "KiB")
    assert tensor in line, line


def without_search_permission(tmp_path: Path) -> tuple[Path, list[str]]:
    """A folder holding a weights file, a model and nothing else, that this process may not
    search (mode 000), and the command prefix that makes that true: root ignores file modes
    unless it drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv, util-linux)."""
    import shutil

    folder = tmp_path / "locked"
    folder.mkdir()
    shutil.copy(Path(__file__).parent.parent / "sample_weights" / "animal-tired.json",
                folder / "w.json")
    shutil.copytree(Path(__file__).parent / "fixtures" / "models" / "bert", folder / "bert")
    folder.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    return folder, prefix


@pytest.mark.parametrize("args", [
    ["explain", "The animal was tired", "-w", "{f}/w.json"],
    ["explain", "The animal was tired", "--model", "{f}/bert"],
    ["explain", "The animal was tired", "--tokenizer", "{f}/tokenizer.json"],
    ["explain", "The animal was tired", "--svg", "{f}/out.svg"],
    ["weights", "init", "-o", "{f}/new.json"],
])
def test_a_folder_without_search_permission_is_one_line_exit_2(
        args: list[str], tmp_path: Path) -> None:
    folder, prefix = without_search_permission(tmp_path)
    try:
        done = subprocess.run([*prefix, sys.executable, "-m", "attncli",
                               *(a.format(f=folder) for a in args)],
                              capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).parent.parent)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"attn: error: {folder}/") and "Permission denied" in line


def test_any_os_error_on_a_named_path_is_one_line_exit_2(monkeypatch) -> None:
    # the mechanism: an OSError that carries a file name, from anywhere, is the user's path
    explain = importlib.import_module("attncli.explain")  # the module, not the API's

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", "/somewhere/locked/config.json")

    monkeypatch.setattr(explain, "check_text", denied)
    line = refused(invoke("explain", "The animal was tired"), "Permission denied")
    assert line == "attn: error: /somewhere/locked/config.json: Permission denied"


def test_standard_input_closed_or_a_stray_byte_in_weights_init_is_one_line(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "attncli", "explain", "-"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent, close_fds=True,
                          preexec_fn=lambda: os.close(0))
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["attn: error: cannot read standard input: it is closed; "
                                        "give the text as an argument instead of -"]
    out = tmp_path / "w.json"
    done = subprocess.run([sys.executable, "-m", "attncli", "weights", "init", "--text",
                           b"a \xff b", "-o", str(out)], capture_output=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 2 and not out.exists()
    assert b"is a stray byte, not a character" in done.stderr


@pytest.mark.parametrize("args", [
    ["explain", "The animal was tired", "--show", "softmax", "--txt", "{out}.txt"],
    ["explain", "The animal was tired", "--show", "softmax", "--svg", "{out}.svg"],
    ["weights", "init", "-o", "{out}.json"],
])
def test_four_runs_racing_for_one_new_file_leave_one_winner(args: list[str],
                                                             tmp_path: Path) -> None:
    out = tmp_path / "shared"
    command = [sys.executable, "-m", "attncli", *(a.format(out=out) for a in args)]
    runs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, cwd=Path(__file__).parent.parent) for _ in range(4)]
    results = [(run.wait(timeout=60), run.stderr.read()) for run in runs]
    assert sorted(code for code, _ in results) == [0, 2, 2, 2], results
    assert all("already exists (use --force" in err for code, err in results if code == 2)
    # the winner's file and nothing else: no temporary left by the runs that lost
    assert [p.name for p in tmp_path.iterdir()] == [Path(args[-1].format(out=out)).name]


@pytest.mark.parametrize(("factor", "code"), [(1e150, 2), (1e300, 2), (1e-300, 0)])
def test_extreme_weights_print_no_runtime_warning(factor: float, code: int,
                                                  tmp_path: Path) -> None:
    import json

    weights = json.loads((Path(__file__).parent.parent / "sample_weights"
                          / "animal-tired.json").read_text())

    def scaled(value):
        if isinstance(value, list):
            return [scaled(v) for v in value]
        return value * factor if isinstance(value, float | int) else value

    for key in ("w_q", "w_k", "w_v", "embeddings"):
        weights[key] = ({w: scaled(v) for w, v in weights[key].items()}
                        if isinstance(weights[key], dict) else scaled(weights[key]))
    path = tmp_path / "w.json"
    path.write_text(json.dumps(weights))
    done = subprocess.run([sys.executable, "-W", "default::RuntimeWarning", "-m", "attncli",
                           "explain", "The animal was tired", "-w", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == code, done.stderr
    assert "Warning" not in done.stderr
    assert len(done.stderr.splitlines()) == (1 if code else 0), done.stderr


@pytest.mark.parametrize(("locked", "args", "says"), [
    ("bert/config.json", ["--model", "{f}/bert"], "permission denied"),
    ("bert/tokenizer.json", ["--model", "{f}/bert"], "permission denied"),
    ("bert/model.safetensors", ["--model", "{f}/bert"], "cannot read (Permission denied)"),
    ("w.json", ["-w", "{f}/w.json"], "is not readable"),  # typer's own check of --weights
])
def test_an_unreadable_file_is_named_as_unreadable_not_invalid(
        locked: str, args: list[str], says: str, tmp_path: Path) -> None:
    folder, prefix = without_search_permission(tmp_path)
    folder.chmod(0o755)
    (folder / locked).chmod(0)
    done = subprocess.run([*prefix, sys.executable, "-m", "attncli", "explain", "a b",
                           *(a.format(f=folder) for a in args)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("attn: error: ") and str(folder / locked) in line and says in line


def test_the_longest_text_allowed_fits_the_default_budget_for_real() -> None:
    # 8192 tokens (the --max-tokens ceiling), one head, causal: the estimate, 4 n×n float64
    # matrices (2 GiB), is what the default budget allows, and the real peak stays under it
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))

    text = " ".join(f"w{i}" for i in range(8192))
    run = subprocess.Popen([sys.executable, "-m", "attncli", "explain", "-", "--max-tokens",
                            "8192", "--causal", "--show", "softmax"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           preexec_fn=cap, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    run.stdin.write(text)
    run.stdin.close()
    _, status, usage = os.wait4(run.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, run.stderr.read()[-300:]
    assert usage.ru_maxrss * 1024 < 2 * 1024**3  # bytes (Linux counts ru_maxrss in KiB)
