"""attncli's public Python API: open a model, explain a text, summarise its heads.

The `attn` commands are built on these; `import attncli` makes them attncli.load_model,
attncli.explain and attncli.heads, and imports nothing more until one is called.

    >>> import attncli
    >>> ex = attncli.explain("The animal was tired")  # seeded weights: one head, d_model 8
    >>> [t.text for t in ex.tokens]
    ['The', 'animal', 'was', 'tired']
    >>> ex.heads[0].steps.weights.shape  # step 4: each token's weights over the keys
    (4, 4)
    >>> ex.heads[0].steps.weights.sum(axis=1).round(12).tolist()  # each row sums to 1
    [1.0, 1.0, 1.0, 1.0]

With a checkpoint (a folder, or a Hub id in the Hugging Face cache), the same result for the
heads of the layers chosen:

    model = attncli.load_model("path/to/all-MiniLM-L6-v2")
    ex = attncli.explain("The animal was tired", model, layers=[0, 5], heads="all")
    overview = attncli.heads(ex, query="tired", key="animal")

Errors a user can act on are attncli.errors.AttnError; a value refused names its role ("the
query word"), as attncli.errors.ROLES lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attncli.explain import CheckWords, Explanation
    from attncli.heads import Overview
    from attncli.models.base import Model, Progress
    from attncli.weights import WeightSet

__all__ = ["explain", "heads", "load_model"]

Spec = str | Sequence[int]  # which layers or heads: "all", "last", "0,2", -1, or [0, 2]


def load_model(spec: str | Path, revision: str | None = None) -> Model:
    """Open a pretrained checkpoint: a folder with config.json, tokenizer.json and
    safetensors weights, or a Hub id already in the Hugging Face cache ("gpt2", "org/name"),
    at revision (a branch, tag or commit) if given. Weights are read as layers run."""
    from attncli.models import load_model as load

    return load(str(spec), revision)


def explain(
    text: str,
    model: Model | str | Path | None = None,
    *,
    layers: Spec = "last",
    heads: Spec = "all",
    weights: WeightSet | str | Path | None = None,
    seed: int = 0,
    causal: bool = False,
    positions: str = "none",
    target: str | None = None,
    attention: str = "cross",
    join: bool = False,
    float64: bool = False,
    max_tokens: int | None = None,
    check_words: CheckWords | None = None,
    progress: Progress | None = None,
) -> Explanation:
    """Every step of self-attention on text, with its numbers: an Explanation, whose heads
    each hold the steps (x, q, k, v, scores, scaled, weights, output).

    The numbers come from model (a Model, or what load_model opens) through its layers and
    heads; else from weights (a WeightSet, or a weights file) or, by default, weights seeded
    with seed, over text split into words. For a model, `layers` and `heads` pick which
    to keep ("all", "last", "0,2" or a list; negative counts from the end); for the others,
    `heads` picks heads and there is one layer. causal and positions ("none" or
    "sinusoidal") go with weights only; a model has its own.

    target (an encoder-decoder model): text is the source the encoder reads, and the heads
    are the decoder's over target, its "self" or "cross" attention. join adds step 6 (the
    heads joined through W_O) for the last layer kept; float64 runs a model's whole forward
    pass in float64. check_words sees the tokens before any layer runs, and progress is told
    of each layer run (the CLI uses both)."""
    from attncli.explain import MAX_TOKENS, check_text, check_token_count, explain_model

    limit = MAX_TOKENS if max_tokens is None else max_tokens
    check_text(text)
    if model is None:
        return _seeded_or_file(text, heads, weights, seed, causal, positions, limit)
    if isinstance(model, (str, Path)):
        model = load_model(model)
    if target is not None:  # the decoder, with text as the encoder's input
        source = model.tokens(text)
        check_token_count(source, limit)
        model = model.for_target(source, attention)
    return explain_model(text, model, layers=_indices(layers, model.n_layers, "layer"),
                         heads=_indices(heads, model.n_heads, "head"), max_tokens=limit,
                         join=join, float64=float64, target=target, check_words=check_words,
                         progress=progress)


def heads(
    text: str | Explanation,
    model: Model | str | Path | None = None,
    *,
    query: str | None = None,
    key: str | None = None,
    top: int = 5,
) -> Overview:
    """Every head at a glance: the pattern each follows (previous token, first token, …) and
    the links between two different words that stand out. With query and key (two words of
    the text, as "it", "the#2" or "#7"), the weight every head gives that pair instead.

    text is explained first (every layer and head of model, or seeded weights) unless it
    is an Explanation already."""
    from attncli.explain import Explanation
    from attncli.heads import overview

    ex = text if isinstance(text, Explanation) else explain(text, model, layers="all")
    return overview(ex, query, key, top=top)


def _indices(spec: Spec, count: int, what: str) -> list[int]:
    """A layer or head spec as sorted distinct indices (a str as explain.select reads it)."""
    from attncli.explain import select

    if isinstance(spec, str):
        return select(spec, count, what)
    return select(",".join(str(int(i)) for i in spec), count, what)


def _seeded_or_file(text: str, heads: Spec, weights: WeightSet | str | Path | None,
                    seed: int, causal: bool, positions: str, limit: int) -> Explanation:
    from attncli import tokens
    from attncli import weights as wts
    from attncli.explain import explain as steps

    if weights is None:
        weights = wts.seeded(seed, 8, 4, 4, 1)
    elif isinstance(weights, (str, Path)):
        from attncli.weights import files

        weights = files.load(Path(weights))
    chosen = _indices(heads, len(weights.heads), "head")
    return steps(text, tokens.word_level(text), weights, seed=seed, causal=causal,
                 positions=positions, max_tokens=limit, heads=chosen)
