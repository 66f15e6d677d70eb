"""Hostile input, round two (issue 14): special files, and writes that race."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import invoke, refused

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
