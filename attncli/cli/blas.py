"""One BLAS thread unless the user asks for more, set before numpy is imported.

numpy's OpenBLAS starts a worker thread per core at import and spins them while it waits for
work. attn's products are small (seeded mode never needs a second thread, and a model's run
at a sentence's length hardly does), and on a machine whose other cores are busy the spinning
workers fight for them, and a model's run took several times as long as with one thread
(docs/performance.md). So `attn` runs BLAS on one thread, unless one of THREAD_VARIABLES is set
(OPENBLAS_NUM_THREADS=4 attn … gives BLAS four), or numpy is already imported (attn called
from Python), when it is too late to choose and nothing is changed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Container, MutableMapping

# what OpenBLAS (OPENBLAS_, GOTO_, then OMP_), MKL, BLIS and Accelerate read for their threads
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")  # OpenBLAS, and OpenMP builds and MKL


def one_blas_thread(environ: MutableMapping[str, str] | None = None,
                    modules: Container[str] | None = None) -> bool:
    """Ask BLAS for one thread (ONE_THREAD set to 1) unless the user set any of
    THREAD_VARIABLES or numpy is already imported. Whether it did."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "numpy" in modules or any(environ.get(name, "").strip() for name in THREAD_VARIABLES):
        return False
    for name in ONE_THREAD:
        environ[name] = "1"
    return True
