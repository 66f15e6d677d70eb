"""The repeated-random-token probe: which heads are induction heads.

A seeded sequence R of N distinct random token ids is fed twice, between the specials the
model expects around a text: [BOS] R R for a decoder, [CLS] R R [SEP] for a BERT-style
encoder. In the second copy every token has appeared exactly once before, N places back.

- An induction head attends from a token to the token just after its earlier copy: query i
  of the second copy looks at key i − N + 1. Its induction score is the mean of A[i, i−N+1]
  over the N queries of the second copy.
- A duplicate-token head attends from a token to its earlier copy: the mean of A[i, i−N].
- A previous-token head attends to the token before: the mean of A[i, i−1] over every query
  of the two copies that has a token before it.

Random tokens carry no meaning and no grammar, so a head that scores high here can only be
matching tokens by identity and position. Pure numpy; `attn heads --induction` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.errors import AttnError

if TYPE_CHECKING:
    from attncli.models.base import Model, Progress

DEFAULT_LENGTH = 20


@dataclass(frozen=True)
class Probe:
    """The probe's sequence and every head's scores on it.

    ids is the fed sequence: prefix specials, R, R again, suffix specials; R starts at
    `start`. Each grid is (layers, heads), every value in [0, 1].
    """

    model: str
    length: int  # N, the length of R
    seed: int
    ids: list[int]
    tokens: list[str]  # each id's token, as the tokenizer names it
    start: int  # where the first copy of R begins (the number of prefix specials)
    suffix: int  # how many specials follow the second copy
    induction: np.ndarray  # (layers, heads) mean A[i, i − N + 1] over the second copy
    duplicate: np.ndarray  # (layers, heads) mean A[i, i − N] over the second copy
    previous: np.ndarray  # (layers, heads) mean A[i, i − 1] over both copies
    causal: bool  # whether the model's heads see only earlier tokens

    @property
    def second(self) -> int:
        """Where the second copy of R begins."""
        return self.start + self.length

    def ranked(self, by: str = "induction") -> list[tuple[int, int]]:
        """(layer, head) of every head, highest score first by one grid (induction,
        duplicate or previous); ties: the earlier layer, then the earlier head."""
        grid = getattr(self, by)
        layers, heads = grid.shape
        return sorted(((lay, h) for lay in range(layers) for h in range(heads)),
                      key=lambda lh: (-float(grid[lh]), lh))


def second_copy(start: int, length: int) -> np.ndarray:
    """The positions of R's second copy in the fed sequence: start + N … start + 2N − 1."""
    return np.arange(start + length, start + 2 * length)


def diagonal_mean(weights: np.ndarray, queries: np.ndarray, back: int) -> np.ndarray:
    """The mean over the given queries i of A[..., i, i − back]: weights is (..., n, n)
    (rows are queries), and each i − back must be a key inside it."""
    return weights[..., queries, queries - back].mean(axis=-1)


def induction_scores(weights: np.ndarray, start: int, length: int) -> np.ndarray:
    """The mean of A[i, i − N + 1] over the queries i of the second copy: how much each
    head attends to the token after the query token's earlier occurrence. weights (..., n, n)
    over the fed sequence, R's first copy starting at start."""
    return diagonal_mean(weights, second_copy(start, length), length - 1)


def duplicate_scores(weights: np.ndarray, start: int, length: int) -> np.ndarray:
    """The mean of A[i, i − N] over the queries i of the second copy: how much each head
    attends to the earlier copy of the query's own token."""
    return diagonal_mean(weights, second_copy(start, length), length)


def previous_scores(weights: np.ndarray, start: int, length: int) -> np.ndarray:
    """The mean of A[i, i − 1] over the queries i of both copies that have a token before
    them in the fed sequence (all of them after a prefix special)."""
    queries = np.arange(max(start, 1), start + 2 * length)
    return diagonal_mean(weights, queries, 1)


