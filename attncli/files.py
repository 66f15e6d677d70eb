"""Reading input files with clear errors, and writing output files atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from attncli.errors import AttnError

MAX_INPUT_BYTES = 2 * 1024**3  # no weights file for a lesson is larger than this


def read_bytes(path: Path, *, what: str) -> bytes:
    """The whole file, or an AttnError naming the file and what is wrong with it."""
    if path.is_dir():
        raise AttnError(f"{path}: is a directory, expected a {what}")
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise AttnError(f"{path}: {size} bytes is larger than any {what} attn reads")
        data = path.read_bytes()
    except FileNotFoundError:
        raise AttnError(f"{path}: no such {what}") from None
    except PermissionError:
        raise AttnError(f"{path}: permission denied") from None
    except OSError as exc:
        raise AttnError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise AttnError(f"{path}: the {what} is empty")
    return data


def check_target(path: Path, *, force: bool = False) -> None:
    """Refuse a file that may not be written: a directory, an existing file without force, a
    missing folder."""
    if path.is_dir():
        raise AttnError(f"{path}: is a directory")
    if path.exists() and not force:
        raise AttnError(f"{path}: already exists (use --force to overwrite it)")
    if not path.parent.is_dir():
        raise AttnError(f"{path}: folder {path.parent} does not exist")


def wants_dir(path: str | os.PathLike[str]) -> bool:
    """Whether path names a folder to write into rather than a file: it ends with a separator
    ("pics/") or is an existing directory.

    The trailing separator is only seen in a str: pathlib drops it (Path("pics/") is "pics").
    """
    text = os.fspath(path)
    return text.endswith(tuple(sep for sep in ("/", os.sep, os.altsep) if sep)) or (
        Path(text).is_dir())


def check_folder(folder: Path, names: Sequence[str] = (), *, force: bool = False) -> None:
    """Refuse a folder that files may not be written into, before anything is written: a path
    that is not a directory, a missing folder whose parent is missing too (a missing folder
    itself is fine: make_folder creates it), or, without force, any of names already there."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise AttnError(f"{folder}: is not a directory")
    if not folder.exists():
        if not folder.parent.is_dir():
            raise AttnError(f"{folder}: cannot create this folder, {folder.parent} does not "
                            "exist")
        return  # a new folder holds none of names
    for name in names:
        check_target(folder / name, force=force)


def make_folder(folder: Path) -> None:
    """Create folder if it is missing; its parent must exist (only one level is created)."""
    folder = Path(folder)
    try:
        folder.mkdir(exist_ok=True)
    except FileNotFoundError:
        raise AttnError(f"{folder}: cannot create this folder, {folder.parent} does not "
                        "exist") from None
    except FileExistsError:
        raise AttnError(f"{folder}: is not a directory") from None
    except OSError as exc:
        raise AttnError(f"{folder}: cannot create this folder ({exc.strerror or exc})") from None


def atomic_write(path: Path, data: bytes, *, force: bool = False) -> None:
    """Write data to path through a temporary file and a rename.

    Readers never see a half-written file, a failure leaves nothing behind,
    and an existing file is kept unless force is given.
    """
    path = Path(path)
    check_target(path, force=force)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise AttnError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise AttnError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
