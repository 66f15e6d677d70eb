"""The records file: one JSON record per line, appended a whole line at a time.

Each record is one os.write of a complete line to a file opened for appending, so a run
stopped at any moment (Ctrl-C, a crash, a killed worker) leaves every finished record whole;
at most a last line cut short by the machine itself going down, which resuming removes and
reports. Nothing but a regular file is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from attncli.corpus.records import Record, from_dict, to_dict
from attncli.corpus.texts import Bad
from attncli.errors import AttnError


def read_records(path: Path) -> Iterator[Record | Bad]:
    """Every record of a records file, or a Bad line naming what is wrong with it."""
    from attncli.files import check_regular

    check_regular(path, "records file")
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                if not raw.endswith(b"\n"):
                    yield Bad(number, "cut short (no end of line): a record being written "
                                      "when the run stopped")
                    continue
                try:
                    yield from_dict(orjson.loads(raw))
                except orjson.JSONDecodeError as exc:
                    yield Bad(number, f"not valid JSON ({exc})")
                except AttnError as exc:
                    yield Bad(number, str(exc))
    except OSError as exc:
        raise AttnError(f"{path}: cannot read ({exc.strerror or exc})") from None


def drop_partial_line(path: Path) -> int | None:
    """Remove a last line cut short (no end of line) so that appending starts a line; its
    line number, or None when the file ends whole."""
    with path.open("rb+") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return None
        keep = data.rfind(b"\n") + 1
        handle.truncate(keep)
        return data.count(b"\n") + 1


class Writer:
    """Appends records to path, each a whole line written at once."""

    def __init__(self, path: Path, *, fresh: bool) -> None:
        """Open path for appending; fresh empties it first (a new run over an old file)."""
        import stat

        from attncli.files import check_regular

        if os.path.lexists(path):  # a link is followed: its target must be a regular file
            check_regular(path, "records file")
        if not path.parent.is_dir():
            raise AttnError(f"{path}: folder {path.parent} does not exist")
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if fresh else 0)
        try:
            self.fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise AttnError(f"{path}: cannot write ({exc.strerror or exc})") from None
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):  # swapped in since the check
            os.close(self.fd)
            raise AttnError(f"{path}: not a regular file; attn only writes regular files")
        self.path = path

    def write(self, record: Record) -> None:
        """Append one record as a line."""
        data = memoryview(orjson.dumps(to_dict(record)) + b"\n")
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError as exc:
            raise AttnError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def close(self) -> None:
        """Flush to the disk and close."""
        try:
            os.fsync(self.fd)
        except OSError:  # a pipe or a file system without fsync: the writes are done
            pass
        os.close(self.fd)
