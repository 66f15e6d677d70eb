"""What keeps attn quick, checked as facts rather than timings (bench/bench.py times them):
BLAS runs on one thread unless the user asks for more."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from attncli.cli.blas import THREAD_VARIABLES, one_blas_thread


def test_one_blas_thread_unless_the_user_chose_or_numpy_is_already_imported() -> None:
    env: dict[str, str] = {"PATH": "/bin"}
    assert one_blas_thread(env, modules={}) is True
    assert env == {"PATH": "/bin", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for name in THREAD_VARIABLES:  # any of them set by the user: nothing is changed
        env = {name: "3"}
        assert one_blas_thread(env, modules={}) is False
        assert env == {name: "3"}
    env = {"OPENBLAS_NUM_THREADS": " "}  # set but empty: as if unset, as OpenBLAS reads it
    assert one_blas_thread(env, modules={}) is True and env["OPENBLAS_NUM_THREADS"] == "1"
    env = {}
    assert one_blas_thread(env, modules={"numpy": object()}) is False  # too late to choose
    assert env == {}


# runs attn's entry point (--version), then asks the OpenBLAS numpy loaded for its threads
BLAS_THREADS = textwrap.dedent("""
    import ctypes, sys
    from attncli.cli import main
    sys.argv = ["attn", "--version"]
    try:
        main()
    except SystemExit:
        pass
    import numpy
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    for lib in libs:
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            get = getattr(ctypes.CDLL(lib), name, None)
            if get is not None:
                print(get(), file=sys.stderr)
                raise SystemExit(0)
    print("no OpenBLAS", file=sys.stderr)
""")


def blas_threads(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    got = subprocess.run([sys.executable, "-c", BLAS_THREADS], env={**clean, **env},
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    if "no OpenBLAS" in got.stderr:
        pytest.skip("numpy here is not built on OpenBLAS")
    return int(got.stderr.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="reads /proc/self/maps; one core has one thread anyway")
def test_attn_runs_blas_on_one_thread_and_on_as_many_as_the_user_asks() -> None:
    assert blas_threads() == 1  # numpy's default would be one per core
    assert blas_threads(OPENBLAS_NUM_THREADS="2") == 2
    assert blas_threads(OMP_NUM_THREADS="2") == 2  # OpenBLAS reads it too
