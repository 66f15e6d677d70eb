"""The aggregates over a corpus, from its records alone.

aggregate(records) gives each statistic's mean and standard deviation over the texts, per
head (Aggregator: running exact sums, so the aggregates do not depend on the order the
records come in), and each head's most frequent strongest role.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from attncli.corpus.records import Record
from attncli.corpus.scores import STATS
from attncli.errors import AttnError
from attncli.roles import ROLES


@dataclass(frozen=True)
class Aggregates:
    """Each statistic over the texts, per head: mean, sample standard deviation (n − 1; NaN
    for fewer than two texts) and how many texts define it; and each head's most frequent
    strongest role, with the share of texts it is strongest in."""

    model: str
    texts: int
    tokens: int  # over every text
    cut: int  # texts cut to the limit
    mean: dict[str, np.ndarray]  # statistic -> (layers, heads), NaN where no text defines it
    sd: dict[str, np.ndarray]
    count: dict[str, np.ndarray]  # (layers, heads) int
    role: np.ndarray  # (layers, heads) str: the strongest role most texts give the head
    role_share: np.ndarray  # (layers, heads) the share of texts that give it that role
    named: dict[str, np.ndarray]  # role (or "mixed") -> (layers, heads) texts giving it

    @property
    def shape(self) -> tuple[int, int]:
        """(layers, heads)."""
        return self.role.shape[0], self.role.shape[1]


FIXED = 64  # each value is summed as a whole number of 2**-64 (nearest): exact sums, any order


def _fixed(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whole numbers of 2**-FIXED as Python ints in an object array, 0 where NaN; where
    defined). Worked out in two exact float64 halves, so nothing is lost above 2**-64."""
    defined = ~np.isnan(values)
    v = np.where(defined, values, 0.0) * 2.0**32  # exact: a power of two
    hi = np.floor(v)
    lo = np.rint((v - hi) * 2.0**32)  # v - hi is exact, so is its scaling
    whole = hi.astype(np.int64).astype(object) * (1 << 32) + lo.astype(np.int64).astype(object)
    return whole, defined


class Aggregator:
    """The Aggregates of records added one at a time, holding no record: per head and
    statistic, the exact sums of the values (each rounded to a multiple of 2**-64, far
    below a float64's resolution at these sizes) and of their squares, as whole numbers;
    so the result is the same whatever the order of the records."""

    def __init__(self) -> None:
        self.shape: tuple[int, int] | None = None
        self.model = ""
        self.texts = self.tokens = self.cut = 0
        self.sums: np.ndarray | None = None  # (stats, layers, heads) object: Python ints
        self.squares: np.ndarray | None = None
        self.counts: np.ndarray | None = None  # (stats, layers, heads) int64
        self.named: dict[str, np.ndarray] = {}

    def add(self, record: Record) -> None:
        """Count one record in (refused if its model's shape differs from the first's)."""
        if self.shape is None:
            self.shape, self.model = record.shape, record.model
            size = (len(STATS), *record.shape)
            self.sums, self.squares = np.zeros(size, object), np.zeros(size, object)
            self.counts = np.zeros(size, np.int64)
            self.named = {name: np.zeros(record.shape, dtype=np.int64)
                          for name in (*ROLES, "mixed")}
        elif record.shape != self.shape:
            raise AttnError(f"record {record.id!r} has {record.shape[0]} layers × "
                            f"{record.shape[1]} heads, the first {self.shape[0]} × "
                            f"{self.shape[1]}: records of two models")
        assert self.sums is not None and self.squares is not None and self.counts is not None
        self.texts += 1
        self.tokens += record.tokens
        self.cut += record.cut
        whole, defined = _fixed(np.stack([record.scores[name] for name in STATS]))
        self.sums += whole
        self.squares += whole * whole
        self.counts += defined
        for i, row in enumerate(record.roles):
            for j, role in enumerate(row):
                self.named[role][i, j] += 1

    def result(self) -> Aggregates:
        """The Aggregates of the records added (at least one)."""
        from fractions import Fraction

        if self.shape is None or self.sums is None or self.squares is None \
                or self.counts is None:
            raise AttnError("no records to aggregate: every text was skipped, or none was "
                            "given")
        shape = self.shape
        mean, sd, count = {}, {}, {}
        for k, name in enumerate(STATS):
            m, s = np.full(shape, np.nan), np.full(shape, np.nan)
            for (i, j), n in np.ndenumerate(self.counts[k]):
                total, squares = int(self.sums[k, i, j]), int(self.squares[k, i, j])
                if n:
                    m[i, j] = float(Fraction(total, int(n) << FIXED))
                if n > 1:  # (n Σx² − (Σx)²) / (n (n − 1)), exact, then rounded once
                    var = Fraction(int(n) * squares - total * total,
                                   int(n) * (int(n) - 1) << (2 * FIXED))
                    s[i, j] = math.sqrt(float(var))
            mean[name], sd[name], count[name] = m, s, self.counts[k].copy()
        order = [*ROLES, "mixed"]
        role = np.empty(shape, dtype=object)
        share = np.zeros(shape)
        for (i, j), _ in np.ndenumerate(share):
            best = min(order, key=lambda r: (-self.named[r][i, j], order.index(r)))
            role[i, j], share[i, j] = best, self.named[best][i, j] / self.texts
        return Aggregates(self.model, self.texts, self.tokens, self.cut, mean, sd, count,
                          role, share, dict(self.named))


def aggregate(records: Iterable[Record]) -> Aggregates:
    """The Aggregates of records (at least one, all of one model's shape)."""
    total = Aggregator()
    for r in records:
        total.add(r)
    return total.result()
