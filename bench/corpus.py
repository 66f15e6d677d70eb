"""Benchmark `attn heads --corpus`: all-MiniLM-L6-v2 over texts of 10-30 tokens, with 1 and 2
workers, against transformers working out the same per-head statistics (batch 32, eager
attention, output_attentions, as many torch threads as attn has workers). Runs interleaved
(attn 1, attn 2, transformers 1, transformers 2, then again) and prints each run's wall
time and the peak memory of its largest process (a worker, or the main process), with the
load average before and after it, and each command's median.

    python bench/corpus.py --model /path/all-MiniLM-L6-v2 --ref-python /path/venv/bin/python \
        --texts 1000 --rounds 1 [--texts-big 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEASURE = ("import resource, subprocess, sys; "
           "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)")


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak MiB of the largest process, the 1-minute load average before → after)
    of one run."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    seconds = time.perf_counter() - start
    kib, rc = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{cmd[:4]}… failed: {out.stderr[-500:]}")
    return seconds, int(kib) / 1024, f"{load:.1f} → {os.getloadavg()[0]:.1f}"


def texts(model: str, count: int) -> str:
    path = f"/tmp/attncli-bench-texts-{count}.txt"
    if not Path(path).exists():
        with open(path, "w", encoding="utf-8") as f:
            subprocess.run([sys.executable, str(ROOT / "bench" / "corpus_texts.py"), model,
                            str(count)], stdout=f, check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    return path


def count_of(name: str, args: argparse.Namespace) -> int:
    """How many texts the run named name read."""
    return args.texts_big if args.texts_big and name.endswith(f"{args.texts_big} texts") \
        else args.texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--ref-python")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--texts-big", type=int)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    corpus = texts(args.model, args.texts)
    attn = [sys.executable, "-m", "attncli", "heads", "--model", args.model, "--corpus"]
    runs: dict[str, list[tuple[float, float, str]]] = {}
    for _ in range(args.rounds):
        for workers in (1, 2):
            runs.setdefault(f"attn, {workers} worker(s)", []).append(
                timed([*attn, corpus, "--workers", str(workers), "--json"]))
        if args.ref_python:
            for threads in (1, 2):
                runs.setdefault(f"transformers, {threads} thread(s)", []).append(timed(
                    [args.ref_python, str(ROOT / "bench" / "reference_corpus_transformers.py"),
                     args.model, corpus, "--threads", str(threads)]))
    if args.texts_big:
        big = texts(args.model, args.texts_big)
        runs[f"attn, 2 workers, {args.texts_big} texts"] = [
            timed([*attn, big, "--workers", "2", "--json"])]
    print(f"load average before the end: {os.getloadavg()}")
    for name, found in runs.items():
        median = statistics.median(s for s, _, _ in found)
        rate = count_of(name, args) / median
        print(f"{name}: median {median:.1f} s, texts/s {rate:.1f}, peak "
              f"{max(m for _, m, _ in found):.0f} MiB; runs (load average before → after): "
              f"{', '.join(f'{s:.1f} s ({load})' for s, _, load in found)}")


if __name__ == "__main__":
    main()
