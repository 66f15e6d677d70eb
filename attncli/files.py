"""Reading input files with clear errors, and writing output files atomically."""

from __future__ import annotations

import os
import tempfile
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
