"""What keeps attn quick, checked as facts rather than timings (bench/bench.py times them):
BLAS runs on one thread unless the user asks for more."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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


# attn's entry point, main(), with its app (the commands) replaced by one that imports numpy
# and asks the OpenBLAS it loaded for its number of threads
BLAS_THREADS = textwrap.dedent("""
    import ctypes, sys
    from attncli.cli import commands

    def app():
        import numpy
        with open("/proc/self/maps") as maps:
            libs = {line.split()[-1] for line in maps if "openblas" in line.lower()}
        for lib in libs:
            for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                         "openblas_get_num_threads"):
                get = getattr(ctypes.CDLL(lib), name, None)
                if get is not None:
                    print(get(), file=sys.stderr)
                    return
        print("no OpenBLAS", file=sys.stderr)

    commands.app = app
    commands.main()
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


# exit_now(CODE) in a process that has an exit handler, unflushed output and a global that
# says so when the interpreter tears it down
EXIT_NOW = textwrap.dedent("""
    import atexit, sys, threading, time
    from attncli.cli.exits import exit_now

    class Loud:
        def __del__(self):
            print("torn down", file=sys.stderr, flush=True)

    keep = Loud()
    atexit.register(lambda: print(" and the exit handler"))
    print("buffered", end="")  # a pipe's buffer holds it until a flush
    if sys.argv[1] == "thread":  # a thread Python waits for at a normal exit
        threading.Thread(target=lambda: (time.sleep(0.3), print("; the thread"))).start()
    exit_now({"3": 3, "None": None, "-1": -1, "text": "a message", "thread": 0}[sys.argv[1]])
""")


def exit_now_process(arg: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", EXIT_NOW, arg], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(("arg", "code"), [("3", 3), ("None", 0), ("-1", 255)])
def test_exit_now_flushes_runs_the_exit_handlers_and_skips_the_teardown(arg: str,
                                                                        code: int) -> None:
    got = exit_now_process(arg)
    assert got.returncode == code
    assert got.stdout == "buffered and the exit handler\n"
    assert got.stderr == ""  # no "torn down": the interpreter was not taken apart


def test_exit_now_exits_as_python_does_for_a_message_or_a_running_thread() -> None:
    got = exit_now_process("text")  # SystemExit("a message"): printed, exit code 1
    assert got.returncode == 1 and "a message" in got.stderr
    assert got.stdout == "buffered and the exit handler\n"
    got = exit_now_process("thread")  # the thread finishes first, as at any exit
    assert got.returncode == 0
    assert got.stdout.startswith("buffered") and "; the thread" in got.stdout
    assert "and the exit handler" in got.stdout


# attn's entry point run on ARGS; at exit, every module it imported, on stderr
MODULES = textwrap.dedent("""
    import atexit, sys
    atexit.register(lambda: print(" ".join(sorted(sys.modules)), file=sys.stderr))
    sys.argv = ["attn", *sys.argv[1:]]
    from attncli.cli import main
    main()
""")


def imported(*args: str) -> set[str]:
    got = subprocess.run([sys.executable, "-c", MODULES, *args], capture_output=True,
                         text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    return set(got.stderr.split())


def already_there(code: str = "pass") -> set[str]:
    """The modules this Python has imported after running CODE, without attn: what the
    interpreter's own start-up (site, .pth files, a sitecustomize) or the libraries bring in is
    not attn's to save."""
    script = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    got = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert got.returncode == 0, got.stderr
    return set(got.stdout.split())


def test_json_imports_nothing_it_does_not_use() -> None:
    # the screen (rich), the weights-file reader, the word lookup and tempfile are for other
    # runs; a model run draws no seeded numbers, and so needs no hashlib (OpenSSL)
    mods = imported("explain", "The animal was tired", "--json")
    assert "attncli.explain" in mods and "numpy.random" in mods  # the modules are listed
    unused = {"rich", "attncli.render", "attncli.render.console", "attncli.weights.files",
              "attncli.lookup", "tempfile"} - already_there()
    if any(m.startswith("__editable__") for m in mods):  # `pip install -e`: its finder
        unused.discard("tempfile")  # imports tempfile itself, before attncli runs
    assert not unused & mods, sorted(unused & mods)
    mods = imported("explain", "The animal was tired", "--model",
                    str(Path(__file__).parent / "fixtures" / "models" / "bert"), "--json")
    assert "attncli.models.bert" in mods
    # numpy 1.21, the floor, imports numpy.random and so hashlib at `import numpy`; later
    # versions load it lazily
    theirs = already_there("import numpy, tokenizers, safetensors")
    assert not ({"hashlib", "_hashlib", "rich"} - theirs) & mods, \
        sorted(({"hashlib", "_hashlib", "rich"} - theirs) & mods)


def test_command_annotations_are_objects_not_strings_for_typer_to_evaluate() -> None:
    # `from __future__ import annotations` would turn them into strings, which typer
    # evaluates again at every start
    from attncli.cli import commands, interactive, weights

    for module in (commands, interactive, weights):
        functions = [f for f in vars(module).values()
                     if callable(f) and getattr(f, "__module__", None) == module.__name__
                     and getattr(f, "__annotations__", None)]
        assert functions, module.__name__
        for function in functions:
            for name, hint in function.__annotations__.items():
                assert not isinstance(hint, str), f"{module.__name__}.{function.__name__}: {name}"


def _bench() -> Any:
    """bench/bench.py as a module (it is a script, not part of the package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "bench" / "bench.py"
    spec = importlib.util.spec_from_file_location("attn_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_runs_each_before_case_beside_its_own_and_alternates_the_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    monkeypatch.setattr(bench, "BEFORE", "/old/bin/python")
    now = bench.attn()
    cases = bench.with_before({"a": ([*now, "explain"], None), "ref": (["python", "x"], None),
                               "b": ([*now, "heads"], "text")})
    assert list(cases) == ["a", "a@before", "ref", "b", "b@before"]
    assert cases["b@before"] == ([*bench.attn("/old/bin/python"), "heads"], "text")
    ran: list[str] = []

    def once(cmd: list[str], stdin: str | None) -> tuple[float, float, float]:
        ran.append(next(name for name, (c, _) in cases.items() if c == cmd))
        return 1.0, 1.0, 1.0

    monkeypatch.setattr(bench, "run_once", once)
    bench.side_by_side(cases, runs=2)
    names = list(cases)
    assert ran == names + names + names[::-1]  # the warm-up, then forwards and backwards
