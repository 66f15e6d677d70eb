"""Build the one "show your work" result that both the terminal view and the JSON read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from attncli import weights as wts
from attncli.attention import (
    HeadSteps,
    Steps,
    causal_mask,
    self_attention,
    sinusoidal_positions,
)
from attncli.errors import AttnError
from attncli.tokens import Token

MAX_TOKENS = 4096  # the default limit: beyond it an n×n matrix stops being something to read
MAX_TOKENS_CEILING = 8192  # the largest --max-tokens: each n×n float64 matrix is then 512 MiB


@dataclass(frozen=True)
class Explanation:
    """Everything `attn explain` shows: the input, the settings and each head's steps."""

    text: str
    tokens: list[Token]
    config: dict  # sizes, seed, where the weights came from, causal…
    x: np.ndarray  # (n, d_model) the embeddings that went in (positions added, if any)
    heads: list[HeadSteps]
    dims: tuple[str, ...] | None = None  # names of the d_model dimensions
    positions: np.ndarray | None = None  # (n, d_model) the positional encoding added to X
    notes: list[str] = field(default_factory=list)  # facts the reader should know

    @property
    def from_model(self) -> bool:
        """Whether a real checkpoint made it: X is then a layer's input, heads carry layers."""
        return "model" in self.config

    @property
    def labels(self) -> list[str]:
        """How tables name each token: the input it covers, or the token's own name."""
        return [t.label(self.text) for t in self.tokens]


def check_text(text: str) -> None:
    """Refuse text with nothing in it to attend over."""
    if not text.strip():
        raise AttnError('the text is empty: give a sentence, e.g. "The animal was tired"')
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # undecodable bytes in argv arrive as lone surrogates
        stray = ord(text[exc.start])  # a byte that is no character arrives as U+DC80..U+DCFF
        byte = f" (0x{stray - 0xDC00:02x})" if 0xDC80 <= stray <= 0xDCFF else ""
        raise AttnError(f"the text is not valid UTF-8: character {exc.start + 1}{byte} is a "
                        "stray byte, not a character") from None


def check_token_count(tokens: list[Token], limit: int = MAX_TOKENS) -> None:
    """Refuse no tokens, or more than the limit, before any n×n matrix is made."""
    if not tokens:
        raise AttnError("the text has no tokens to attend over")
    if len(tokens) > limit:
        raise AttnError(f"the text has {len(tokens)} tokens, more than the limit of {limit} "
                        "(raise it with --max-tokens, up to "
                        f"{MAX_TOKENS_CEILING})")


def check_finite(steps: Steps, source: str) -> None:
    """Refuse results that overflowed float64: no NaN or infinity may reach the output."""
    for name in ("x", "q", "k", "v", "scores", "weights", "output"):
        if not np.isfinite(getattr(steps, name)).all():
            raise AttnError(f"{source}: the numbers overflow ({name} is not finite); "
                            "use smaller weights or embeddings")
    scaled = steps.scaled if steps.mask is None else steps.scaled[~steps.mask]
    if not np.isfinite(scaled).all():
        raise AttnError(f"{source}: the numbers overflow (scaled is not finite); "
                        "use smaller weights or embeddings")


def explain(
    text: str,
    tokens: list[Token],
    ws: wts.WeightSet,
    *,
    seed: int,
    causal: bool = False,
    positions: str = "none",
    tokenizer: str = "word-level",
    max_tokens: int = MAX_TOKENS,
) -> Explanation:
    """Run every head of a weight set over the tokens and keep all the steps."""
    check_token_count(tokens, max_tokens)
    n = len(tokens)
    x, from_file = wts.embed(tokens, ws, seed)  # (n, d_model)
    notes = []
    if ws.source != "seeded" and not from_file:
        notes.append(f"{ws.source} has no embeddings table, so the embeddings are seeded "
                     f"(seed {seed}).")
    pe = None
    if positions == "sinusoidal":
        pe = sinusoidal_positions(n, ws.d_model)  # (n, d_model)
        x = x + pe
    elif positions != "none":
        raise AttnError(f"unknown --positions {positions!r}; use none or sinusoidal")
    mask = causal_mask(n) if causal else None
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
        heads = [
            HeadSteps(0, h, self_attention(x, hw.w_q, hw.w_k, hw.w_v, mask=mask))
            for h, hw in enumerate(ws.heads)
        ]
    for hs in heads:
        check_finite(hs.steps, ws.source)
    config = {
        "d_model": ws.d_model,
        "d_k": ws.d_k,
        "d_v": ws.d_v,
        "heads": len(ws.heads),
        "seed": seed,
        "weights": ws.source,
        "embeddings": "file" if from_file else "seeded",
        "tokenizer": tokenizer,
        "causal": causal,
        "positions": positions,
    }
    return Explanation(text, list(tokens), config, x, heads, ws.dims, pe, notes)


def select(spec: str, count: int, what: str) -> list[int]:
    """Indices from --layer/--head: 'all', 'last', an index (negative counts from the end),
    or a comma-separated list of them. Distinct, in ascending order, so that the first layer
    shown is the earliest and X (the first layer's input) comes before later layers' own X."""
    spec = spec.strip().lower()
    if spec == "all":
        return list(range(count))
    out = []
    for part in spec.split(","):
        part = part.strip()
        if part == "last":
            part = str(count - 1)
        try:
            index = int(part)
        except ValueError:
            raise AttnError(f"--{what} {spec!r}: give a number, a comma-separated list, "
                            "'last' or 'all'") from None
        if not -count <= index < count:
            raise AttnError(f"{what} {index} is out of range: the model has {count} {what}s "
                            f"(0 to {count - 1})")
        out.append(index % count)
    return sorted(set(out))


def explain_model(text: str, model, layers: str = "last", heads: str = "0",
                  max_tokens: int = MAX_TOKENS) -> Explanation:
    """Run a real model up to the chosen layers and keep the chosen heads' steps."""
    tokens = model.tokens(text)
    check_token_count(tokens, max_tokens)
    chosen_layers = select(layers, model.n_layers, "layer")
    chosen_heads = select(heads, model.n_heads, "head")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
        result = model.attention([t.id for t in tokens], chosen_layers, chosen_heads)
    for hs in result:
        check_finite(hs.steps, f"{model.name} (layer {hs.layer}, head {hs.head})")
    first = result[0].steps
    config = {
        "d_model": int(first.x.shape[1]),
        "d_k": first.d_k,
        "d_v": int(first.v.shape[1]),
        "heads": model.n_heads,
        "seed": None,
        "weights": model.name,
        "embeddings": "model",
        "tokenizer": "model",
        "causal": bool(model.causal),
        "positions": model.order,
        "model": model.name,
        "architecture": model.model_type,
        "layers": chosen_layers,
        "head_indices": chosen_heads,
    }
    return Explanation(text, tokens, config, first.x, result)
