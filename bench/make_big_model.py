"""Build a Qwen2.5-0.5B-shaped checkpoint with random weights, for bench/bench.py --big-dir.

    python bench/make_big_model.py /tmp/qwen-0.5b-shaped

The shape is Qwen2.5-0.5B's (24 layers, hidden 896, 14 query heads and 2 key/value heads of
64, MLP 4864, vocabulary 151936, tied embeddings, q/k/v biases): 494 M parameters stored as
bfloat16, about 1 GB. The weights are seeded normal noise (std 0.02), so the numbers mean
nothing, but every product has its real size. The tokenizer is the qwen2 test fixture's (its
ids all fall inside the vocabulary). Only numpy is needed; the safetensors file is written
tensor by tensor, so memory stays under a few hundred MB.
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FF, VOCAB = 896, 24, 14, 2, 64, 4864, 151936
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "models" / "qwen2"


def shapes() -> dict[str, tuple[int, ...]]:
    q, kv = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (VOCAB, HIDDEN),
                                       "model.norm.weight": (HIDDEN,)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        out.update({
            p + "input_layernorm.weight": (HIDDEN,),
            p + "self_attn.q_proj.weight": (q, HIDDEN), p + "self_attn.q_proj.bias": (q,),
            p + "self_attn.k_proj.weight": (kv, HIDDEN), p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, HIDDEN), p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (HIDDEN, q),
            p + "post_attention_layernorm.weight": (HIDDEN,),
            p + "mlp.gate_proj.weight": (FF, HIDDEN), p + "mlp.up_proj.weight": (FF, HIDDEN),
            p + "mlp.down_proj.weight": (HIDDEN, FF),
        })
    return out


def bf16(values: np.ndarray) -> bytes:
    """float32 -> bfloat16 bytes, rounded to nearest even (as torch does)."""
    bits = values.astype(np.float32).view(np.uint32)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16).tobytes()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    layout = shapes()
    header, offset = {}, 0
    for name, shape in layout.items():
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset,
                                                                                  offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(out / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for name, shape in layout.items():
            if name.endswith("norm.weight"):
                values = 1 + 0.1 * rng.standard_normal(shape, dtype=np.float32)
            else:
                values = 0.02 * rng.standard_normal(shape, dtype=np.float32)
            f.write(bf16(values))
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "intermediate_size": FF, "vocab_size": VOCAB,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "hidden_act": "silu", "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "use_sliding_window": False, "bos_token_id": 151643, "eos_token_id": 151643,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copy(FIXTURE / "tokenizer.json", out / "tokenizer.json")
    print(f"wrote {out} ({offset / 1e9:.2f} GB of bfloat16)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
