"""attncli's speed, measured as whole processes, each beside its baseline in the same run.

    python bench/bench.py [--runs 7] [--model-dir DIR] [--ref-python PYTHON] [--big-dir DIR]
                          [--before PYTHON] [--only PART] [--out FILE]

Every figure is the median wall time of --runs runs (at least 5) of a whole process, the
commands of one comparison interleaved run by run so that the machine's noise falls on both
alike. Peak memory is the child's maximum resident set size (from wait4). Printed as Markdown.
`attn` is the script beside the Python that runs this file (else `python -m attncli`), never
whichever `attn` comes first on PATH (a version manager's shim would be timed too).

With --before PYTHON (a Python with an earlier attncli installed, e.g. a venv made from an
older commit), every attn command also runs with that Python's attn, interleaved with the
current one run by run, and each table gets a "before" column and the speed-up: before and
after from the same run, under the same noise.

- Start-up: `attn --help`, `attn explain … --json` and the terminal view, against
  `python -c "import numpy"`, and against the same with OPENBLAS_NUM_THREADS=1 (as attn runs
  BLAS), whose import starts no BLAS threads and so depends less on the machine's load.
- `--json` of large outputs (issue 15): seeded 2,048 tokens, and with --model-dir MiniLM's
  512 tokens × 12 heads, against `python -c "import numpy"`.
- Large inputs, seeded mode: 32 to 8,192 tokens in the terminal view, with --heatmap and
  with --json, and the exponent of each one's growth in time and memory.
- Model mode (needs --model-dir, an all-MiniLM-L6-v2 directory): `attn explain … --model`
  against bench/reference_transformers.py run by --ref-python (a Python with torch and
  transformers), on the same text; and 512 tokens, all heads of the last layer.
- The explorer (needs --model-dir): `attn explore … --model` started in a pseudo-terminal of
  80×24, timed from the process's start to its first frame (the status line drawn, which the
  frame writes last), then sent q; against `python -c "import numpy"`.
- The same, its weights' file out of the page cache before every run (`--only cold`, needs
  --big-dir: a copy of your own, as every process using the file then reads it again).
- `attn heads --effect` on the 0.5 B model (`--only effect`, needs --big-dir): every head
  knocked out alone, 12 tokens, with its peak memory.
- Instructions (`--only instructions`, needs --model-dir and --before, and valgrind): two of
  the model mode's attn commands (one head `--json`, and 512 tokens in the terminal view),
  each run once under callgrind, before and after (about ten minutes). The count of
  instructions a process executes hardly moves with the machine's load, so a change of a
  percent or two shows here when the medians' noise hides it.
- While the other core is busy (`--only busy`, needs --model-dir; --big-dir adds the 0.5 B
  model): each `--model` run quiet, and again while `python -c "while True: pass"` spins
  (one such loop per core but one), quiet and busy runs interleaved; the ratio busy ÷ quiet,
  and each one's CPU time (user + system), where threads spinning for work show up.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import pty
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SENTENCE = "The animal didn't cross the street because it was tired"
WORDS = ("the animal was tired because it walked across the long street in the cold rain "
         "and then it slept near the river bank").split()


BEFORE: str | None = None  # --before: a Python whose attncli is the version to compare with
# every command runs in an empty folder: `python -m attncli` in a source tree would import that
# tree's attncli instead of the installed one
NEUTRAL = tempfile.mkdtemp(prefix="attn-bench-")
BEFORE_TAG = "@before"  # a case named NAME@before is NAME run by BEFORE's attn


def attn(python: str | None = None) -> list[str]:
    """The attn of python (default: the Python running this file): the script beside it, so a
    venv's own attn, or else `python -m attncli`."""
    python = python or sys.executable
    script = Path(python).parent / "attn"
    return [str(script)] if script.is_file() else [python, "-m", "attncli"]


def with_before(cases: dict[str, tuple[list[str], str | None]]
                ) -> dict[str, tuple[list[str], str | None]]:
    """cases, and with --before each attn case again as NAME@before, run by BEFORE's attn,
    right after it: the two then meet the same conditions (side_by_side alternates the order)."""
    if BEFORE is None:
        return cases
    now, then = attn(), attn(BEFORE)
    out = {}
    for name, (cmd, stdin) in cases.items():
        out[name] = (cmd, stdin)
        if cmd[:len(now)] == now:
            out[name + BEFORE_TAG] = (then + cmd[len(now):], stdin)
    return out


