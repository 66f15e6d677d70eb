"""What attn writes over: only regular files (and symbolic links), never a device, a FIFO or a
socket, with or without --force.

Every node is made in a temporary folder; no test points --force at a system device.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ANIMAL_TIRED, FIXTURES, invoke, ok, refused

from attncli.errors import AttnError
from attncli.files import atomic_write, check_target

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and sockets are POSIX")


def make_fifo(path: Path) -> Iterator[None]:
    os.mkfifo(path)
    yield


def make_socket(path: Path) -> Iterator[None]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    try:
        yield
    finally:
        sock.close()


def make_char_device(path: Path) -> Iterator[None]:
    """A character device like /dev/null (major 1, minor 3), made here: needs CAP_MKNOD, which
    the FIFO and socket cases do not."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("no permission to make a device node here (the FIFO and socket cases run)")
    yield


NODES: dict[str, tuple[Callable[[Path], Iterator[None]], Callable[[int], bool]]] = {
    "fifo": (make_fifo, stat.S_ISFIFO),
    "socket": (make_socket, stat.S_ISSOCK),
    "char-device": (make_char_device, stat.S_ISCHR),
}


@pytest.fixture(params=sorted(NODES))
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A special file in a short temporary folder (a socket's path is limited to ~100 bytes)."""
    import tempfile

    make, is_kind = NODES[request.param]
    with tempfile.TemporaryDirectory(prefix="attn-") as folder:
        path = Path(folder) / "out.svg"
        gen = make(path)
        next(gen)
        yield path, request.param
        assert is_kind(os.lstat(path).st_mode), f"{request.param} was replaced"
        gen.close()


@pytest.mark.parametrize("force", [False, True])
def test_check_target_refuses_every_special_file(node: tuple[Path, str], force: bool) -> None:
    path, _ = node
    with pytest.raises(AttnError, match="not a regular file"):
        check_target(path, force=force)


def test_atomic_write_with_force_leaves_a_special_file_and_no_temporary(
        node: tuple[Path, str]) -> None:
    path, _ = node
    with pytest.raises(AttnError, match="not a regular file"):
        atomic_write(path, b"data", force=True)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.svg"]


def test_force_still_replaces_a_regular_file_and_a_symlink(tmp_path: Path) -> None:
    regular = tmp_path / "a.txt"
    regular.write_bytes(b"old")
    atomic_write(regular, b"new", force=True)
    assert regular.read_bytes() == b"new"
    os.mkfifo(tmp_path / "pipe")
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "pipe")  # the link is replaced, not what it points to
    atomic_write(link, b"new", force=True)
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)


@pytest.mark.parametrize("args", [
    ("explain", "The animal was tired", "-w", str(ANIMAL_TIRED), "--svg", "{p}"),
    ("explain", "The animal was tired", "-w", str(ANIMAL_TIRED), "--txt", "{p}"),
    ("explain", "The animal was tired", "-w", str(ANIMAL_TIRED), "--html", "{p}"),
    ("heads", "The animal was tired", "--txt", "{p}"),
    ("predict", "The animal was", "--model", str(FIXTURES / "gpt2-lm"), "--txt", "{p}"),
    ("weights", "init", "-o", "{p}.json"),
], ids=["explain-svg", "explain-txt", "explain-html", "heads-txt", "predict-txt", "weights"])
@pytest.mark.parametrize("force", [False, True])
def test_every_export_refuses_a_special_file_in_one_line(
        args: tuple[str, ...], force: bool, tmp_path: Path) -> None:
    target = tmp_path / "out"
    os.mkfifo(target.with_name("out.json") if args[0] == "weights" else target)
    argv = [a.replace("{p}", str(target)) for a in args] + (["--force"] if force else [])
    refused(invoke(*argv), "named pipe (FIFO)", "not a regular file")


def test_demo_pictures_refuse_a_special_file_in_their_folder(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    ok(invoke("demo", "--svg", f"{folder}/", "--no-pause"))
    first = sorted(folder.iterdir())[0]
    first.unlink()
    os.mkfifo(first)
    refused(invoke("demo", "--svg", f"{folder}/", "--no-pause", "--force"),
            first.name, "not a regular file")
    assert stat.S_ISFIFO(os.lstat(first).st_mode)


def symlink_loop(folder: Path) -> Path:
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    return folder / "a"


@pytest.mark.parametrize("args", [
    ("demo", "--no-pause", "--svg", "{a}/"),
    ("demo", "--no-pause", "--txt", "{a}/x/"),
    ("explain", "a b", "--svg", "{a}"),
    ("explain", "a b", "--svg", "{a}", "--force"),
    ("explain", "a b", "--html", "{a}/x.html"),
    ("weights", "init", "-o", "{a}/w.json"),
], ids=["demo-folder", "demo-inside", "explain", "explain-force", "explain-inside", "weights"])
def test_a_symlink_loop_as_a_target_is_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    loop = symlink_loop(tmp_path)
    refused(invoke(*[a.replace("{a}", str(loop)) for a in args]), "symbolic links loop")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


@pytest.mark.parametrize("args", [
    ("explain", "The animal was tired", "--txt", "{d}/"),
    ("explain", "The animal was tired", "--svg", "{d}/"),
    ("heads", "The animal was tired", "--html", "{d}/"),
    ("compare", "I sat by the bank", "I paid the bank", "--word", "bank", "--txt", "{d}/"),
    ("predict", "The animal was", "--model", str(FIXTURES / "gpt2-lm"), "--txt", "{d}/"),
], ids=["explain-txt", "explain-svg", "heads-html", "compare-txt", "predict-txt"])
def test_a_trailing_slash_names_a_folder_for_every_export(
        args: tuple[str, ...], tmp_path: Path) -> None:
    """One rule everywhere: "DIR/" is a folder (demo writes a file per screen into it; a command
    that saves one file refuses it), never a file named DIR."""
    target = tmp_path / "nodir"
    refused(invoke(*[a.replace("{d}", str(target)) for a in args]), "names a folder")
    assert not target.exists()
