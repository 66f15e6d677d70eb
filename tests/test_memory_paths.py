"""The memory budget on the paths that read what a file declares: a safetensors weights file
whose header promises gigabytes, and a safetensors header that is itself huge JSON. Each runs
under a real 3 GiB address-space limit and must be refused in one line, not allocated."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, invoke, limited, refused

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RLIMIT_AS and sparse files as Linux has them")


def sparse_safetensors(path: Path, tensors: dict[str, tuple[int, ...]]) -> Path:
    """A float32 safetensors file whose data is a hole: tiny on disk, its full size to read."""
    header: dict = {}
    offset = 0
    for name, shape in tensors.items():
        size = 4 * shape[0] * shape[1]
        header[name] = {"dtype": "F32", "shape": list(shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return path


def test_a_weights_file_declaring_gigabytes_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = sparse_safetensors(tmp_path / "big.safetensors", {
        "w_q": (20_000, 15_000), "w_k": (20_000, 15_000), "w_v": (20_000, 8)})
    done = limited(["explain", "a b", "-w", str(big)])
    assert done.returncode == 2, (done.returncode, done.stderr[-300:])
    assert done.stderr.count("\n") == 1 and "memory budget" in done.stderr
    assert "big.safetensors: its tensors" in done.stderr


def test_a_small_declared_weights_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    assert invoke("weights", "init", "-o", str(path)).exit_code == 0
    assert invoke("explain", "The animal was tired", "-w", str(path), "--json").exit_code == 0


def huge_header_model(tmp_path: Path, megabytes: int) -> Path:
    """The bert fixture whose safetensors header also holds megabytes of empty lists."""
    model = shutil.copytree(FIXTURES / "bert", tmp_path / "bert")
    path = model / "model.safetensors"
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = data[8:8 + size].rstrip()
    lists = b",".join([b"[]"] * (megabytes * 1024**2 // 3))
    raw = header[:-1] + b', "junk": [' + lists + b"]}"
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size:])
    return model


def test_a_huge_safetensors_header_is_weighed_before_it_is_parsed(tmp_path: Path) -> None:
    model = huge_header_model(tmp_path, 90)  # under the format's 100 MB limit
    done = limited(["explain", "a b", "--model", str(model)])
    assert done.returncode == 2, (done.returncode, done.stderr[-300:])
    assert done.stderr.count("\n") == 1 and "memory budget" in done.stderr
    assert "header, parsed," in done.stderr


def test_a_header_is_weighed_against_the_budget_set(tmp_path: Path) -> None:
    model = huge_header_model(tmp_path, 2)  # 2 MB of lists: about 60 MB once parsed
    refused(invoke("explain", "a b", "--model", str(model), env={"ATTN_MEMORY_BUDGET": "32M"}),
            "header, parsed,", "memory budget of 32 MiB")


# ---- what a run allocates: its dtype, its layers and stacks, its weights, its tokens ----

T5 = FIXTURES / "t5"
BUDGET = 1300 * 1024**2  # under the 3 GiB limit, with room for what a run maps besides


def limited_peak(args: list[str], stdin: str | None = None,
                 env: dict[str, str] | None = None) -> tuple[int, str, int]:
    """`attn ARGS` under the 3 GiB address-space limit (as conftest.limited): its exit code,
    its stderr and its peak resident memory in bytes."""
    import os
    import resource
    import subprocess

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))

    run = subprocess.Popen([sys.executable, "-m", "attncli", *args], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           preexec_fn=cap,
                           env={**os.environ, "OPENBLAS_NUM_THREADS": "1", **(env or {})})
    run.stdin.write(stdin or "")
    run.stdin.close()
    _, status, usage = os.wait4(run.pid, 0)
    stderr = run.stderr.read()
    run.stderr.close()
    return os.waitstatus_to_exitcode(status), stderr, usage.ru_maxrss * 1024  # KiB on Linux


def refused_in_one_line(code: int, stderr: str, *words: str) -> None:
    assert code == 2, (code, stderr[-300:])
    assert stderr.count("\n") == 1 and "memory budget" in stderr, stderr
    for word in words:
        assert word in stderr, (word, stderr)


def t5_text(tokens: int) -> str:
    """Words that the t5 fixture's tokenizer makes at least this many tokens of."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(T5 / "tokenizer.json"))
    words = "the cat sat on a mat and dog ran far away".split()
    text = " ".join(words[i % len(words)] for i in range(tokens // 2))
    while len(tokenizer.encode(text).ids) < tokens:
        text += " " + " ".join(words)
    return text


@pytest.mark.parametrize("extra", [
    ["--float64"],  # every layer passed through in float64: twice float32's matrices
    ["--target", "TEXT"],  # the encoder over the source, then the decoder's layers too
    ["--target", "TEXT", "--float64"],
])
def test_the_dtype_and_the_decoder_are_weighed(extra: list[str]) -> None:
    text = t5_text(4000)
    extra = [text if e == "TEXT" else e for e in extra]
    code, stderr, _ = limited_peak(["explain", "-", "--model", str(T5), "--max-tokens", "8192",
                                    *extra], stdin=text, env={"ATTN_MEMORY_BUDGET": "1300M"})
    refused_in_one_line(code, stderr, "float64" if "--float64" in extra else "float32",
                        "3 layers" if "--target" in extra else "2 layers")


def test_a_float32_run_the_budget_allows_stays_within_it() -> None:
    # the same 4,000 tokens through the encoder in float32 fit 1300M, and really do
    text = t5_text(4000)
    code, stderr, peak = limited_peak(["explain", "-", "--model", str(T5), "--max-tokens",
                                       "8192", "--json"], stdin=text,
                                      env={"ATTN_MEMORY_BUDGET": "1300M"})
    assert code == 0, stderr[-300:]
    assert peak < BUDGET, peak


def per_pair(needed) -> float:
    """The n² coefficient of a memory estimate a·n² + b·n + c, from three token counts."""
    k = 1000
    return (needed(3 * k) - 2 * needed(2 * k) + needed(k)) / (2 * k * k)


def test_float64_and_the_decoder_raise_the_estimate() -> None:
    from attncli.cli.sources import load
    from attncli.tokens import Token

    model = load(str(T5))  # 4 heads, 2 encoder and 3 decoder layers, one bias table each
    # bytes per query-key pair, layer 1's head 0 shown, in float32: layer 0 passed through
    # (4 heads × (3 matrices × 4 bytes + an overflow check) + a mask = 53) or the bias
    # being made (5 int64/float32 arrays of 8 bytes + 4 heads × 4 = 56), whichever is more,
    # beside the bias kept (4 heads × 4 = 16): 72; the head shown (4 float64 matrices and
    # a mask: 33) comes later, alone
    assert per_pair(lambda n: model.memory_needed(n, [1], 1)) == pytest.approx(72)
    # float64: 4 × (3 × 8 + 1) + 1 = 101 passing through, the bias kept 4 × 8 = 32
    assert per_pair(lambda n: model.memory_needed(n, [1], 1, float64=True)) == \
        pytest.approx(133)

    def decoder(n: int) -> float:  # as long a source as target
        view = model.for_target([Token("a", 5, 0, 1)] * n, "self")
        return view.memory_needed(n, [2], 1)

    # the decoder's own 72, and the encoder's bias table, kept from its pass: 16 more
    assert per_pair(decoder) == pytest.approx(88)


def sparse_bert(tmp_path: Path, hidden: int) -> Path:
    """The bert fixture widened to hidden_size, its tensors F16 and all zeros: a sparse file
    whose header declares every tensor at the size config.json implies."""
    model = shutil.copytree(FIXTURES / "bert", tmp_path / f"bert{hidden}")
    data = (model / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    declared = json.loads(data[8:8 + size])
    declared.pop("__metadata__", None)
    header, offset = {}, 0
    for name, info in declared.items():
        shape = [hidden if s == 32 else s for s in info["shape"]]
        length = 2 * int(np.prod(shape))
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + length]}
        offset += length
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(model / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    config = json.loads((model / "config.json").read_text())
    config["hidden_size"] = hidden
    (model / "config.json").write_text(json.dumps(config))
    return model


def test_a_wide_model_is_weighed_as_its_tensors_are_declared(tmp_path: Path) -> None:
    # hidden_size 16,384: each of a layer's four 16,384² matrices is within the budget
    # alone, but a layer's held at once (and the one before) are not
    model = sparse_bert(tmp_path, 16_384)
    code, stderr, _ = limited_peak(["explain", "The animal was tired", "--model", str(model)])
    refused_in_one_line(code, stderr, "6 tokens through 2 layers in float32")


def test_a_wide_model_the_budget_allows_runs_within_it(tmp_path: Path) -> None:
    model = sparse_bert(tmp_path, 4096)
    code, stderr, peak = limited_peak(["explain", "The animal was tired", "--model", str(model),
                                       "--json"], env={"ATTN_MEMORY_BUDGET": "1300M"})
    assert code == 0, stderr[-300:]
    assert peak < BUDGET, peak


def expanding_tokenizer(tmp_path: Path, normalizer: dict) -> Path:
    """The bert fixture with another normalizer in its tokenizer.json."""
    model = shutil.copytree(FIXTURES / "bert", tmp_path / "bert")
    spec = json.loads((model / "tokenizer.json").read_text())
    spec["normalizer"] = normalizer
    (model / "tokenizer.json").write_text(json.dumps(spec))
    return model


def test_a_normalizer_that_expands_each_character_is_refused_before_it_runs(
        tmp_path: Path) -> None:
    # each character becomes 50,000 words: 200 characters, ten million tokens
    model = expanding_tokenizer(tmp_path, {"type": "Replace", "pattern": {"Regex": "."},
                                           "content": "a " * 50_000})
    code, stderr, _ = limited_peak(["explain", "-", "--model", str(model)], stdin="a" * 200)
    refused_in_one_line(code, stderr, "tokenizing 200 characters", "100,001 tokens each")


def test_a_short_text_through_an_expanding_normalizer_stays_within_the_budget(
        tmp_path: Path) -> None:
    model = expanding_tokenizer(tmp_path, {"type": "Replace", "pattern": {"String": "a"},
                                           "content": "b" * 100_000})
    code, stderr, peak = limited_peak(["explain", "-", "--model", str(model)], stdin="a" * 10,
                                      env={"ATTN_MEMORY_BUDGET": "1300M"})
    assert code == 0, stderr[-300:]  # one long word: one [UNK] token
    assert peak < BUDGET, peak


@pytest.mark.parametrize(("normalizer", "factor"), [
    (None, 1),
    ({"type": "Lowercase"}, 3),
    ({"type": "NFKC"}, 18),
    ({"type": "Replace", "pattern": {"String": "ab"}, "content": "x" * 9}, 5),  # ⌈9 / 2⌉
    ({"type": "Replace", "pattern": {"Regex": "a+"}, "content": "x" * 9}, 10),
    ({"type": "Prepend", "prepend": "▁▁"}, 3),
    ({"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "Prepend",
                                                                 "prepend": "x"}]}, 6),
    ({"type": "Strip", "strip_left": True, "strip_right": True}, 1),
])
def test_the_expansion_bound_of_each_normalizer(normalizer: dict | None, factor: int) -> None:
    from tokenizers import Tokenizer

    from attncli.tokens import expansion

    spec = json.loads((FIXTURES / "bert" / "tokenizer.json").read_text())
    spec["normalizer"] = normalizer
    # the bert fixture's pre-tokenizer splits only, and its WordPiece makes a token of at
    # least one character
    assert expansion(Tokenizer.from_str(json.dumps(spec))) == factor


