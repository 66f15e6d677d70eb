"""A model's forward pass alone, in one process: attncli's against torch's.

    python bench/forward.py MODEL_DIR                  # attncli (this Python's)
    python bench/forward.py MODEL_DIR --torch          # torch and transformers (a Python with them)
    python bench/forward.py MODEL_DIR --keep-pages     # attncli, its weight pages kept

Both run on one thread, on the same sentence, --runs times: the first pass (what one command
runs: attncli reads each layer's weights from the file as it goes) and the median of the
others. attncli gives a tensor's pages back once it has read it (a big model's weights never
sit in memory all at once), so its later passes read the file again; --keep-pages turns that
off, to time the arithmetic alone, as torch's later passes do with the weights it holds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

SENTENCE = "The animal didn't cross the street because it was tired"


def timed(step, runs: int) -> tuple[float, float]:
    """The first call's time and the median of the others, in ms."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times[0] * 1e3, statistics.median(times[1:]) * 1e3


def ours(model_dir: str, runs: int, keep_pages: bool):
    from attncli.models import checkpoint, load_model

    if keep_pages:
        checkpoint.DONTNEED = None
    model = load_model(model_dir)
    ids = [t.id for t in model.tokens(SENTENCE)]
    last = model.n_layers - 1
    return timed(lambda: model.run(ids, [last], [0]), runs)


def theirs(model_dir: str, runs: int):
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    enc = tokenizer(SENTENCE, return_tensors="pt")

    def step():
        with torch.no_grad():
            model(**enc, output_attentions=True)

    return timed(step, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--torch", action="store_true", help="time torch and transformers")
    parser.add_argument("--keep-pages", action="store_true",
                        help="attncli: keep the weights' pages (the arithmetic alone)")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")  # before numpy or torch is imported
    first, median = (theirs(args.model_dir, args.runs) if args.torch
                     else ours(args.model_dir, args.runs, args.keep_pages))
    who = "torch" if args.torch else "attncli" + (", pages kept" if args.keep_pages else "")
    print(f"{who}: first pass {first:.1f} ms, median of the next {args.runs - 1} {median:.1f} ms")


if __name__ == "__main__":
    main()
