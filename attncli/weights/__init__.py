"""What weights are: W_Q, W_K and W_V per head, an optional embeddings table, size limits,
and the seeded weights drawn when no file is given.

A weights file (weightfiles.py) holds W_Q, W_K and W_V for one or more heads and,
optionally, an embeddings table (token -> d_model numbers), names for the d_model
dimensions and a description. The formats are documented in the README.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.errors import AttnError, Say, Worded
from attncli.tokens import Token

if TYPE_CHECKING:
    from hashlib import blake2b

DECIMALS = 2  # seeded numbers are rounded so a person can redo the sums by hand

# Size limits, checked before anything is allocated (a typo such as --d-model 1000000000).
MAX_D_MODEL = 4096
MAX_HEADS = 64
MAX_D_HEAD = 1024
MAX_PARAMETERS = 16 * 1024**2  # heads × d_model × (2·d_k + d_v): 128 MiB of float64


@dataclass(eq=False)
class HeadWeights:
    """One head's projection matrices."""

    w_q: np.ndarray  # (d_model, d_k)
    w_k: np.ndarray  # (d_model, d_k)
    w_v: np.ndarray  # (d_model, d_v)


@dataclass(eq=False)
class WeightSet:
    """Everything self-attention needs besides the tokens."""

    heads: tuple[HeadWeights, ...]
    embeddings: dict[str, np.ndarray] | None = None  # token text -> (d_model,)
    dims: tuple[str, ...] | None = None  # names of the d_model dimensions
    description: str | None = None
    source: str = "seeded"  # "seeded" or the file it came from
    qk_dims: tuple[str, ...] | None = None  # names of W_Q's and W_K's columns (d_k)
    v_dims: tuple[str, ...] | None = None  # names of W_V's columns (d_v)
    w_o: np.ndarray | None = None  # (heads * d_v, d_model) joins the heads' outputs
    b_o: np.ndarray | None = None  # (d_model,)

    @property
    def d_model(self) -> int:
        return int(self.heads[0].w_q.shape[0])

    @property
    def d_k(self) -> int:
        return int(self.heads[0].w_q.shape[1])

    @property
    def d_v(self) -> int:
        return int(self.heads[0].w_v.shape[1])


SIZES = ("d_model", "d_k", "d_v", "heads")  # their roles (attncli.errors.ROLES), in order


def _out_of_range(role: str, value: int, top: int) -> Say:
    """The refusal of one size outside 1..top, naming its role."""
    return lambda n: f"{n(role)} must be between 1 and {top}, got {value}"


def size_problem(d_model: int, d_k: int, d_v: int, heads: int) -> Worded | None:
    """Why these sizes are refused (zero, negative or too large to be a lesson), or None.
    The message names each size by its role: a caller rewords it (the CLI with its options,
    a weights file with what in the file set it)."""
    for role, value, top in zip(SIZES, (d_model, d_k, d_v, heads),
                                (MAX_D_MODEL, MAX_D_HEAD, MAX_D_HEAD, MAX_HEADS), strict=True):
        if not 1 <= value <= top:
            return Worded(_out_of_range(role, value, top))
    total = heads * d_model * (2 * d_k + d_v)
    if total > MAX_PARAMETERS:
        return Worded(lambda n: f"{heads} heads of {d_model}×{d_k}, {d_model}×{d_k} and "
                                f"{d_model}×{d_v} make {total:,} weights, more than the limit "
                                f"of {MAX_PARAMETERS:,}")
    return None


def check_sizes(d_model: int, d_k: int, d_v: int, heads: int) -> None:
    """Refuse sizes that are zero, negative or too large to be a lesson."""
    problem = size_problem(d_model, d_k, d_v, heads)
    if problem:
        raise AttnError(problem)


def _blake2b(data: bytes, digest_size: int) -> blake2b:
    """hashlib.blake2b, which is CPython's own _blake2 module (never OpenSSL's): imported from
    there directly, since importing hashlib loads OpenSSL, which slows every start-up."""
    try:
        from _blake2 import blake2b
    except ImportError:  # a Python without the module: hashlib finds blake2b elsewhere
        from hashlib import blake2b
    return blake2b(data, digest_size=digest_size)


def _rng(seed: int, *parts: str) -> np.random.Generator:
    """A generator that depends only on the seed and the given names (never on call order)."""
    digest = _blake2b("\x1f".join((str(seed), *parts)).encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))


def seeded_embedding(text: str, seed: int, d_model: int) -> np.ndarray:
    """(d_model,) vector that depends only on the token's text and the seed."""
    vec = _rng(seed, "embedding", text).standard_normal(d_model)
    return np.round(vec, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def seeded(seed: int, d_model: int, d_k: int, d_v: int, heads: int) -> WeightSet:
    """W_Q, W_K, W_V for each head, drawn from the seed and scaled by 1/√d_model."""
    check_sizes(d_model, d_k, d_v, heads)
    scale = 1.0 / np.sqrt(d_model)

    def draw(name: str, head: int, cols: int) -> np.ndarray:
        w = _rng(seed, name, str(head)).standard_normal((d_model, cols)) * scale
        return np.round(w, DECIMALS) + 0.0  # (d_model, cols)

    return WeightSet(
        heads=tuple(
            HeadWeights(draw("w_q", h, d_k), draw("w_k", h, d_k), draw("w_v", h, d_v))
            for h in range(heads)
        ),
        source="seeded",
        w_o=seeded_w_o(seed, heads * d_v, d_model) if heads > 1 else None,
    )


def seeded_w_o(seed: int, rows: int, d_model: int) -> np.ndarray:
    """(heads * d_v, d_model) output projection drawn from the seed, scaled by 1/√rows."""
    w = _rng(seed, "w_o", "0").standard_normal((rows, d_model)) / np.sqrt(rows)
    return np.round(w, DECIMALS) + 0.0


def embed(tokens: Sequence[Token], ws: WeightSet, seed: int) -> tuple[np.ndarray, bool]:
    """(n, d_model) embeddings for the tokens, and whether they came from the file.

    A file's table is looked up by exact text first, then ignoring case. A
    token the table lacks is an error: a silent zero vector would teach a lie.
    """
    if ws.embeddings is None:  # each distinct token drawn once: a long text repeats words
        drawn: dict[str, np.ndarray] = {}
        for t in tokens:
            if t.text not in drawn:
                drawn[t.text] = seeded_embedding(t.text, seed, ws.d_model)
        return np.stack([drawn[t.text] for t in tokens]), False
    folded: dict[str, list[str]] = {}
    for key in ws.embeddings:
        folded.setdefault(key.casefold(), []).append(key)
    rows = []
    for t in tokens:
        matches = folded.get(t.text.casefold(), [])  # the entries equal to it ignoring case
        if t.text in ws.embeddings:
            rows.append(ws.embeddings[t.text])
        elif matches and all(np.array_equal(ws.embeddings[m], ws.embeddings[matches[0]])
                             for m in matches):  # one entry, or several that agree
            rows.append(ws.embeddings[matches[0]])
        elif matches:
            raise AttnError(f"{ws.source}: token {t.text!r} matches {', '.join(matches)} "
                            "ignoring case, and their embeddings differ; write it as one of them")
        else:
            known = list(ws.embeddings)
            more = f", … ({len(known)} in all)" if len(known) > 20 else ""
            shown = ", ".join(known[:20]) + more
            raise AttnError(
                f"{ws.source}: token {t.text!r} has no embedding in this file (it knows: {shown})"
            )
    return np.stack(rows).astype(np.float64), True
