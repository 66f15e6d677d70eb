"""The baseline for `bench/corpus.py`: the per-head statistics of `attn heads --corpus`,
worked out with torch and transformers.

Batches of 32 texts (padded, the padding masked), eager attention, output_attentions; a
forward hook on each layer's value projection gives the values for the norm-based share.
Per text and head: previous, next, self, first, [SEP], punctuation, duplicate, best offset,
broad, entropy, and the weight and norm share on the first and special tokens; then their
mean and sd over the texts. Needs torch and transformers, which attncli never uses.

    python bench/reference_corpus_transformers.py MODEL_DIR TEXTS.txt --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
import unicodedata

import torch
from transformers import AutoModel, AutoTokenizer


def punct(piece: str) -> bool:
    body = piece.strip()
    return bool(body) and all(unicodedata.category(c).startswith("P") for c in body)


def scores(a: torch.Tensor, ids: list[int], special: list[bool], is_punct: list[bool],
           lengths: torch.Tensor) -> torch.Tensor:
    """(H, 12) the statistics of one text's heads from a (H, n, n) attention and the value
    lengths (H, n)."""
    h, n, _ = a.shape
    out = torch.full((h, 12), float("nan"), dtype=torch.float64)
    a = a.double()
    idx = torch.arange(n)
    out[:, 0] = a[:, idx[1:], idx[1:] - 1].mean(1)  # previous
    out[:, 1] = a[:, idx[:-1], idx[:-1] + 1].mean(1)  # next
    out[:, 2] = a[:, idx, idx].mean(1)  # self
    out[:, 3] = a[:, :, 0].mean(1)  # first
    sep = [j for j in range(1, n) if special[j]]
    if sep:
        out[:, 4] = a[:, :, sep].sum(-1).mean(1)
    pj = [j for j in range(n) if is_punct[j]]
    if pj:
        out[:, 5] = a[:, :, pj].sum(-1).mean(1)
    t = torch.tensor(ids)
    earlier = (t[:, None] == t[None, :]) & torch.tril(torch.ones(n, n, dtype=torch.bool), -1)
    real = ~torch.tensor(special)
    earlier &= real[:, None] & real[None, :]
    rows = earlier.any(1)
    if rows.any():
        out[:, 6] = (a * earlier).sum(-1)[:, rows].mean(1)
    best = torch.full((h,), -1.0, dtype=torch.float64)
    for k in range(-(n - 1), n):
        if k == 0 or 2 * (n - abs(k)) < n:
            continue
        best = torch.maximum(best, torch.diagonal(a, offset=k, dim1=1, dim2=2).mean(1))
    out[:, 7] = best
    ent = -(a * torch.log(torch.where(a > 0, a, torch.ones_like(a)))).sum(-1)  # (H, n)
    out[:, 8] = (ent / torch.log(torch.tensor(float(max(n, 2))))).mean(1)
    out[:, 9] = ent.mean(1)
    sinks = [0] + sep
    out[:, 10] = a[:, :, sinks].sum(-1).mean(1)
    norms = a * lengths[:, None, :]
    shares = norms / norms.sum(-1, keepdim=True)
    out[:, 11] = shares[:, :, sinks].sum(-1).mean(1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("texts")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model, attn_implementation="eager").eval()
    layers = model.encoder.layer
    heads = model.config.num_attention_heads
    hd = model.config.hidden_size // heads
    values: dict[int, torch.Tensor] = {}
    for i, layer in enumerate(layers):
        layer.attention.self.value.register_forward_hook(
            lambda _m, _in, out, i=i: values.__setitem__(i, out.detach()))
    w_o = [layer.attention.output.dense.weight.detach().double().T.reshape(heads, hd, -1)
           for layer in layers]  # (H, hd, d)
    texts = [t for t in open(args.texts, encoding="utf-8").read().split("\n") if t.strip()]
    per_text = []
    with torch.no_grad():
        for b in range(0, len(texts), args.batch):
            batch = texts[b:b + args.batch]
            enc = tok(batch, return_tensors="pt", padding=True, return_offsets_mapping=True,
                      return_special_tokens_mask=True)
            offsets = enc.pop("offset_mapping")
            special_mask = enc.pop("special_tokens_mask")
            out = model(**enc, output_attentions=True)
            for t, text in enumerate(batch):
                n = int(enc["attention_mask"][t].sum())
                ids = enc["input_ids"][t, :n].tolist()
                special = [bool(x) for x in special_mask[t, :n]]
                is_punct = [punct(text[s:e]) for s, e in offsets[t, :n].tolist()]
                rows = []
                for i, att in enumerate(out.attentions):
                    v = values[i][t, :n].double().reshape(n, heads, hd).transpose(0, 1)
                    lengths = torch.linalg.norm(v @ w_o[i], dim=-1)  # (H, n)
                    rows.append(scores(att[t, :, :n, :n], ids, special, is_punct, lengths))
                per_text.append(torch.stack(rows))  # (L, H, 12)
    stack = torch.stack(per_text)  # (texts, L, H, 12)
    mean = stack.nanmean(0)
    print(json.dumps({"texts": len(per_text), "seconds": time.perf_counter() - start,
                      "mean": mean.tolist()}))


if __name__ == "__main__":
    main()