def test_the_expansion_bound_of_pre_tokenizers_and_byte_fallback() -> None:
    from tokenizers import Tokenizer

    from attncli.tokens import expansion

    gpt2 = Tokenizer.from_file(str(FIXTURES / "gpt2" / "tokenizer.json"))  # ByteLevel
    assert expansion(gpt2) == 5
    t5 = Tokenizer.from_file(str(T5 / "tokenizer.json"))  # Metaspace
    assert expansion(t5) == 2
    spec = json.loads((FIXTURES / "gpt2" / "tokenizer.json").read_text())
    spec["model"]["byte_fallback"] = True  # a character unknown: up to 4 byte tokens
    assert expansion(Tokenizer.from_str(json.dumps(spec))) == 20


def test_predict_weighs_every_layer_its_attention_and_its_lm_head(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # predict runs the whole model, keeps each layer's (heads, n, n) weights to the end,
    # and holds its LM head meanwhile
    from attncli.models.base import Model

    seen: list[tuple] = []
    real = Model.memory_needed

    def spy(self, n, layers, heads, **kw):
        seen.append((n, layers, heads, kw))
        return real(self, n, layers, heads, **kw)

    monkeypatch.setattr(Model, "memory_needed", spy)
    assert invoke("predict", "the animal was", "--model",
                  str(FIXTURES / "gpt2-lm")).exit_code == 0
    (n, layers, heads, kw), = seen
    assert layers == [1] and heads == 0 and kw["kept"] == 2 * 4  # 2 layers × 4 heads
    # the run alone needs about 125 KiB; with the LM head it holds meanwhile (the 320×32
    # word embeddings, tied) and the logits, 167 KiB
    refused(invoke("predict", "the animal was", "--model", str(FIXTURES / "gpt2-lm"),
                   env={"ATTN_MEMORY_BUDGET": "150K"}), "4 tokens through 2 layers in float32",
            "167 KiB")
