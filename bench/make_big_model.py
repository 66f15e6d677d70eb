"""Build a Qwen2.5-0.5B-shaped checkpoint with random weights, for bench/bench.py --big-dir.

    python bench/make_big_model.py /tmp/qwen-0.5b-shaped

The shape is Qwen2.5-0.5B's (24 layers, hidden 896, 14 query heads and 2 key/value heads of
64, MLP 4864, vocabulary 151936, tied embeddings, q/k/v biases): 494 M parameters stored as
bfloat16, about 1 GB. The weights are seeded normal noise (std 0.02), so the numbers mean
nothing, but every product has its real size. The tokenizer is the qwen2 test fixture's,
grown to Qwen2.5's size (151,643 tokens and 151,384 merges, 12.5 MB of tokenizer.json laid
out as the tokenizers library writes it): the tokens and merges it gains are made of the
bytes 0x80 to 0xFF, which ASCII text never meets, so an English text splits as the fixture
splits it, and every id falls inside the vocabulary. With --small-tokenizer the fixture's
file is copied as it is (9 KB). Only numpy is needed; the safetensors file is written
tensor by tensor, so memory stays under a few hundred MB.

    python bench/make_big_model.py DIR [--small-tokenizer]
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FF, VOCAB = 896, 24, 14, 2, 64, 4864, 151936
TOKENS = 151643  # the BPE's own vocabulary in Qwen2.5's tokenizer.json (its added tokens apart)
LONGEST = 7  # characters in a made-up token: their lengths near the real file's
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


def byte_chars() -> list[str]:
    """GPT-2's byte-level alphabet: the character that stands for each byte 0-255."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    chars, moved = [], 0
    for byte in range(256):
        if byte in kept:
            chars.append(chr(byte))
        else:  # a control or space byte: moved past 255
            chars.append(chr(256 + moved))
            moved += 1
    return chars


def grown_tokenizer(spec: dict) -> dict:
    """The fixture's tokenizer.json (spec) grown to TOKENS tokens: its own tokens and merges
    first, then the byte characters of 0x80-0xFF, then seeded merges of a token with a short
    one, each made token at most LONGEST characters."""
    model = spec["model"]
    vocab, merges = dict(model["vocab"]), list(model["merges"])
    pool = byte_chars()[0x80:]
    for char in pool:
        vocab.setdefault(char, len(vocab))
    rng = np.random.default_rng(0)
    draws: list[list[float]] = []
    while len(vocab) < TOKENS:
        if not draws:  # drawn in blocks: one draw at a time is slow
            draws = rng.random((TOKENS, 2)).tolist()
        u, v = draws.pop()
        left, right = pool[int(u * len(pool))], pool[int(v * min(len(pool), 2048))]
        made = left + right
        if len(made) <= LONGEST and made not in vocab:
            vocab[made] = len(vocab)
            merges.append([left, right])
            pool.append(made)
    return {**spec, "model": {**model, "vocab": vocab, "merges": merges}}


def main(out: Path, small_tokenizer: bool = False) -> None:
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
    if small_tokenizer:
        shutil.copy(FIXTURE / "tokenizer.json", out / "tokenizer.json")
    else:  # laid out as the tokenizers library writes it
        grown = grown_tokenizer(json.loads((FIXTURE / "tokenizer.json").read_text()))
        (out / "tokenizer.json").write_text(json.dumps(grown, indent=2, ensure_ascii=False))
    print(f"wrote {out} ({offset / 1e9:.2f} GB of bfloat16)")


if __name__ == "__main__":
    flags = {"--small-tokenizer"}
    paths = [a for a in sys.argv[1:] if a not in flags]
    if len(paths) != 1 or any(a.startswith("-") and a not in flags for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(Path(paths[0]), small_tokenizer="--small-tokenizer" in sys.argv[1:])
