"""attncli's speed, measured as whole processes, each beside its baseline in the same run.

    python bench/bench.py [--runs 7] [--model-dir DIR] [--ref-python PYTHON] [--only PART]
                          [--baseline-rev REV] [--out FILE]

Every figure is the median wall time of --runs runs (at least 5) of a whole process, the
commands of one comparison interleaved run by run so that the machine's noise falls on both
alike. Peak memory is the child's maximum resident set size (from wait4). Printed as Markdown.

- Start-up: `attn --help`, `attn explain … --json` and the terminal view, against
  `python -c "import numpy"`.
- Large inputs, seeded mode: 32, 128, 512 and 2,048 tokens, terminal view and --json.
- Model mode (needs --model-dir, an all-MiniLM-L6-v2 directory): `attn explain … --model`
  against bench/reference_transformers.py run by --ref-python (a Python with torch and
  transformers), on the same text; and 512 tokens, all heads of the last layer.
- JSON (issue 15's targets): `--json` of seeded text at 2,048 tokens and, with --model-dir,
  of MiniLM at 512 tokens × the 12 heads of the last layer, against `python -c "import
  numpy"` and, with --baseline-rev REV, against the same commands run by attncli as it was at
  REV (its package extracted from git into a temporary directory, run with this Python).
- The explorer (needs --model-dir): `attn explore … --model` started in a pseudo-terminal of
  80×24, timed from the process's start to its first frame (the status line drawn, which the
  frame writes last), then sent q; against `python -c "import numpy"`.
"""

from __future__ import annotations

import argparse
import fcntl
import io
import os
import pty
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import termios
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SENTENCE = "The animal didn't cross the street because it was tired"
WORDS = ("the animal was tired because it walked across the long street in the cold rain "
         "and then it slept near the river bank").split()


def attn() -> list[str]:
    found = shutil.which("attn")
    return [found] if found else [sys.executable, "-m", "attncli"]


def run_once(cmd: list[str], stdin: str | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system, every thread) of one whole
    process, its output thrown away."""
    env = {**os.environ, "COLUMNS": "100", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty child never blocks
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errors, env=env)
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
    its CPU seconds (to the end, after q).
    Then it gets q, and must quit with exit code 0."""
    columns, rows = size
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)  # its own session: our terminal untouched
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


def side_by_side(cases: dict[str, tuple[list[str], str | None]], runs: int,
                 frames: dict[str, str] | None = None, cpu: dict[str, float] | None = None
                 ) -> dict[str, tuple[float, float]]:
    """Median wall time and peak memory of each case, the cases interleaved run by run.
    A case named in frames is timed to its first frame instead: frames[name] is the marker.
    A dict given as cpu gets each case's median CPU seconds."""
    frames = frames or {}

    def once(name: str, cmd: list[str], stdin: str | None) -> tuple[float, float, float]:
        return first_frame(cmd, frames[name]) if name in frames else run_once(cmd, stdin)

    for name, (cmd, stdin) in cases.items():  # warm the file cache once
        once(name, cmd, stdin)
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    peaks: dict[str, float] = dict.fromkeys(cases, 0.0)
    for _ in range(runs):
        for name, (cmd, stdin) in cases.items():
            wall, peak, used = once(name, cmd, stdin)
            walls[name].append(wall)
            cpus[name].append(used)
            peaks[name] = max(peaks[name], peak)
    if cpu is not None:
        cpu.update((name, statistics.median(cpus[name])) for name in cases)
    return {name: (statistics.median(walls[name]), peaks[name]) for name in cases}


