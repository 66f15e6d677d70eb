"""Which numbers to explain, from the command-line options: seeded, a weights file, or a model.

The commands in cli.py only parse options; this turns them into an Explanation.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from attncli.errors import AttnError


def read_text(text: str) -> str:
    """TEXT, or standard input when TEXT is '-'."""
    if text != "-":
        return text
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        return data.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError as exc:
        raise AttnError(f"standard input is not valid UTF-8: byte {exc.start + 1} "
                        f"(0x{data[exc.start]:02x}) does not start a character") from None


def parse_show(show: list[str] | None, focus: str | None) -> list[str]:
    from attncli.sections import SECTIONS

    if not show:
        return ["bars"] if focus else list(SECTIONS)
    wanted = [part.strip().lower() for item in show for part in item.split(",") if part.strip()]
    if not wanted:
        raise AttnError(f"--show: name at least one section: {', '.join(SECTIONS)} or all")
    if "all" in wanted:
        return list(SECTIONS)
    if focus and "bars" not in wanted:  # --focus names whose bars to draw: draw them
        wanted.append("bars")
    unknown = [w for w in wanted if w not in SECTIONS]
    if unknown:
        raise AttnError(f"--show: unknown section {unknown[0]!r}; choose from "
                        f"{', '.join(SECTIONS)} or all")
    return wanted


def sizes(d_model: int | None, d_k: int | None, d_v: int | None, heads: int | None,
           weights: Path | None) -> tuple[int, int, int, int]:
    """The seeded sizes, with their documented defaults; none of them go with --weights."""
    given = [name for name, v in (("--d-model", d_model), ("--d-k", d_k), ("--d-v", d_v),
                                  ("--heads", heads)) if v is not None]
    if weights is not None and given:
        raise AttnError(f"{given[0]} cannot be combined with --weights: the file sets the sizes")
    d_model = 8 if d_model is None else d_model
    heads = 1 if heads is None else heads
    if heads > 1 and (d_k is None or d_v is None) and d_model % heads:
        raise AttnError(f"d_model {d_model} does not split into {heads} heads; "
                        "pick a d_model divisible by --heads, or give --d-k and --d-v")
    default = d_model // heads if heads > 1 else max(1, d_model // 2)
    return (d_model, default if d_k is None else d_k, default if d_v is None else d_v, heads)


def build(text: str, *, weights: Path | None, tokenizer: Path | None, seed: int,
                 d_model: int | None, d_k: int | None, d_v: int | None, heads: int | None,
                 causal: bool, positions: str, model: str | None, layer: str | None,
                 head: str | None, max_tokens: int = 4096):
    """Build the explanation from whichever source the options name."""
    from attncli import explain as ex

    text = read_text(text)
    ex.check_text(text)
    if model is None:
        for name, value in (("--layer", layer), ("--head", head)):
            if value is not None:
                raise AttnError(f"{name} goes with --model")
        return _seeded_or_loaded(text, weights, tokenizer, seed, d_model, d_k, d_v, heads,
                                 causal, positions, max_tokens)
    clash = [name for name, value in (
        ("--weights", weights), ("--tokenizer", tokenizer), ("--d-model", d_model),
        ("--d-k", d_k), ("--d-v", d_v), ("--heads", heads),
        ("--causal", causal or None), ("--positions", None if positions == "none" else 1),
    ) if value is not None]
    if clash:
        raise AttnError(f"{clash[0]} cannot be combined with --model: the model sets its own "
                        "tokenizer, weights, sizes, mask and positions")
    return ex.explain_model(text, _load_model(model), "last" if layer is None else layer,
                            "0" if head is None else head, max_tokens)


@lru_cache(maxsize=2)
def _load_model(spec: str):
    """The model a spec names, opened once per run (compare builds two sentences from it)."""
    from attncli.models import load_model

    return load_model(spec)


def _seeded_or_loaded(text, weights, tokenizer, seed, d_model, d_k, d_v, heads, causal,
                      positions, max_tokens):
    from attncli import explain as ex
    from attncli import tokens as tok
    from attncli import weights as wts
    from attncli.weights import files as weightfiles

    dims = sizes(d_model, d_k, d_v, heads, weights)
    if tokenizer is None:
        toks, tok_name = tok.word_level(text), "word-level"
    else:
        toks, tok_name = tok.encode(tok.load_tokenizer(tokenizer), text), str(tokenizer)
    ws = weightfiles.load(weights) if weights is not None else wts.seeded(seed, *dims)
    return ex.explain(text, toks, ws, seed=seed, causal=causal, positions=positions,
                      tokenizer=tok_name, max_tokens=max_tokens)


def seeded_file(seed: int, d_model: int, d_k: int | None, d_v: int | None, heads: int,
                text: str | None):
    """What `attn weights init` writes: the seeded matrices, and with text an embeddings
    table of its words, to edit and load back."""
    from attncli import tokens as tok
    from attncli import weights as wts

    dims = sizes(d_model, d_k, d_v, heads, None)
    embeddings = None if text is None else {
        t.text: wts.seeded_embedding(t.text, seed, dims[0]) for t in tok.word_level(text)}
    return wts.WeightSet(wts.seeded(seed, *dims).heads, embeddings or None,
                         description=f"Seeded weights (seed {seed}).")
