"""Reading input files with clear errors, and writing output files atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from attncli.errors import AttnError, TargetExists

MAX_INPUT_BYTES = 2 * 1024**3  # no weights file for a lesson is larger than this
MiB = 1024**2
# what each kind of input may weigh, checked before it is read (README, "Limits"): a JSON or
# text this size already takes hundreds of MB to parse
MAX_JSON_WEIGHTS = 64 * MiB  # a weights .json (binary .npz/.safetensors: MAX_INPUT_BYTES)
MAX_TOKENIZER = 64 * MiB  # tokenizer.json (Gemma 3's is 33 MB)
MAX_CONFIG = 16 * MiB  # config.json, a shard index
MAX_STDIN = 4 * MiB  # TEXT read from standard input
CHARS_PER_TOKEN = 64  # a text longer than --max-tokens × this is refused before tokenizing
MEMORY_BUDGET = 2 * 1024**3  # what one run may allocate; ATTN_MEMORY_BUDGET overrides it


MIN_MEMORY_BUDGET = 1024  # bytes: below this no run, however small, could start
MAX_MEMORY_BUDGET = 2**60  # bytes (1 EiB): more than any machine has, and far from overflow
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def memory_budget() -> int:
    """Bytes one run may allocate: ATTN_MEMORY_BUDGET, else 2 GiB."""
    return parse_memory_budget(os.environ.get("ATTN_MEMORY_BUDGET", ""))


def parse_memory_budget(raw: str) -> int:
    """A budget as ATTN_MEMORY_BUDGET gives it: a whole number of bytes, or a number with K,
    M, G or T (powers of 1024; a trailing B or iB is allowed: 512M, 1.5G, 4GiB), from 1 KiB to
    1 EiB; empty means the default."""
    import re

    text = raw.strip()
    if not text:
        return MEMORY_BUDGET
    shown = repr(text if len(text) <= 40 else text[:20] + "…")
    match = re.fullmatch(r"(\d{1,20}(?:\.\d{1,20})?)\s*([KMGT]?)(?:I?B)?", text.upper())
    if match is None:
        raise AttnError(f"ATTN_MEMORY_BUDGET={shown}: give a number of bytes, or one with K, M, G "
                        "or T, e.g. 2G or 512M")
    number, unit = match.groups()
    if "." in number and not unit:
        raise AttnError(f"ATTN_MEMORY_BUDGET={shown}: a number of bytes is whole; a fraction "
                        "needs a unit, e.g. 0.5G")
    from decimal import Decimal

    value = Decimal(number) * UNITS[unit]
    if value < MIN_MEMORY_BUDGET:
        raise AttnError(f"ATTN_MEMORY_BUDGET={shown}: the budget must be at least 1K (1024 "
                        "bytes)")
    if value > MAX_MEMORY_BUDGET:
        raise AttnError(f"ATTN_MEMORY_BUDGET={shown}: the budget must be at most "
                        f"{MAX_MEMORY_BUDGET // UNITS['T']}T (1 EiB)")
    return int(value)


def check_memory(estimate: float, what: str) -> None:
    """Refuse work whose memory, estimated before anything is allocated, exceeds the budget."""
    budget = memory_budget()
    if estimate > budget:
        raise AttnError(f"{what} would need about {_size(estimate)}, more than the memory "
                        f"budget of {_size(budget)} (set ATTN_MEMORY_BUDGET to raise it)")


# What parsed JSON costs in Python objects, per byte of its text, at worst: "[]," is three
# bytes and an empty list (with its reference) about 72; a header under the floor is not weighed
JSON_BYTES_PER_CHAR = 30
JSON_WEIGHED_FROM = 1 * MiB


def check_json_memory(size: int, what: str) -> None:
    """Refuse JSON text whose parsed objects could exceed the budget, before it is parsed."""
    if size >= JSON_WEIGHED_FROM:
        check_memory(size * JSON_BYTES_PER_CHAR, what)


def _size(n: float) -> str:
    """Bytes as MiB, or as KiB below 1 MiB (so that a small budget does not read "0 MiB")."""
    return f"{n / MiB:,.0f} MiB" if n >= MiB else f"{n / 1024:,.0f} KiB"


def read_bytes(path: Path, *, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The whole file, or an AttnError naming the file and what is wrong with it. Only a
    regular file is read (a FIFO would hang and a device such as /dev/zero never ends), and
    only up to limit bytes, checked before reading."""
    check_regular(path, what)
    try:
        size = path.stat().st_size
        if size > limit:
            raise AttnError(f"{path}: {size:,} bytes, more than the {limit / MiB:,.0f} MiB a "
                            f"{what} may have")
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