def words(n: int) -> str:
    """A text of n word-level tokens."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


def startup(runs: int) -> list[str]:
    base = [sys.executable, "-c", "import numpy"]
    cases = {
        "baseline": (base, None),
        "help": (attn() + ["--help"], None),
        "json": (attn() + ["explain", "The animal was tired", "--json"], None),
        "text": (attn() + ["explain", "The animal was tired"], None),
    }
    got = side_by_side(cases, runs)
    b = got["baseline"][0]
    rows = [
        ("`python -c \"import numpy\"` (baseline)", "baseline", "—"),
        ("`attn --help`", "help", "≤ 1.5×"),
        ("`attn explain \"The animal was tired\" --json`", "json", "≤ 2×"),
        ("`attn explain \"The animal was tired\"`", "text", "≤ 2.5×"),
    ]
    out = ["### Start-up", "", "| command | median | × baseline | target |", "|---|---|---|---|"]
    out += [f"| {label} | {got[key][0]:.3f} s | {got[key][0] / b:.2f}× | {target} |"
            for label, key, target in rows]
    return out


def large(runs: int) -> list[str]:
    out = ["### Large inputs, seeded mode (d_model 8, one head)", "",
           "| tokens | view | median | peak memory |", "|---|---|---|---|"]
    for n in (32, 128, 512, 2048):
        text = words(n)
        cases = {"json": (attn() + ["explain", "-", "--json"], text)}
        if n <= 512:
            cases["text"] = (attn() + ["explain", "-"], text)
            cases["heatmap"] = (attn() + ["explain", "-", "--heatmap"], text)
        got = side_by_side(cases, runs if n <= 512 else max(3, runs // 2))
        for view in ("text", "heatmap", "json"):
            if view in got:
                label = {"text": "terminal", "heatmap": "terminal, --heatmap",
                         "json": "--json"}[view]
                out.append(f"| {n} | {label} | {got[view][0]:.3f} s | {got[view][1]:.0f} MiB |")
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
    got = side_by_side(cases, runs)
    out += ["| command | median | peak memory |", "|---|---|---|",
            f"| `attn explain … --model … --layer 5 --head 11 --json` | {got['attn'][0]:.3f} s "
            f"| {got['attn'][1]:.0f} MiB |"]
    if "transformers" in got:
        out.append(f"| transformers script, same job (baseline) | {got['transformers'][0]:.3f} s "
                   f"| {got['transformers'][1]:.0f} MiB |")
    out.append(f"| 512 tokens, all 12 heads of layer 5, terminal view | {got['attn512'][0]:.3f} s "
               f"| {got['attn512'][1]:.0f} MiB |")
    out.append(f"| 512 tokens, all 12 heads of layer 5, `--json` | "
               f"{got['attn512json'][0]:.3f} s | {got['attn512json'][1]:.0f} MiB |")
    if "transformers" in got:
        out += ["", f"attncli is {got['transformers'][0] / got['attn'][0]:.1f}× faster than the "
                "transformers script end to end (target ≥ 8×)."]
    return out


def big(runs: int, big_dir: str, ref_python: str | None) -> list[str]:
    """A Qwen2.5-0.5B-shaped checkpoint (bench/make_big_model.py): the last layer's head 0."""
    out = ["### A 0.5 B llama-shaped model (Qwen2.5-0.5B's shape, random bf16 weights)", ""]
    job = ["explain", SENTENCE, "--model", big_dir, "--json"]
    cases = {"attn": (attn() + job, None)}
    if ref_python:
        cases["transformers"] = ([ref_python, str(HERE / "reference_transformers.py"), big_dir,
                                  SENTENCE, "--layer", "-1", "--head", "0"], None)
    got = side_by_side(cases, runs)
    out += ["| command | median | peak memory |", "|---|---|---|",
            f"| `attn explain … --model <0.5B> --json` (last layer, head 0) | "
            f"{got['attn'][0]:.3f} s | {got['attn'][1]:.0f} MiB |"]
    if "transformers" in got:
        out += [f"| transformers script, same job (baseline) | {got['transformers'][0]:.3f} s "
                f"| {got['transformers'][1]:.0f} MiB |", "",
                f"attncli is {got['transformers'][0] / got['attn'][0]:.1f}× faster than the "
                "transformers script end to end."]
    return out


def at_revision(rev: str, into: Path) -> list[str]:
    """attncli's CLI as it was at git revision rev: its package extracted into a directory
    that goes first on sys.path, before the current directory and the installed attncli
    (`python -m attncli` with PYTHONPATH, run from a checkout, would import the checkout)."""
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev, "attncli"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)
    start = (f"import sys; sys.path.insert(0, {str(into)!r}); import attncli.cli; "
             f"assert attncli.cli.__file__.startswith({str(into)!r}); attncli.cli.main()")
    return [sys.executable, "-c", start]


