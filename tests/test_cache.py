"""The key/value cache (models/cache.py): a step over the cache gives the full pass's numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli.errors import AttnError
from attncli.models import load_model
from attncli.models.cache import Decoder, KVCache, mask_rows, refusal

FIXTURES = Path(__file__).parent / "fixtures" / "models"
DECODERS = sorted(p.name for p in FIXTURES.iterdir() if (p / "config.json").is_file()
                  and refusal(load_model(str(p))) is None)
LENGTH_DEPENDENT = ("llama-dynamic", "phi3-longrope")  # RoPE speeds that change with n
LENGTH_DEPENDENT += ("gpt_neox-dynamic", "gpt_neox-longrope", "gemma3_text-scaled",
                     "gemma3_text-longrope")  # i28-more
PREFILL = 5
MOE = ["mixtral", "qwen2_moe", "qwen3_moe"]  # each step routes its new tokens alone


def run(name: str, dtype: type) -> tuple[np.ndarray, list[list[np.ndarray]], np.ndarray]:
    """A prefill of PREFILL tokens, then one token a step: each step's output rows, its
    weights per layer, and the ids."""
    model = load_model(str(FIXTURES / name))
    ids = np.random.default_rng(0).integers(0, model.vocab_size, 24)
    decoder = Decoder(model, dtype)
    outputs, rows = [], []
    for start, stop in [(0, PREFILL), *((j, j + 1) for j in range(PREFILL, len(ids)))]:
        keep: list[np.ndarray] = []
        outputs.append(decoder.step(ids[start:stop], keep=keep)[-(stop - start):])
        rows.append(keep)
    return np.concatenate(outputs), rows, ids


def test_the_decoders_include_a_window_shorter_than_the_text() -> None:
    assert {"mistral", "phi3-lm", "qwen2-lm", "gemma2-lm", "gpt2-lm", "opt", "gpt_neox",
            "roberta-decoder", *MOE} <= set(DECODERS)
    assert load_model(str(FIXTURES / "mistral")).window(0) == 4  # the texts are 24 tokens


@pytest.mark.parametrize("name", [d for d in DECODERS if d not in LENGTH_DEPENDENT])
@pytest.mark.parametrize("dtype,rows_within", [(np.float32, 1e-5), (np.float64, 1e-9)])
def test_cached_steps_equal_one_full_pass(name: str, dtype: type, rows_within: float) -> None:
    h, rows, ids = run(name, dtype)
    model = load_model(str(FIXTURES / name))
    full, weights = model.forward(ids, float64=dtype is np.float64)
    assert h.dtype == dtype
    scale = np.abs(full).max()
    assert np.abs(h - full).max() <= scale * (1e-5 if dtype is np.float32 else 1e-12)
    for step, kept in enumerate(rows[1:]):
        q = PREFILL + step  # the new token's position
        for layer, w in enumerate(kept):  # (n_heads, 1, q + 1)
            assert w.shape == (model.n_heads, 1, q + 1)
            assert np.abs(w[:, 0] - weights[layer][:, q, :q + 1]).max() <= rows_within
    for layer, w in enumerate(rows[0]):  # the prefill: the full pass's first rows
        assert np.abs(w - weights[layer][:, :PREFILL, :PREFILL]).max() <= rows_within


@pytest.mark.parametrize("name", LENGTH_DEPENDENT)
def test_length_dependent_rope_refills_the_cache(name: str) -> None:
    """Past the length where the speeds change, each step equals a full pass over the
    tokens so far (its earlier keys turned with the new speeds)."""
    h, _, ids = run(name, np.float32)
    model = load_model(str(FIXTURES / name))
    for q in range(PREFILL, len(ids)):
        full, _ = model.forward(ids[:q + 1])
        assert np.abs(h[q] - full[-1]).max() <= np.abs(full).max() * 1e-5


@pytest.mark.parametrize("name", ["gpt2-lm", "llama-lm", "qwen2-lm", "gemma2-lm", "phi3-lm",
                                  "olmo2-lm", *MOE])
def test_cached_logits_equal_the_full_pass_logits(name: str) -> None:
    model = load_model(str(FIXTURES / name))
    h, _, ids = run(name, np.float32)
    full, _ = model.forward(ids)
    ours = Decoder(model).logits(h)
    theirs = model.logits(full)
    assert np.abs(ours - theirs).max() <= np.abs(theirs).max() * 1e-5


@pytest.mark.parametrize("name,says", [("bert", "is an encoder (bert)"),
                                        ("t5", "t5 encoder-decoder")])
def test_encoders_and_t5_are_refused_in_one_line(name: str, says: str) -> None:
    with pytest.raises(AttnError) as err:
        Decoder(load_model(str(FIXTURES / name)))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_mask_rows_by_hand() -> None:
    # queries at 3 and 4 over keys 0..4, window 2: a query sees itself and the key before
    assert mask_rows(3, 5, 2).tolist() == [[True, True, False, False, True],
                                           [True, True, True, False, False]]
    assert mask_rows(4, 5, None) is None  # the last token sees every key
    assert mask_rows(0, 3, None).tolist() == [[False, True, True], [False, False, True],
                                              [False, False, False]]


def test_the_cache_appends_and_keeps_the_old_rows() -> None:
    cache = KVCache(1, 2, 3, np.float64)
    k0, v0 = np.arange(12.0).reshape(2, 2, 3), -np.arange(12.0).reshape(2, 2, 3)
    cache.extend(0, k0, v0)
    cache.length = 2
    for step in range(20):  # past the first buffer's 16 rows
        k, v = cache.extend(0, np.full((2, 1, 3), step), np.full((2, 1, 3), -step))
        cache.length += 1
        assert k.shape == (2, 3 + step, 3)
        assert (k[:, :2] == k0).all() and (v[:, :2] == v0).all()
        assert (k[:, 2:, 0] == np.arange(step + 1)).all()
    assert cache.layer(0)[0].shape == (2, 22, 3)
