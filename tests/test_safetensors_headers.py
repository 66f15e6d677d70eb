"""A safetensors header is held to the format's own rules: every tensor named once, no two
tensors' bytes overlapping; and a shard that is not a regular file is refused at once."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, invoke, ok, refused

QUERY = "encoder.layer.0.attention.self.query.weight"
KEY = "encoder.layer.0.attention.self.key.weight"


def split(path: Path) -> tuple[str, bytes]:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return data[8:8 + size].decode(), data[8 + size:]


def join(path: Path, header: str, body: bytes) -> None:
    raw = header.encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def bert_with(tmp_path: Path, edit) -> Path:
    model = tmp_path / "bert"
    shutil.copytree(FIXTURES / "bert", model)
    header, body = split(model / "model.safetensors")
    join(model / "model.safetensors", edit(header), body)
    return model


def overlapping(header: str) -> str:
    parsed = json.loads(header)
    parsed[KEY]["data_offsets"] = parsed[QUERY]["data_offsets"]
    return json.dumps(parsed)


def shifted_into_query(header: str) -> str:
    """The key's bytes start halfway through the query's, its size unchanged."""
    parsed = json.loads(header)
    begin, end = parsed[QUERY]["data_offsets"]
    size = parsed[KEY]["data_offsets"][1] - parsed[KEY]["data_offsets"][0]
    parsed[KEY]["data_offsets"] = [(begin + end) // 2, (begin + end) // 2 + size]
    return json.dumps(parsed)


def named_twice(header: str) -> str:
    parsed = json.loads(header)
    entry = json.dumps({QUERY: parsed[QUERY]})[1:-1]
    return header.rstrip()[:-1] + ", " + entry + "}"


def backwards(header: str) -> str:
    parsed = json.loads(header)
    begin, end = parsed[QUERY]["data_offsets"]
    parsed[QUERY]["data_offsets"] = [end, begin]
    return json.dumps(parsed)


@pytest.mark.parametrize(("edit", "words"), [
    (overlapping, ("overlap", "query.weight")),
    (shifted_into_query, ("overlap", "key.weight")),
    (named_twice, ("named twice", "query.weight")),
    (backwards, ("ends before it begins",)),
], ids=["same-offsets", "shifted", "named-twice", "backwards"])
def test_a_model_header_breaking_the_format_is_refused(edit, words, tmp_path: Path) -> None:
    model = bert_with(tmp_path, edit)
    refused(invoke("explain", "The animal was tired", "--model", str(model)),
            "model.safetensors", *words)


def test_the_unedited_header_still_loads(tmp_path: Path) -> None:
    ok(invoke("explain", "The animal was tired", "--model", str(bert_with(tmp_path, str))))


def test_a_weights_file_naming_a_tensor_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    assert invoke("weights", "init", "-o", str(path)).exit_code == 0
    header, body = split(path)
    parsed = json.loads(header)
    join(path, header.rstrip()[:-1] + ", " + json.dumps({"w_q": parsed["w_q"]})[1:-1] + "}", body)
    refused(invoke("explain", "The animal was tired", "-w", str(path)),
            "w.safetensors", "'w_q' is named twice")


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_a_shard_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    model = tmp_path / "gpt2"
    shutil.copytree(FIXTURES / "gpt2", model)
    index = json.loads((model / "model.safetensors.index.json").read_text())
    shard = model / sorted(set(index["weight_map"].values()))[-1]
    shard.unlink()
    os.mkfifo(shard)
    done = subprocess.run([sys.executable, "-m", "attncli", "explain", "The animal was tired",
                           "--model", str(model)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert "named pipe (FIFO)" in done.stderr and shard.name in done.stderr
