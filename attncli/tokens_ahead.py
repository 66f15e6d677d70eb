"""A large tokenizer.json parsed in a second process while this one starts up.

Parsing a tokenizer of tens of megabytes takes a few tenths of a second, and the library
holds the interpreter the whole time, so no thread of ours can work beside it. A child
process can: started before the imports, it parses the file on another core while this
process imports, reads config.json and opens the weights; then it encodes texts sent to
it, with the same code (tokens.encode) and the same checks. The tokenizer object itself
cannot cross processes; whatever else needs it parses the file here, as before.

The child reads requests from a pipe and ends when that pipe closes, which happens when
this process ends, however it ends. It ignores Ctrl-C (the terminal sends it to the whole
group) and writes nothing to the terminal.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer

WORTH_IT = 2 * 1024 * 1024  # bytes: a smaller tokenizer.json parses in a few milliseconds


class Ahead:
    """A child parsing path, and the file as it found it (device, inode, size, mtime)."""

    def __init__(self, path: Path, pid: int, requests: IO[bytes], replies: IO[bytes],
                 found: tuple[int, ...]) -> None:
        self.path, self.pid, self.identity = path, pid, found
        self.requests = requests  # written here, read by the child
        self.replies = replies  # written by the child, read here
        self.state = "parsing"  # then "ready", or "failed" (the file is parsed here instead)

    def ready(self) -> bool:
        """Wait for the parse; True if the child holds the tokenizer of the file as it is."""
        if self.state == "parsing":
            reply = self._reply()
            ok = reply is not None and reply.get("parsed") is True
            self.state = "ready" if ok and identity(self.path) == self.identity else "failed"
            if self.state == "failed":
                self.close()
        return self.state == "ready"

    def encode(self, text: str, *, special_tokens: bool, source: str) -> list[Any]:
        """tokens.encode(tokenizer, text, ...) in the child: its Tokens, or its AttnError."""
        import orjson

        from attncli.errors import AttnError
        from attncli.tokens import Token

        self.requests.write(orjson.dumps({"text": text, "special_tokens": special_tokens,
                                          "source": source}) + b"\n")
        self.requests.flush()
        reply = self._reply()
        if reply is None:  # the child is gone: a crash inside the library
            raise AttnError(f"{source}: the tokenizer stopped while encoding this text")
        if "error" in reply:
            raise AttnError(reply["error"])
        return [Token(text=t, id=i, start=s, end=e) for t, i, s, e in reply["tokens"]]

    def _reply(self) -> dict[str, Any] | None:
        import orjson

        line = self.replies.readline()
        return orjson.loads(line) if line else None

    def close(self) -> None:
        """End the child (it exits when its requests pipe closes)."""
        for stream in (self.requests, self.replies):
            try:
                stream.close()
            except OSError:
                pass
        self.state = "failed" if self.state == "parsing" else self.state


class Elsewhere:
    """A model's tokenizer held by a child (ahead): texts are encoded there, and the first
    other use parses data (the file's bytes, as read here) in this process."""

    def __init__(self, ahead: Ahead, data: bytes, path: Path) -> None:
        self.ahead, self.data, self.path = ahead, data, path

    def here(self) -> Tokenizer:
        """The tokenizer parsed in this process; the child is ended."""
        from attncli.tokens import parse_tokenizer

        self.ahead.close()
        return parse_tokenizer(self.data, self.path)


STARTED: dict[Path, Ahead] = {}  # started, not yet taken by load_model
CHILDREN: list[Ahead] = []  # every child started, ended and waited for at exit


def end_all() -> None:
    """At exit: end every child and wait for it (its time and memory are then counted with
    this process's, and no zombie is left). One still parsing (attn stopped early: an error,
    Ctrl-C) is killed, so that the exit never waits for a parse nobody needs; the others end
    when their pipes close."""
    import signal

    for ahead in CHILDREN:
        if ahead.state == "parsing":
            try:
                os.kill(ahead.pid, signal.SIGKILL)
            except OSError:  # already gone
                pass
        ahead.close()
        try:
            os.waitpid(ahead.pid, 0)
        except (ChildProcessError, InterruptedError):
            pass
    CHILDREN.clear()


def identity(path: Path, st: os.stat_result | None = None) -> tuple[int, ...]:
    """What tells one file from another, or the same file changed: device, inode, size and
    modification time (of st, path's stat if already taken)."""
    try:
        st = path.stat() if st is None else st
    except OSError:
        return ()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def start(path: Path) -> None:
    """Fork a child to parse path, if it is a regular file large enough to be worth it and
    this system forks (Linux) with a second CPU to run it on. Call before any thread starts
    and before the heavy imports: the child is a copy of this process."""
    import stat

    # the CPUs counted here, not by models.read_ahead.usable_cpus: importing the models
    # package would import numpy before the fork
    if not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2:
        return
    try:
        path = Path(os.path.realpath(path))
        st = path.stat()
    except (OSError, ValueError):
        return
    if path in STARTED:
        return
    if not stat.S_ISREG(st.st_mode) or st.st_size < WORTH_IT:
        return
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (requests_r, requests_w, replies_r, replies_w):
            os.close(fd)
        return
    if pid == 0:  # the child: never returns
        os.close(requests_w)
        os.close(replies_r)
        _serve(path, requests_r, replies_w)
    os.close(requests_r)
    os.close(replies_w)
    ahead = Ahead(path, pid, os.fdopen(requests_w, "wb"), os.fdopen(replies_r, "rb"),
                  identity(path, st))
    if not CHILDREN:
        import atexit

        atexit.register(end_all)
    STARTED[path] = ahead
    CHILDREN.append(ahead)


def take(path: Path) -> Ahead | None:
    """The child parsing path, if one was started and holds that file's tokenizer; None
    otherwise (then parse it here)."""
    ahead = STARTED.pop(Path(os.path.realpath(path)), None)
    return ahead if ahead is not None and ahead.ready() else None


def _serve(path: Path, requests: int, replies: int) -> None:
    """The child's whole life: parse path, say whether that worked, encode each text sent
    until the pipe closes. Ends with os._exit: nothing of the parent's exit runs here."""
    import signal

    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        import orjson

        from attncli.errors import AttnError
        from attncli.tokens import encode, parse_tokenizer, read_tokenizer

        out = os.fdopen(replies, "wb")
        before = identity(path)
        try:
            tokenizer = parse_tokenizer(read_tokenizer(path), path)
            parsed = identity(path) == before
        except AttnError:
            parsed = False
        out.write(orjson.dumps({"parsed": parsed}) + b"\n")
        out.flush()
        if not parsed:
            os._exit(0)
        for line in os.fdopen(requests, "rb"):
            ask = orjson.loads(line)
            try:
                tokens = encode(tokenizer, ask["text"], special_tokens=ask["special_tokens"],
                                source=ask["source"])
                reply: dict[str, Any] = {"tokens": [(t.text, t.id, t.start, t.end)
                                                    for t in tokens]}
            except AttnError as exc:
                reply = {"error": str(exc)}
            out.write(orjson.dumps(reply) + b"\n")
            out.flush()
    except BaseException:  # noqa: BLE001  (a broken pipe, a panic: the parent parses instead)
        code = 1
    os._exit(code)