def json_speed(runs: int, model_dir: str | None, baseline_rev: str | None) -> list[str]:
    """Issue 15's JSON targets, each beside `import numpy` and the writer at baseline_rev."""
    text, long_text = words(2048), words(510)  # 510 words: 512 tokens with [CLS] and [SEP]
    every_head = ["explain", "-", "--model", str(model_dir), "--layer", "last", "--head",
                  "all", "--json"]
    with tempfile.TemporaryDirectory() as old_dir:
        old = at_revision(baseline_rev, Path(old_dir)) if baseline_rev else None
        cases = {"baseline": ([sys.executable, "-c", "import numpy"], None),
                 "seeded": (attn() + ["explain", "-", "--json"], text)}
        if old:
            cases["seeded_old"] = (old + ["explain", "-", "--json"], text)
        if model_dir:
            cases["minilm"] = (attn() + every_head, long_text)
            if old:
                cases["minilm_old"] = (old + every_head, long_text)
        load = os.getloadavg()[0]
        cpu: dict[str, float] = {}
        got = side_by_side(cases, runs, cpu=cpu)
    b = got["baseline"][0]
    out = ["### `--json` of large outputs (issue 15)", "",
           f"Load average {load:.1f} before the part, {os.getloadavg()[0]:.1f} after it "
           f"({os.cpu_count()} cores). CPU is the process's user + system time (all threads).",
           "", "| command | median | CPU | peak memory | × baseline | vs attncli at "
           f"{baseline_rev or '(no --baseline-rev)'} | target |",
           "|---|---|---|---|---|---|---|",
           f"| `python -c \"import numpy\"` (baseline) | {b:.3f} s | {cpu['baseline']:.3f} s "
           f"| {got['baseline'][1]:.0f} MiB | 1.00× | — | — |"]
    for key, label in (("seeded", "seeded, 2,048 tokens, `attn explain - --json`"),
                       ("minilm", "MiniLM, 512 tokens, all 12 heads of the last layer, "
                                  "`--json`")):
        if key not in got:
            continue
        (wall, peak), old = got[key], key + "_old"
        versus = (f"{got[old][0] / wall:.1f}× faster (CPU {cpu[old] / cpu[key]:.1f}×)"
                  if old in got else "—")
        out.append(f"| {label} | {wall:.3f} s | {cpu[key]:.3f} s | {peak:.0f} MiB "
                   f"| {wall / b:.2f}× | {versus} | < 0.8 s |")
        if old in got:
            out.append(f"| the same, attncli at {baseline_rev} | {got[old][0]:.3f} s "
                       f"| {cpu[old]:.3f} s | {got[old][1]:.0f} MiB | {got[old][0] / b:.2f}× "
                       "| 1.0× | — |")
    if not model_dir:
        out += ["", "(MiniLM skipped: pass --model-dir)"]
    return out


def explore(runs: int, model_dir: str) -> list[str]:
    """The explorer's first frame: the issue asks for it within 1 s for all-MiniLM-L6-v2."""
    base = [sys.executable, "-c", "import numpy"]
    # python -m attncli, as a user's `attn` runs it, without a version manager's shim in front
    job = [sys.executable, "-m", "attncli", "explore", SENTENCE, "--model", model_dir]
    got = side_by_side({"baseline": (base, None), "explore": (job, None)}, runs,
                       frames={"explore": "? keys"})
    b = got["baseline"][0]
    return ["### attn explore first frame, MiniLM", "",
            "Timed in a pseudo-terminal of 80×24 (TERM=xterm-256color) from the process's "
            "start until the status line is drawn; then q, exit code 0.", "",
            "| command | median | × baseline | peak memory | target |", "|---|---|---|---|---|",
            f"| `python -c \"import numpy\"` (baseline) | {b:.3f} s | 1.00× "
            f"| {got['baseline'][1]:.0f} MiB | — |",
            f"| `python -m attncli explore \"{SENTENCE}\" --model …`, first frame "
            f"| {got['explore'][0]:.3f} s | {got['explore'][0] / b:.2f}× "
            f"| {got['explore'][1]:.0f} MiB | < 1 s |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (at least 5)")
    parser.add_argument("--model-dir",
                        help="an all-MiniLM-L6-v2 directory, for model mode and the explorer")
    parser.add_argument("--ref-python", help="a Python with torch and transformers")
    parser.add_argument("--big-dir", help="a Qwen2.5-0.5B-shaped checkpoint from "
                                          "bench/make_big_model.py")
    parser.add_argument("--baseline-rev", help="a git revision of attncli whose --json the "
                                               "json part also times (e.g. the commit before "
                                               "a change)")
    parser.add_argument("--only", choices=("startup", "large", "json", "model", "explore",
                                           "big"),
                        action="append", help="only this part (may be repeated)")
    parser.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = parser.parse_args()
    runs = max(5, args.runs)
    parts = args.only or ["startup", "large", "json", "model", "explore", "big"]
    lines = [f"Medians of {runs} runs; {os.cpu_count()} cores; Python "
             f"{sys.version.split()[0]}; {time.strftime('%Y-%m-%d')}.", ""]
    if "startup" in parts:
        lines += startup(runs) + [""]
    if "large" in parts:
        lines += large(runs) + [""]
    if "json" in parts:
        lines += json_speed(runs, args.model_dir, args.baseline_rev) + [""]
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
    text = "\n".join(lines)
    print(text)
    if args.out:  # whole or not at all
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