def parse_json(text: str | bytes, where: str, what: str = "JSON", *,
               unique_keys: bool = False) -> object:
    """Strict JSON (no NaN or Infinity), or one AttnError naming where it came from: text
    nested deeper than Python can follow is refused, not a RecursionError. With unique_keys,
    an object that names a key twice is refused too (JSON itself keeps the last silently)."""
    import json

    def no_constant(name: str) -> None:
        raise ValueError(f"{name} is not a number JSON allows")

    def once(pairs: list[tuple[str, object]]) -> dict[str, object]:
        seen: dict[str, object] = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"{key[:80]!r} is named twice")
            seen[key] = value
        return seen

    try:
        return json.loads(text, parse_constant=no_constant,
                          object_pairs_hook=once if unique_keys else None)
    except RecursionError:
        raise AttnError(f"{where}: {what} nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise AttnError(f"{where}: not valid {what} ({exc})") from None


def check_regular(path: Path, what: str) -> None:
    """Refuse anything but a regular file (after links), naming what the path is instead."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AttnError(f"{path}: no such {what}") from None
    except OSError as exc:  # a name too long, a folder without search permission, a loop…
        raise AttnError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISREG(mode):
        return
    raise AttnError(f"{path}: is {_kind(mode)}, expected a {what} (a regular file)")


def check_target(path: Path, *, force: bool = False) -> None:
    """Refuse a file that may not be written: a directory, an existing file without force, a
    missing folder, and anything at the path that is neither a regular file nor a symbolic
    link (a device, a FIFO, a socket), even with force: the rename that writes the file would
    put a regular file in its place."""
    _refuse_loop(path)
    if path.is_dir():
        raise AttnError(f"{path}: is a directory")
    _refuse_special(path)
    if path.exists() and not force:
        raise TargetExists(f"{path}: already exists")
    _refuse_loop(path.parent)
    if not path.parent.is_dir():
        raise AttnError(f"{path}: folder {path.parent} does not exist")


def _refuse_loop(path: Path) -> None:
    """Refuse a path that cannot be followed because its symbolic links loop (pathlib would
    call it missing, or raise RuntimeError on some Pythons)."""
    import errno

    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AttnError(f"{path}: cannot be followed, its symbolic links loop") from None


def _refuse_special(path: Path) -> None:
    """Refuse a path that holds something other than a regular file or a symbolic link."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError:  # nothing there, or not reachable: the write itself will say so
        return
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return
    raise AttnError(f"{path}: is {_kind(mode)}, not a regular file; attn only writes or "
                    "replaces regular files")


def _kind(mode: int) -> str:
    """What a file mode says the path is, as words."""
    import stat

    return ("a directory" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a block device"
            if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")


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
    _refuse_loop(folder)
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
    import tempfile

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
        if force:
            _refuse_special(path)  # again, just before the rename: it may have appeared since
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise TargetExists(f"{path}: already exists") from None
        if isinstance(exc, OSError):
            raise AttnError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise


def _link_new(tmp: str, path: Path) -> None:
    """Give the written file its name only if no file has it: a hard link fails when the name
    is taken, so two runs writing the same new file cannot both succeed (the second would
    silently replace the first with a rename). Where a file system has no hard links, a
    rename after a last check."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network or FAT file systems)
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)
