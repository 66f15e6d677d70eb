"""Keep the memory numpy frees for the next array, instead of handing it back to the system.

Set once, by the commands that work out numbers, before they do (a process-wide setting, like
the BLAS threads in blas.py, which `attn --help` does not need). A model run makes and drops
arrays of 1 to 30 MB all the time (each layer's activations, every head's n×n matrices).
glibc's malloc serves each with fresh pages (mmap above its threshold, and the top of the
heap given back past another), and a fresh page costs a fault and a zeroing. With
allocations up to 32 MB from the heap and the heap kept (up to 1 GB freed at its top), the
freed memory is reused instead: about half the faults, and the same peak memory (the
process never holds more than it did at its peak; it only keeps it until it ends).

Only on glibc (Linux), once per process, and not when the user tunes malloc already
(GLIBC_TUNABLES or a MALLOC_*_ variable): the user's choice wins.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30
USER_SETTINGS = ("GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                 "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_", "MALLOC_ARENA_MAX")
_done = False


def keep_freed_memory(environ: Mapping[str, str] | None = None) -> bool:
    """Ask glibc's malloc to keep what is freed (see the module's docstring). Whether it did."""
    global _done
    env: Mapping[str, str] = os.environ if environ is None else environ
    if _done or not sys.platform.startswith("linux") or any(k in env for k in USER_SETTINGS):
        return False
    _done = True
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl's mallopt does nothing)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
