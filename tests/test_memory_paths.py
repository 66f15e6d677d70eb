"""The memory budget on the paths that read what a file declares: a safetensors weights file
whose header promises gigabytes, and a safetensors header that is itself huge JSON. Each runs
under a real 3 GiB address-space limit and must be refused in one line, not allocated."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

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
