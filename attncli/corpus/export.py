"""Aggregates -> the JSON document of `attn heads --corpus` (schema "attncli.corpus/1")."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from attncli.corpus.aggregate import Aggregates
from attncli.corpus.scores import STATS

SCHEMA = "attncli.corpus/1"


@dataclass(frozen=True)
class Summary:
    """What a run did with its input, beside the records it aggregates."""

    lines: int = 0  # texts read (malformed lines aside)
    malformed: int = 0  # lines that could not be read, reported and skipped
    skipped: int = 0  # texts over the limit, left out (too_long "skip")
    failed: int = 0  # texts the model refused, reported
    resumed: int = 0  # records already in the records file, not run again
    run: int = 0  # records made in this run
    seconds: float = 0.0


def _grid(arr: np.ndarray) -> list[list[Any]]:
    """layers × heads, NaN as null."""
    return [[None if isinstance(v, float) and math.isnan(v) else v for v in row]
            for row in arr.tolist()]


def to_dict(agg: Aggregates, summary: Summary | None = None) -> dict[str, Any]:
    """The aggregates as one JSON document."""
    layers, heads = agg.shape
    return {
        "schema": SCHEMA,
        "model": agg.model,
        "texts": agg.texts,
        "tokens": agg.tokens,
        "cut": agg.cut,
        "summary": None if summary is None else asdict(summary),
        "layers": list(range(layers)),
        "heads": list(range(heads)),
        "stats": {name: {"mean": _grid(agg.mean[name]), "sd": _grid(agg.sd[name]),
                         "count": agg.count[name].tolist()} for name in STATS},
        "role": agg.role.tolist(),
        "role_share": agg.role_share.tolist(),
        "role_counts": {name: counts.tolist() for name, counts in agg.named.items()},
    }