def ordinary_ids(model: Model) -> np.ndarray:
    """The token ids R is drawn from: every id of the tokenizer's vocabulary that the model's
    embedding has a row for, except the special tokens (the tokenizer's added special tokens
    and the config's bos_token_id), in increasing order."""
    tok = model.tokenizer
    vocab = np.array(sorted(set(tok.get_vocab(with_added_tokens=True).values())), dtype=np.int64)
    special = {i for i, added in tok.get_added_tokens_decoder().items() if added.special}
    if model.bos_id is not None:
        special.add(model.bos_id)
    keep = (vocab < model.vocab_size) & ~np.isin(vocab, sorted(special))
    return vocab[keep]


def specials(model: Model) -> tuple[list[int], list[int]]:
    """The ids the model's tokenizer puts before and after a text ([CLS] … [SEP], BOS …),
    as its post-processor adds them; before a text with none there, the config's
    bos_token_id (GPT-2's <|endoftext|>: TransformerLens prepends it too) if it has one."""
    enc = model.tokenizer.encode("a")
    mask, ids = enc.special_tokens_mask, enc.ids
    inner = [i for i, m in enumerate(mask) if not m]
    if not inner:  # "a" came out as nothing but specials: take them all as a prefix
        return list(ids), []
    before, after = ids[:inner[0]], ids[inner[-1] + 1:]
    if not before:
        bos = model.bos_id
        if bos is not None and bos < model.vocab_size:
            before = [bos]
    return list(before), list(after)


def sequence(model: Model, length: int, seed: int, max_tokens: int | None = None
             ) -> tuple[list[int], int, int]:
    """The fed ids (prefix, R, R, suffix), where R starts, and how many suffix ids follow.
    R is N ids drawn without replacement, uniformly from ordinary_ids, by
    numpy.random.default_rng(seed).choice: distinct, so each token of the second copy has
    exactly one earlier occurrence."""
    if length < 3:
        raise AttnError(f"the probe's length is {length}; it must be at least 3 (with 2, the "
                        "token after a query's earlier copy is the query's own predecessor)")
    before, after = specials(model)
    n = len(before) + 2 * length + len(after)
    if model.max_positions is not None and n > model.max_positions:
        most = (model.max_positions - len(before) - len(after)) // 2
        raise AttnError(f"the probe's length is {length}: {n} tokens with the specials, but "
                        f"{model.name} takes at most {model.max_positions} positions (a length "
                        f"of at most {most})")
    if max_tokens is not None and n > max_tokens:
        from attncli.explain import TooManyTokens

        raise TooManyTokens(f"the probe's length is {length}: {n} tokens with the specials, "
                            f"more than the limit of {max_tokens}")
    pool = ordinary_ids(model)
    if length > len(pool):
        raise AttnError(f"the probe's length is {length}, but {model.name} has only "
                        f"{len(pool)} ordinary tokens to draw distinct ones from")
    rng = np.random.default_rng(seed)
    r = [int(i) for i in rng.choice(pool, size=length, replace=False)]
    return [*before, *r, *r, *after], len(before), len(after)


def probe(model: Model, length: int = DEFAULT_LENGTH, seed: int = 0,
          progress: Progress | None = None, max_tokens: int | None = None) -> Probe:
    """Run the repeated-random-token probe on every head of model (float32, as the layers
    before a shown head run), refusing more than max_tokens tokens if given."""
    ids, start, suffix = sequence(model, length, seed, max_tokens)
    _, weights = model.forward(ids, progress=progress)  # n_layers × (n_heads, n, n)
    stacked = np.stack([np.asarray(w, dtype=np.float64) for w in weights])  # (L, H, n, n)
    names = [model.tokenizer.id_to_token(i) or "" for i in ids]
    return Probe(model.name, length, seed, ids, names, start, suffix,
                 induction_scores(stacked, start, length),
                 duplicate_scores(stacked, start, length),
                 previous_scores(stacked, start, length), bool(model.causal))
