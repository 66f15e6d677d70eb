"""Reading a layer's weights on a second thread while the layer before computes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any


def usable_cpus() -> int:
    """How many CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class ReadAhead:
    """A call run on a daemon thread (so that an error elsewhere never waits for it): result()
    waits for it and gives its value, or raises what it raised."""

    def __init__(self, call: Callable[..., Any], *args: Any) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call, args), daemon=True,
                                       name="attn-read-ahead")
        self.thread.start()

    def _run(self, call: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self.value = call(*args)
        except BaseException as exc:  # handed to the caller, which raises it as its own
            self.error = exc

    def result(self) -> Any:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value
