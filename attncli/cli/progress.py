"""Progress on standard error while a model loads and runs its layers.

Only on a terminal, only once the run has taken longer than DELAY (a quick run shows nothing),
and gone when it is done; when standard error is not a terminal (a pipe, a file, the tests)
nothing is drawn at all. The models are told only of a callback, layer i of n.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DELAY = 0.5  # seconds a run goes unannounced: long enough that a quick run never flickers

Progress = Callable[[int, int], None]  # (layers done, layers to run), as models.base calls it


@contextmanager
def model_progress(name: str, delay: float = DELAY, console: Any = None
                   ) -> Iterator[Progress | None]:
    """A callback to hand the model (or None on no terminal), drawing 'loading NAME' until the
    first layer and then 'layer i of n' with a bar, on console (default: standard error)."""
    if console is None:
        stream = sys.stderr
        if stream is None or not stream.isatty():
            yield None
            return
        from rich.console import Console

        console = Console(file=stream)
    from rich.progress import BarColumn, TextColumn
    from rich.progress import Progress as Bar

    from attncli.safe_text import visible

    # started from the timer's thread, so it must not swap sys.stdout and sys.stderr
    bar = Bar(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[step]}"),
              console=console, transient=True, redirect_stdout=False, redirect_stderr=False)
    task = bar.add_task(f"loading {visible(name)}", total=None, step="")
    lock = threading.Lock()
    shown = {"started": False, "finished": False}

    def start() -> None:  # after the delay, unless the run has finished first
        with lock:
            if not shown["finished"]:
                bar.start()
                shown["started"] = True

    def on_layer(done: int, total: int) -> None:
        bar.update(task, description=f"running {visible(name)}", total=total, completed=done,
                   step=f"layer {done} of {total}")

    timer = threading.Timer(delay, start)
    timer.daemon = True
    timer.start()
    try:
        yield on_layer
    finally:
        timer.cancel()
        with lock:
            shown["finished"] = True
            if shown["started"]:
                bar.stop()
