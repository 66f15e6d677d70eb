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

With --reference (needs torch and transformers, as scripts/make_model_fixtures.py does) it
also loads the files just written into transformers' GPT2LMHeadModel and writes
reference.npz as the other fixtures have it (text, input_ids, attentions, attentions64,
hidden_in, logits), for REFERENCE_TEXT, plus probe_ids and probe_attentions: the probe's
sequence (<bos> R R, R = 20 ids drawn as attncli draws them with seed 0) and transformers'
attention on it.

Usage: python scripts/make_induction_model.py [--out tests/fixtures/models/induction]
                                             [--reference]
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
REFERENCE_TEXT = "harry potter went to the shop and harry"


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


def probe_ids(seed: int = 0, length: int = 20) -> list[int]:
    """<bos> R R, R drawn as attncli.induction.sequence draws it (without importing it)."""
    pool = np.arange(len(SPECIALS), V)  # every ordinary id
    r = [int(i) for i in np.random.default_rng(seed).choice(pool, size=length, replace=False)]
    return [0, *r, *r]


def write_reference(out: Path) -> None:
    """reference.npz from transformers, for REFERENCE_TEXT and the probe's sequence."""
    import io
    import zipfile

    import torch
    from transformers import GPT2LMHeadModel

    def run(ids: list[int], dtype: torch.dtype):
        model = GPT2LMHeadModel.from_pretrained(out, attn_implementation="eager",
                                                dtype=dtype).eval()
        with torch.no_grad():
            return model(torch.tensor([ids]), output_attentions=True,
                         output_hidden_states=True)

    ids = Tokenizer.from_file(str(out / "tokenizer.json")).encode(REFERENCE_TEXT).ids
    got, got64 = run(ids, torch.float32), run(ids, torch.float64)
    probe = probe_ids()
    arrays = {
        "text": np.array(REFERENCE_TEXT),
        "input_ids": np.array(ids, dtype=np.int64),
        "attentions": torch.stack([a[0] for a in got.attentions]).numpy(),
        "attentions64": torch.stack([a[0] for a in got64.attentions]).numpy(),
        "hidden_in": torch.stack([h[0] for h in got.hidden_states[:-1]]).numpy(),
        "logits": got.logits[0].numpy(),
        "probe_ids": np.array(probe, dtype=np.int64),
        "probe_attentions": torch.stack(
            [a[0] for a in run(probe, torch.float32).attentions]).numpy(),
    }
    with zipfile.ZipFile(out / "reference.npz", "w", compression=zipfile.ZIP_STORED) as zf:
        for key, array in arrays.items():  # fixed timestamps: equal arrays, equal bytes
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/models/induction"))
    parser.add_argument("--reference", action="store_true",
                        help="also write reference.npz from transformers (needs torch)")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config(), indent=2, sort_keys=True) + "\n")
    save_file(tensors(), str(out / "model.safetensors"), metadata={"format": "pt"})
    tokenizer().save(str(out / "tokenizer.json"))
    print(f"wrote {out}/config.json, model.safetensors, tokenizer.json")
    if args.reference:
        write_reference(out)
        print(f"wrote {out}/reference.npz")


if __name__ == "__main__":
    main()
