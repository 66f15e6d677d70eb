"""Make a benchmark corpus: N texts of 10 to 30 tokens (by a model's tokenizer), each a run
of words from the sample corpus. Deterministic for a seed.

    python bench/corpus_texts.py MODEL_DIR 1000 > /tmp/texts-1000.txt
"""

from __future__ import annotations

import argparse
import random
import sys

from attncli.corpus.texts import SAMPLE_FILE
from attncli.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=26)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tokenizer = load_model(args.model).tokenizer
    sentences = SAMPLE_FILE.read_text(encoding="utf-8").split("\n")
    sentences = [s for s in sentences if s]
    made = 0
    while made < args.count:
        words = (rng.choice(sentences) + " " + rng.choice(sentences)).split()
        start = rng.randrange(len(words))
        text = " ".join(words[start:start + rng.randint(6, 24)])
        if 10 <= len(tokenizer.encode(text).ids) <= 30:
            sys.stdout.write(text + "\n")
            made += 1


if __name__ == "__main__":
    main()
