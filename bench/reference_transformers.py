"""The baseline for `bench/bench.py`: the same job as `attn explain … --model --json`, with
torch and transformers.

Loads the model and tokenizer, runs the text with output_attentions (eager attention), and
prints the chosen layer's heads as JSON. Needs torch and transformers, which attncli never
uses: run it with a Python that has them (`bench/bench.py --ref-python`).

    python bench/reference_transformers.py MODEL_DIR "TEXT" --layer 5 --head 11
"""

from __future__ import annotations

import argparse
import json

import torch
from transformers import AutoModel, AutoTokenizer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("text")
    parser.add_argument("--layer", type=int, default=-1)
    parser.add_argument("--head", default="0", help="a number or all")
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model, attn_implementation="eager").eval()
    enc = tokenizer(args.text, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    att = out.attentions[args.layer][0]  # (heads, n, n)
    heads = range(att.shape[0]) if args.head == "all" else [int(args.head)]
    print(json.dumps({"heads": [{"head": h, "weights": att[h].tolist()} for h in heads]}))


if __name__ == "__main__":
    main()