def timed(got: dict[str, tuple[float, float, float]], name: str, memory: bool = False,
          cpu: bool = False) -> str:
    """A case's median (and peak memory, or median CPU time), preceded by its --before median
    when there is one: "0.250 s → 0.125 s (2.00× faster)"."""

    def one(wall: float, peak: float, seconds: float) -> str:
        return (f"{wall:.3f} s" + (f" ({peak:.0f} MiB)" if memory else "")
                + (f" (CPU {seconds:.2f} s)" if cpu else ""))

    now = one(*got[name])
    if name + BEFORE_TAG not in got:
        return now
    then = got[name + BEFORE_TAG]
    return f"{one(*then)} → {now} ({then[0] / got[name][0]:.2f}× faster)"


def ratio(got: dict[str, tuple[float, float, float]], name: str, base: str) -> str:
    """got[name] ÷ got[base], preceded by the --before ratio when there is one."""
    now = f"{got[name][0] / got[base][0]:.2f}×"
    if name + BEFORE_TAG not in got:
        return now
    before = base + BEFORE_TAG if base + BEFORE_TAG in got else base
    return f"{got[name + BEFORE_TAG][0] / got[before][0]:.2f}× → {now}"


def faster(got: dict[str, tuple[float, float, float]], name: str, base: str) -> str:
    """How many times faster than base (a baseline) name is, with the --before figure."""
    now = f"{got[base][0] / got[name][0]:.1f}×"
    if name + BEFORE_TAG not in got:
        return now
    return f"{got[base][0] / got[name + BEFORE_TAG][0]:.1f}× → {now}"


