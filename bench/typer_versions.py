"""Start-up of `attn` under several typer versions, side by side in one run.

    python bench/typer_versions.py [--runs 31] VENV [VENV ...]

Each VENV is a virtual environment holding attncli (pip install --no-deps -e .) and the typer
to measure. `attn --help` and `attn explain "The animal was tired" --json` of every VENV and
one `python -c "import numpy"` baseline are interleaved run by run (bench.py's
side_by_side), so the machine's noise falls on all alike; medians are printed as Markdown.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import side_by_side  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="runs per command (at least 5)")
    parser.add_argument("venvs", nargs="+", type=Path, help="virtual environments to compare")
    args = parser.parse_args()
    cases = {"baseline": ([sys.executable, "-c", "import numpy"], None)}
    names = []
    for venv in args.venvs:
        python, attn = venv / "bin" / "python", str(venv / "bin" / "attn")
        name = subprocess.run([python, "-c", "import typer; print(typer.__version__)"],
                              capture_output=True, text=True, check=True).stdout.strip()
        names.append(name)
        cases[f"{name} help"] = ([attn, "--help"], None)
        cases[f"{name} json"] = ([attn, "explain", "The animal was tired", "--json"], None)
    got = side_by_side(cases, max(5, args.runs))
    base = got["baseline"][0]
    print(f"Medians of {max(5, args.runs)} interleaved runs; {os.cpu_count()} cores; "
          f"baseline `python -c \"import numpy\"` {base:.3f} s.\n")
    print("| typer | `attn --help` | × baseline | `attn explain … --json` | × baseline |")
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        help_s, json_s = got[f"{name} help"][0], got[f"{name} json"][0]
        print(f"| {name} | {help_s:.3f} s | {help_s / base:.2f}× | {json_s:.3f} s "
              f"| {json_s / base:.2f}× |")


if __name__ == "__main__":
    main()
