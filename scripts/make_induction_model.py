"""Write a GPT-2 with two layers whose weights make an induction circuit by construction.

The model is built by hand, not trained. Its residual stream of 128 numbers has three
one-hot parts:

    0–31     TOK   the token's identity (32 tokens: <bos>, <unk> and 30 words)
    32–95    POS   its position (64 positions)
    96–127   PREV  the identity of the token before it, written there by layer 0

Each layer has 2 heads of 64 dimensions; the MLPs are zero. Three heads do nothing (zero
weights: each attends evenly to every token it may see, and its output is zero); two do:

- layer 0 head 0, a previous-token head: the query of position p reads POS p, the key of
  position j reads POS j as coordinate j + 1, so q·k is large only for j = p − 1. Its value
  reads TOK and its output (c_proj) writes it into PREV: after layer 0 every position holds
  its predecessor's identity.
- layer 1 head 1, an induction head: its query reads TOK (my token), its key reads PREV (the
  token before you). A query attends to the position whose predecessor is its own token: in
  "A B … A" the second A attends to B. Its value reads TOK and its output adds 3× the
  attended token to TOK, so the LM head (tied to wte) predicts B after the second A.

Scores are 160 · 1 / √64 = 20 where the heads match, 0 elsewhere: the softmax puts all but
e^-20 × (number of keys) of the weight on the match.

GPT-2 puts a LayerNorm (ln_1) before each attention. A residual vector with exactly k ones
and d − k zeros has mean k/d and variance k/d − (k/d)²; with ln_1's weight √(variance + ε)
and its bias k/d, the norm gives the vector back unchanged. Layer 0's inputs have k = 2 (TOK
and POS); layer 1's have k = 3 (PREV's weights sum to 1, all but ~1e-7 on one token).

The tokenizer is word-level (lowercased, split on whitespace and punctuation), and adds
<bos> before every text, as the model expects. Output, in tests/fixtures/models/induction/:
config.json, model.safetensors (float32, tied LM head), tokenizer.json. Deterministic: no
randomness, the same bytes every run.

Usage: python scripts/make_induction_model.py [--out tests/fixtures/models/induction]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel

WORDS = ["harry", "potter", "went", "to", "the", "shop", "and", "then", "saw", "ron",
         "weasley", "at", "a", "big", "red", "house", ",", ".", "mr", "mrs", "dursley", "said",
         "it", "was", "not", "cat", "dog", "sat", "on", "mat"]
SPECIALS = ["<bos>", "<unk>"]
V = len(SPECIALS) + len(WORDS)  # 32 tokens
P = 64  # positions
D = V + P + V  # 128: TOK, POS, PREV
TOK, POS, PREV = 0, V, V + P
HEADS, HD = 2, D // 2  # 2 heads of 64
SHARP = 160.0  # q·k at a match; ÷ √64 gives a score of 20
COPY = 3.0  # how strongly the induction head writes the attended token into TOK
EPS = 1e-5


def norm_params(k: int) -> tuple[np.ndarray, np.ndarray]:
    """ln weight and bias that give back a vector of k ones and D − k zeros unchanged."""
    mean = k / D
    var = mean - mean * mean
    return (np.full(D, math.sqrt(var + EPS), dtype=np.float32),
            np.full(D, mean, dtype=np.float32))


def tensors() -> dict[str, np.ndarray]:
    """Every tensor of the GPT2LMHeadModel checkpoint (the LM head is tied to wte)."""
    f32 = np.float32
    wte = np.zeros((V, D), f32)
    wte[np.arange(V), TOK + np.arange(V)] = 1.0
    wpe = np.zeros((P, D), f32)
    wpe[np.arange(P), POS + np.arange(P)] = 1.0
    out = {"transformer.wte.weight": wte, "transformer.wpe.weight": wpe,
           "transformer.ln_f.weight": np.ones(D, f32), "transformer.ln_f.bias": np.zeros(D, f32)}
    for layer in range(2):
        q, k, v = (np.zeros((D, D), f32) for _ in range(3))  # Conv1D: (in, out)
        w_o = np.zeros((D, D), f32)  # rows: the heads' joined output; columns: the stream
        if layer == 0:  # head 0 (columns 0–63): the previous-token head
            q[POS + np.arange(P), np.arange(P)] = SHARP  # position p -> coordinate p
            k[POS + np.arange(P - 1), np.arange(1, P)] = 1.0  # position j -> coordinate j + 1
            v[TOK + np.arange(V), np.arange(V)] = 1.0  # its token
            w_o[np.arange(V), PREV + np.arange(V)] = 1.0  # -> PREV
        else:  # head 1 (columns 64–127): the induction head
            q[TOK + np.arange(V), HD + np.arange(V)] = SHARP  # my token
            k[PREV + np.arange(V), HD + np.arange(V)] = 1.0  # the token before you
            v[TOK + np.arange(V), HD + np.arange(V)] = 1.0  # your token
            w_o[HD + np.arange(V), TOK + np.arange(V)] = COPY  # -> TOK, for the LM head
        ln_w, ln_b = norm_params(2 if layer == 0 else 3)
        p = f"transformer.h.{layer}."
        out |= {
            p + "ln_1.weight": ln_w, p + "ln_1.bias": ln_b,
            p + "attn.c_attn.weight": np.concatenate([q, k, v], axis=1),  # (D, 3D)
            p + "attn.c_attn.bias": np.zeros(3 * D, f32),
            p + "attn.c_proj.weight": w_o, p + "attn.c_proj.bias": np.zeros(D, f32),
            p + "ln_2.weight": np.ones(D, f32), p + "ln_2.bias": np.zeros(D, f32),
            p + "mlp.c_fc.weight": np.zeros((D, 4), f32), p + "mlp.c_fc.bias": np.zeros(4, f32),
            p + "mlp.c_proj.weight": np.zeros((4, D), f32),
            p + "mlp.c_proj.bias": np.zeros(D, f32),
        }
    return out


def config() -> dict:
    """A GPT2Config for the sizes above."""
    return {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.0, "bos_token_id": 0, "embd_pdrop": 0.0, "eos_token_id": 0,
        "layer_norm_epsilon": EPS, "model_type": "gpt2", "n_embd": D, "n_head": HEADS,
        "n_inner": 4, "n_layer": 2, "n_positions": P, "resid_pdrop": 0.0,
        "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
        "tie_word_embeddings": True, "vocab_size": V,
    }


def tokenizer() -> Tokenizer:
    """Word-level, lowercased, split on whitespace and punctuation; <bos> before each text."""
    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIALS)
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", 0)])
    return tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/models/induction"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config(), indent=2, sort_keys=True) + "\n")
    save_file(tensors(), str(out / "model.safetensors"), metadata={"format": "pt"})
    tokenizer().save(str(out / "tokenizer.json"))
    print(f"wrote {out}/config.json, model.safetensors, tokenizer.json")


if __name__ == "__main__":
    main()