def run_once(cmd: list[str], stdin: str | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one whole process, its
    output thrown away."""
    env = {**os.environ, "COLUMNS": "100", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty child never blocks
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=NEUTRAL)
        if stdin:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        errors.seek(0)
        err = errors.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def first_frame(cmd: list[str], marker: str, size: tuple[int, int] = (80, 24),
                timeout: float = 60.0) -> tuple[float, float, float]:
    """Seconds from the start of a full-screen program in a pseudo-terminal of size (columns,
    rows) until its output holds marker (its first frame is drawn), its peak RSS (MiB) and
    its CPU seconds to the end.
    Then it gets q, and must quit with exit code 0."""
    columns, rows = size
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    start = time.perf_counter()
    # its own session: our terminal untouched
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, cwd=NEUTRAL)
    os.close(slave)
    seen, drawn, wanted = b"", None, marker.encode()
    try:
        while True:  # read to the end, so the child never blocks on a full pty
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            seen = (seen + data)[-65536:]  # enough for the marker, or for an error's lines
            if drawn is None and wanted in seen:
                drawn = time.perf_counter() - start
                os.write(master, b"q")
    finally:
        os.close(master)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if drawn is None or proc.returncode != 0:
        screen = re.sub(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[=>])", "",
                        seen.decode(errors="replace"))[-2000:]
        why = "no first frame" if drawn is None else f"failed ({proc.returncode})"
        raise SystemExit(f"{why}: {' '.join(cmd)}\n{screen}")
    return drawn, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


class Spinning:
    """While open: one `python -c "while True: pass"` per core but one, so the command timed
    has one core to itself at most and its own threads must share it (a loaded machine)."""

    def __enter__(self) -> Spinning:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(max(1, (os.cpu_count() or 2) - 1))]
        time.sleep(0.2)  # spinning before the command starts
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def side_by_side(cases: dict[str, tuple[list[str], str | None]], runs: int,
                 frames: dict[str, str] | None = None, busy: set[str] | None = None,
                 before_each: Callable[[], None] | None = None
                 ) -> dict[str, tuple[float, float, float]]:
    """Median wall time, peak memory and median CPU time of each case, the cases interleaved
    run by run.
    A case named in frames is timed to its first frame instead: frames[name] is the marker.
    A case named in busy runs while the other cores spin (Spinning).
    before_each, if given, is called before every run, outside the time."""
    frames, busy = frames or {}, busy or set()

    def once(name: str, cmd: list[str], stdin: str | None) -> tuple[float, float, float]:
        if before_each is not None:
            before_each()
        if name in busy:
            with Spinning():
                return run_once(cmd, stdin)
        return first_frame(cmd, frames[name]) if name in frames else run_once(cmd, stdin)

    for name, (cmd, stdin) in cases.items():  # warm the file cache once
        if name not in busy:
            once(name, cmd, stdin)
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    peaks: dict[str, float] = dict.fromkeys(cases, 0.0)
    for run in range(runs):
        # every other run backwards: no case always follows the same one (a heavy baseline
        # leaves the caches cold for whatever comes next)
        order = list(cases.items()) if run % 2 == 0 else list(cases.items())[::-1]
        for name, (cmd, stdin) in order:
            wall, peak, cpu = once(name, cmd, stdin)
            walls[name].append(wall)
            cpus[name].append(cpu)
            peaks[name] = max(peaks[name], peak)
    return {name: (statistics.median(walls[name]), peaks[name], statistics.median(cpus[name]))
            for name in cases}


def words(n: int) -> str:
    """A text of n word-level tokens."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


def startup(runs: int) -> list[str]:
    base = [sys.executable, "-c", "import numpy"]
    # the same with BLAS on one thread, as attn runs it: numpy's import then starts no worker
    # threads, whose start costs the plain baseline more on a loaded machine than on a quiet one
    one = [sys.executable, "-c", "import os; os.environ['OPENBLAS_NUM_THREADS'] = '1'; "
                                 "import numpy"]
    cases = with_before({
        "baseline": (base, None),
        "baseline1": (one, None),
        "help": (attn() + ["--help"], None),
        "json": (attn() + ["explain", "The animal was tired", "--json"], None),
        "text": (attn() + ["explain", "The animal was tired"], None),
    })
    got = side_by_side(cases, runs)
    rows = [
        ("`python -c \"import numpy\"` (baseline)", "baseline", "—"),
        ("the same with `OPENBLAS_NUM_THREADS=1` (second baseline)", "baseline1", "—"),
        ("`attn --help`", "help", "≤ 1.5×"),
        ("`attn explain \"The animal was tired\" --json`", "json", "≤ 1.6×"),
        ("`attn explain \"The animal was tired\"`", "text", "≤ 1.9×"),
    ]
    out = ["### Start-up", "",
           "| command | median | × baseline | × second baseline | target (× baseline) |",
           "|---|---|---|---|---|"]
    out += [f"| {label} | {timed(got, key)} | {ratio(got, key, 'baseline')} "
            f"| {ratio(got, key, 'baseline1')} | {target} |" for label, key, target in rows]
    return out


GROWTH = (32, 128, 512, 2048, 4096, 8192)
VIEWS = {"text": ("terminal", []), "heatmap": ("terminal, --heatmap", ["--heatmap"]),
         "json": ("--json", ["--json"])}


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of log y against log x: the exponent k of y ∝ x^k."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True))
            / sum((a - mx) ** 2 for a in lx))


