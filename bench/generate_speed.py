"""Per-token times of greedy generation, for bench.py's generate part: one process, one side.

    python bench/generate_speed.py attn|attn-decoder|transformers MODEL_DIR PROMPT N

Prints JSON: {"load": seconds to the first step, "steps": [seconds of each step]}. Step 1 is
the prefill with the first token's choice. attn: `attn generate`'s Generator (the cache,
the choice and the heads shown); attn-decoder: the cache and the choice only;
transformers: AutoModelForCausalLM.generate (float32, eager attention, its DynamicCache),
each step timed by a logits processor, which generate calls once a step.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    side, directory, prompt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    start = time.perf_counter()
    stamps: list[float] = []
    if side == "transformers":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

        torch.set_num_threads(1)
        tok = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32,
                                                     attn_implementation="eager")
        ids = tok(prompt, return_tensors="pt").input_ids

        def stamp(input_ids, scores):  # noqa: ANN001, ANN202
            stamps.append(time.perf_counter())
            return scores

        loaded = time.perf_counter()
        with torch.no_grad():
            model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                           logits_processor=LogitsProcessorList([stamp]), use_cache=True,
                           pad_token_id=0)
    else:
        import numpy as np

        from attncli.generate import Generator
        from attncli.models import load_model
        from attncli.models.cache import Decoder

        model = load_model(directory)
        if side == "attn":
            run = Generator(model, prompt, eos=())
            loaded = time.perf_counter()
            for _ in run.run(n):
                stamps.append(time.perf_counter())
        else:
            decoder = Decoder(model)
            decoder.head = model.lm_head()
            pending = [t.id for t in model.tokens(prompt)]
            loaded = time.perf_counter()
            for _ in range(n):
                h = decoder.step(pending)
                pending = [int(np.argmax(decoder.logits(h[-1:])[0]))]
                stamps.append(time.perf_counter())
    times = [b - a for a, b in zip([loaded, *stamps], stamps, strict=False)]
    print(json.dumps({"load": loaded - start, "steps": times}))


if __name__ == "__main__":
    main()