def large(runs: int) -> list[str]:
    """Seeded mode from 32 to 8,192 tokens in each view, and how time and memory grow: the
    exponent fitted from 512 tokens up, where the work, not start-up, sets the time."""
    out = ["### Large inputs, seeded mode (d_model 8, one head)", "",
           "| tokens | " + " | ".join(label for label, _ in VIEWS.values()) + " |",
           "|---|---|---|---|"]
    medians: dict[str, dict[int, tuple[float, float, float]]] = {view: {} for view in VIEWS}
    for n in GROWTH:
        cases = {view: (attn() + ["explain", "-", "--max-tokens", "8192", *flags], words(n))
                 for view, (_, flags) in VIEWS.items()}
        got = side_by_side(with_before(cases), runs if n <= 512 else max(3, runs // 2))
        out.append(f"| {n:,} | " + " | ".join(timed(got, view, memory=True) for view in VIEWS)
                   + " |")
        for view in VIEWS:
            medians[view][n] = got[view]
    fit = [n for n in GROWTH if n >= 512]
    out += ["", "Fitted from 512 to 8,192 tokens (time ∝ n^k, peak memory ∝ n^k): "
            + "; ".join(f"{label} time k = {slope(fit, [medians[v][n][0] for n in fit]):.2f}, "
                        f"memory k = {slope(fit, [medians[v][n][1] for n in fit]):.2f}"
                        for v, (label, _) in VIEWS.items()) + "."]
    return out


def json_speed(runs: int, model_dir: str | None) -> list[str]:
    """Issue 15's two --json targets, beside `import numpy` (and --before's attn, if given)."""
    text, long_text = words(2048), words(510)  # 510 words: 512 tokens with [CLS] and [SEP]
    cases = {"baseline": ([sys.executable, "-c", "import numpy"], None),
             "seeded": (attn() + ["explain", "-", "--json"], text)}
    if model_dir:
        cases["minilm"] = (attn() + ["explain", "-", "--model", model_dir, "--layer", "last",
                                     "--head", "all", "--json"], long_text)
    load = os.getloadavg()[0]
    got = side_by_side(with_before(cases), runs)
    out = ["### `--json` of large outputs (issue 15)", "",
           f"Load average {load:.1f} before the part, {os.getloadavg()[0]:.1f} after it.", "",
           "| command | median (peak memory) | CPU | × baseline | target |",
           "|---|---|---|---|---|",
           f"| `python -c \"import numpy\"` (baseline) | {timed(got, 'baseline')} "
           f"| {got['baseline'][2]:.3f} s | 1.00× | — |"]
    for key, label in (("seeded", "seeded, 2,048 tokens, `attn explain - --json`"),
                       ("minilm", "MiniLM, 512 tokens, all 12 heads of the last layer, "
                                  "`--json`")):
        if key in got:
            out.append(f"| {label} | {timed(got, key, memory=True)} | {got[key][2]:.3f} s "
                       f"| {ratio(got, key, 'baseline')} | < 0.8 s |")
    if not model_dir:
        out += ["", "(MiniLM skipped: pass --model-dir)"]
    return out


def model(runs: int, model_dir: str, ref_python: str | None) -> list[str]:
    out = ["### Model mode (all-MiniLM-L6-v2)", ""]
    job = ["explain", SENTENCE, "--model", model_dir, "--layer", "5", "--head", "11", "--json"]
    cases = {"attn": (attn() + job, None)}
    if ref_python:
        ref = [ref_python, str(HERE / "reference_transformers.py"), model_dir, SENTENCE,
               "--layer", "5", "--head", "11"]
        cases["transformers"] = (ref, None)
    long_text = words(510)  # 512 with [CLS] and [SEP]
    every_head = ["explain", "-", "--model", model_dir, "--layer", "last", "--head", "all"]
    cases["attn512"] = (attn() + every_head, long_text)
    cases["attn512json"] = (attn() + every_head + ["--json"], long_text)
    got = side_by_side(with_before(cases), runs)
    out += ["| command | median (peak memory) |", "|---|---|",
            f"| `attn explain … --model … --layer 5 --head 11 --json` "
            f"| {timed(got, 'attn', memory=True)} |"]
    if "transformers" in got:
        out.append("| transformers script, same job (baseline) "
                   f"| {timed(got, 'transformers', memory=True)} |")
    out.append("| 512 tokens, all 12 heads of layer 5, terminal view "
               f"| {timed(got, 'attn512', memory=True)} |")
    out.append("| 512 tokens, all 12 heads of layer 5, `--json` "
               f"| {timed(got, 'attn512json', memory=True)} |")
    if "transformers" in got:
        out += ["", f"attncli is {faster(got, 'attn', 'transformers')} faster than the "
                "transformers script end to end (target ≥ 15×)."]
    return out


def big(runs: int, big_dir: str, ref_python: str | None) -> list[str]:
    """A Qwen2.5-0.5B-shaped checkpoint (bench/make_big_model.py): the last layer's head 0."""
    out = ["### A 0.5 B llama-shaped model (Qwen2.5-0.5B's shape, random bf16 weights)", ""]
    job = ["explain", SENTENCE, "--model", big_dir, "--json"]
    cases = {"attn": (attn() + job, None)}
    if ref_python:
        cases["transformers"] = ([ref_python, str(HERE / "reference_transformers.py"), big_dir,
                                  SENTENCE, "--layer", "-1", "--head", "0"], None)
    load = os.getloadavg()[0]
    got = side_by_side(with_before(cases), runs)
    out += [f"Load average {load:.1f} before the part, {os.getloadavg()[0]:.1f} after it.", "",
            "| command | median (peak memory) (CPU) |", "|---|---|",
            "| `attn explain … --model <0.5B> --json` (last layer, head 0) | "
            f"{timed(got, 'attn', memory=True, cpu=True)} |"]
    if "transformers" in got:
        out += ["| transformers script, same job (baseline) "
                f"| {timed(got, 'transformers', memory=True, cpu=True)} |", "",
                f"attncli is {faster(got, 'attn', 'transformers')} faster than the "
                "transformers script end to end (target ≥ 6×, and < 0.7 s)."]
    return out


def evict(directory: str) -> None:
    """directory's safetensors files out of the page cache (posix_fadvise DONTNEED drops
    the pages no process maps), so that the next run reads them from disk."""
    for path in Path(directory).glob("*.safetensors"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cold(runs: int, big_dir: str, ref_python: str | None) -> list[str]:
    """big's job with the weights' file out of the page cache before every run (the first
    run after a download or a reboot). Every process using the file then reads it again:
    give a copy of the model of your own as --big-dir."""
    job = ["explain", SENTENCE, "--model", big_dir, "--json"]
    cases = {"attn": (attn() + job, None)}
    if ref_python:
        cases["transformers"] = ([ref_python, str(HERE / "reference_transformers.py"), big_dir,
                                  SENTENCE, "--layer", "-1", "--head", "0"], None)
    load = os.getloadavg()[0]
    got = side_by_side(with_before(cases), runs, before_each=lambda: evict(big_dir))
    out = ["### The 0.5 B model, its weights not yet cached (evicted before every run)", "",
           f"Load average {load:.1f} before the part, {os.getloadavg()[0]:.1f} after it.", "",
           "| command | median (peak memory) | CPU |", "|---|---|---|",
           f"| `attn explain … --model <0.5B> --json`, not cached | "
           f"{timed(got, 'attn', memory=True)} | {got['attn'][2]:.2f} s |"]
    if "transformers" in got:
        out += [f"| transformers script, same job, not cached (baseline) "
                f"| {timed(got, 'transformers', memory=True)} | {got['transformers'][2]:.2f} s |",
                "", f"attncli is {faster(got, 'attn', 'transformers')} faster than the "
                "transformers script end to end, from a cold file."]
    return out


EFFECT_TEXT = "The animal didn't cross the street because"  # 12 tokens on the 0.5 B model


def effect(runs: int, big_dir: str) -> list[str]:
    """`attn heads --effect` on the 0.5 B model: every one of its 336 heads knocked out alone,
    the residual stream re-used (issue 24: under 60 s on 2 cores, under 1.5 GB)."""
    job = ["heads", EFFECT_TEXT, "--model", big_dir, "--effect", "--json"]
    got = side_by_side(with_before({"attn": (attn() + job, None)}), runs)
    return ["### `attn heads --effect` on the 0.5 B model (24 layers × 14 heads, 12 tokens)", "",
            "| command | median (peak memory) | target |", "|---|---|---|",
            f"| `attn heads \"{EFFECT_TEXT}\" --model <0.5B> --effect --json` "
            f"| {timed(got, 'attn', memory=True)} | < 60 s, < 1.5 GB |"]
GENERATED = 100  # tokens the generate part makes: steps 1-10 against 90-100


def generate_speed(runs: int, big_dir: str, ref_python: str | None) -> list[str]:
    """Greedy generation on the 0.5 B model: per-token time at steps 1-10 (the prefill, step
    1, left out) against 90-100, and tokens per second over steps 2-100, attn's cache (its
    Decoder alone, and `attn generate`'s Generator with the heads shown) against
    transformers' generate with its cache, float32, eager, one thread each, run by run
    interleaved (bench/generate_speed.py)."""
    sides = ["attn-decoder", "attn"] + (["transformers"] if ref_python else [])
    got: dict[str, list[list[float]]] = {side: [] for side in sides}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    for _ in range(runs):
        for side in sides:
            python = ref_python if side == "transformers" else sys.executable
            assert python is not None
            done = subprocess.run([python, str(HERE / "generate_speed.py"), side, big_dir,
                                   SENTENCE, str(GENERATED)], capture_output=True, text=True,
                                  env=env, check=True)
            got[side].append(json.loads(done.stdout.splitlines()[-1])["steps"])
    out = ["### Generating 100 tokens on the 0.5 B model (greedy, float32, one thread)", "",
           "| side | ms a token, steps 2-10 | ms a token, steps 90-100 | tokens/s, steps 2-100 |",
           "|---|---|---|---|"]
    for side in sides:
        early = statistics.median(statistics.median(s[1:10]) for s in got[side])
        late = statistics.median(statistics.median(s[89:100]) for s in got[side])
        rate = statistics.median(99 / sum(s[1:]) for s in got[side])
        out.append(f"| {side} | {1000 * early:.0f} | {1000 * late:.0f} | {rate:.2f} |")
    return out


def counted(cmd: list[str], stdin: str | None) -> int:
    """The instructions one whole process executes, counted by valgrind's callgrind."""
    env = {**os.environ, "COLUMNS": "100", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *cmd], input=stdin.encode() if stdin else None,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=NEUTRAL)
    found = re.search(rb"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"failed under valgrind ({proc.returncode}): {' '.join(cmd)}")
    return int(found.group(1))


def instructions(model_dir: str | None) -> list[str]:
    """Two of the model mode's attn commands, before and after, each counted once."""
    out = ["### Instructions executed (callgrind), model mode", ""]
    if not model_dir or BEFORE is None or not shutil.which("valgrind"):
        return out + ["(skipped: needs --model-dir, --before and valgrind on PATH)"]
    long_text = words(510)
    every_head = ["explain", "-", "--model", model_dir, "--layer", "last", "--head", "all"]
    cases = {
        "`--layer 5 --head 11 --json`": (["explain", SENTENCE, "--model", model_dir, "--layer",
                                           "5", "--head", "11", "--json"], None),
        "512 tokens, all 12 heads, terminal view": (every_head, long_text),
    }
    out += ["| command | before → after (millions) | after ÷ before |", "|---|---|---|"]
    for label, (job, stdin) in cases.items():
        then, now = counted(attn(BEFORE) + job, stdin), counted(attn() + job, stdin)
        out.append(f"| {label} | {then / 1e6:,.1f} → {now / 1e6:,.1f} | {now / then:.3f} |")
    return out


def busy(runs: int, model_dir: str, big_dir: str | None) -> list[str]:
    """Each --model run quiet and while the other cores spin, interleaved run by run."""
    jobs = {"minilm": ["explain", SENTENCE, "--model", model_dir, "--layer", "5", "--head",
                       "11", "--json"],
            "minilm512": ["explain", "-", "--model", model_dir, "--layer", "last", "--head",
                          "all"]}
    if big_dir:
        jobs["big"] = ["explain", SENTENCE, "--model", big_dir, "--json"]
    texts = {"minilm512": words(510)}
    labels = {"minilm": "MiniLM `--layer 5 --head 11 --json`",
              "minilm512": "MiniLM, 512 tokens, all 12 heads of the last layer, terminal",
              "big": "the 0.5 B model, last layer, head 0, `--json`"}
    cases = {}
    for name, job in jobs.items():
        cases[name] = (attn() + job, texts.get(name))
        cases[name + ":busy"] = (attn() + job, texts.get(name))
    cases = with_before(cases)
    got = side_by_side(cases, runs, busy={name for name in cases if ":busy" in name})
    out = [f"### While the other core is busy ({max(1, (os.cpu_count() or 2) - 1)} × "
           "`python -c \"while True: pass\"`)", "",
           "| command | quiet | other core busy | busy ÷ quiet | target |",
           "|---|---|---|---|---|"]
    for name in jobs:
        out.append(f"| {labels[name]} | {timed(got, name, cpu=True)} "
                   f"| {timed(got, name + ':busy', cpu=True)} "
                   f"| {ratio(got, name + ':busy', name)} | ≤ 1.5× |")
    return out


def explore(runs: int, model_dir: str) -> list[str]:
    """The explorer's first frame: the issue asks for it within 1 s for all-MiniLM-L6-v2."""
    base = [sys.executable, "-c", "import numpy"]
    # python -m attncli, as a user's `attn` runs it, without a version manager's shim in front
    job = ["-m", "attncli", "explore", SENTENCE, "--model", model_dir]
    cases = {"baseline": (base, None), "explore": ([sys.executable, *job], None)}
    frames = {"explore": "? keys"}
    if BEFORE:
        cases["explore" + BEFORE_TAG] = ([BEFORE, *job], None)
        frames["explore" + BEFORE_TAG] = "? keys"
    got = side_by_side(cases, runs, frames=frames)
    return ["### attn explore first frame, MiniLM", "",
            "Timed in a pseudo-terminal of 80×24 (TERM=xterm-256color) from the process's "
            "start until the status line is drawn; then q, exit code 0.", "",
            "| command | median (peak memory) | × baseline | target |", "|---|---|---|---|",
            f"| `python -c \"import numpy\"` (baseline) | {timed(got, 'baseline', memory=True)} "
            "| 1.00× | — |",
            f"| `python -m attncli explore \"{SENTENCE}\" --model …`, first frame "
            f"| {timed(got, 'explore', memory=True)} | {ratio(got, 'explore', 'baseline')} "
            "| < 1 s |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (at least 5)")
    parser.add_argument("--model-dir",
                        help="an all-MiniLM-L6-v2 directory, for model mode and the explorer")
    parser.add_argument("--ref-python", help="a Python with torch and transformers")
    parser.add_argument("--big-dir", help="a Qwen2.5-0.5B-shaped checkpoint from "
                                          "bench/make_big_model.py")
    parser.add_argument("--before", help="a Python with an earlier attncli installed: its attn "
                                         "runs beside this one's, for before/after figures")
    parser.add_argument("--only", choices=("startup", "large", "json", "model", "explore", "big",
                                           "busy", "effect", "generate", "cold",
                                           "instructions"),
                        action="append", help="only this part (may be repeated)")
    parser.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = parser.parse_args()
    global BEFORE
    BEFORE = args.before
    # the commands run in an empty folder (NEUTRAL): paths given relative become absolute
    for name in ("model_dir", "big_dir"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    runs = max(5, args.runs)
    parts = args.only or ["startup", "large", "json", "model", "explore", "big", "busy"]
    lines = [f"Medians of {runs} runs; {os.cpu_count()} cores; Python "
             f"{sys.version.split()[0]}; {time.strftime('%Y-%m-%d')}."
             + (f" Before → after: {BEFORE}'s attn, then this one's, in the same run."
                if BEFORE else ""), ""]
    if "startup" in parts:
        lines += startup(runs) + [""]
    if "large" in parts:
        lines += large(runs) + [""]
    if "json" in parts:
        lines += json_speed(runs, args.model_dir) + [""]
    if "model" in parts:
        if args.model_dir:
            lines += model(runs, args.model_dir, args.ref_python) + [""]
        else:
            lines += ["(model mode skipped: pass --model-dir)", ""]
    if "explore" in parts:
        if args.model_dir:
            lines += explore(runs, args.model_dir) + [""]
        else:
            lines += ["(attn explore first frame skipped: pass --model-dir)", ""]
    if "big" in parts:
        if args.big_dir:
            lines += big(runs, args.big_dir, args.ref_python) + [""]
        else:
            lines += ["(0.5 B model skipped: pass --big-dir, made by bench/make_big_model.py)",
                      ""]
    if "cold" in parts and args.big_dir:  # only when asked: it empties the file's cache
        lines += cold(runs, args.big_dir, args.ref_python) + [""]
    if "effect" in parts:
        if args.big_dir:
            lines += effect(runs, args.big_dir) + [""]
        else:
            lines += ["(heads --effect skipped: pass --big-dir)", ""]
    if "generate" in parts and args.big_dir:
        lines += generate_speed(min(runs, 3), args.big_dir, args.ref_python) + [""]
    if "instructions" in parts:
        lines += instructions(args.model_dir) + [""]
    if "busy" in parts:
        if args.model_dir:
            lines += busy(runs, args.model_dir, args.big_dir) + [""]
        else:
            lines += ["(the busy-core comparison skipped: pass --model-dir)", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:  # whole or not at all
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
