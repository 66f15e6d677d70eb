"""attention.py against numbers worked out by hand, plus properties checked by hypothesis.

Hand arithmetic is written in the comments next to each expected value. Hypothesis runs
PROPERTY_EXAMPLES (100) examples for each of the 6 properties at the bottom, and 300 of
softmax's bits against reference_softmax, the four-temporaries version it replaced.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from attncli import weights as wts
from attncli.attention import (
    Steps,
    Variant,
    causal_mask,
    self_attention,
    softmax,
)
from attncli.attention_fast import matmul
from attncli.attention_fast import softmax as fast_softmax
from attncli.explain import explain, sinusoidal_positions
from attncli.tokens import word_level
from attncli.weights import files as weightfiles

PROPERTY_EXAMPLES = 100
TIGHT = 1e-8  # the hand numbers below carry 8+ significant decimals

# ---------------------------------------------------------------- "I love AI", by hand
# sample_weights/i-love-ai.json:
#   X:   I = [1, 0], love = [0, 1], AI = [1, 1]
#   W_Q = [[2, 0, 0, 1], [0, 1, 1, 0]]
#   W_K = [[1, 0, 1, 0], [0, 2, 0, 1]]
#   W_V = identity (2×2), so V = X
X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
W_Q = np.array([[2.0, 0, 0, 1], [0, 1, 1, 0]])
W_K = np.array([[1.0, 0, 1, 0], [0, 2, 0, 1]])
W_V = np.eye(2)


@pytest.fixture(scope="module")
def love() -> Steps:
    return self_attention(X, W_Q, W_K, W_V)


def test_the_sample_file_holds_the_worked_example(i_love_ai) -> None:
    ws = weightfiles.load(i_love_ai)
    assert ws.heads[0].w_q.tolist() == W_Q.tolist()
    assert ws.heads[0].w_k.tolist() == W_K.tolist()
    assert ws.heads[0].w_v.tolist() == W_V.tolist()
    assert {k: v.tolist() for k, v in ws.embeddings.items()} == {
        "I": [1, 0], "love": [0, 1], "AI": [1, 1]}


def test_q_k_v_by_hand(love: Steps) -> None:
    # Q = X·W_Q: a row of X picks rows of W_Q and adds them.
    #   I    = 1·[2,0,0,1] + 0·[0,1,1,0] = [2,0,0,1]
    #   love = 0·[2,0,0,1] + 1·[0,1,1,0] = [0,1,1,0]
    #   AI   = [2,0,0,1] + [0,1,1,0]     = [2,1,1,1]
    assert love.q.tolist() == [[2, 0, 0, 1], [0, 1, 1, 0], [2, 1, 1, 1]]
    # K = X·W_K: I = [1,0,1,0], love = [0,2,0,1], AI = [1,0,1,0] + [0,2,0,1] = [1,2,1,1]
    assert love.k.tolist() == [[1, 0, 1, 0], [0, 2, 0, 1], [1, 2, 1, 1]]
    # V = X·I = X
    assert love.v.tolist() == [[1, 0], [0, 1], [1, 1]]


def test_scores_by_hand(love: Steps) -> None:
    # scores[i][j] = Q(i)·K(j)
    #   I:    [2,0,0,1]·[1,0,1,0] = 2   ·[0,2,0,1] = 1   ·[1,2,1,1] = 2+1 = 3
    #   love: [0,1,1,0]·[1,0,1,0] = 1   ·[0,2,0,1] = 2   ·[1,2,1,1] = 2+1 = 3
    #   AI:   [2,1,1,1]·[1,0,1,0] = 2+1 = 3   ·[0,2,0,1] = 2+1 = 3   ·[1,2,1,1] = 2+2+1+1 = 6
    assert love.scores.tolist() == [[2, 1, 3], [1, 2, 3], [3, 3, 6]]


def test_scaled_divides_by_the_square_root_of_d_k(love: Steps) -> None:
    # d_k = 4, √4 = 2: every score is halved, exactly (powers of two).
    assert love.d_k == 4
    assert love.divisor == 2.0
    assert love.logits.tolist() == [[1, 0.5, 1.5], [0.5, 1, 1.5], [1.5, 1.5, 3]]


def test_softmax_weights_by_hand(love: Steps) -> None:
    # Row I: e^1 = 2.718281828, e^0.5 = 1.648721271, e^1.5 = 4.481689070; sum 8.848692169
    #   2.718281828 / 8.848692169 = 0.307195886
    #   1.648721271 / 8.848692169 = 0.186323723
    #   4.481689070 / 8.848692169 = 0.506480391
    # Row love is row I with the first two keys swapped (scaled [0.5, 1, 1.5]).
    # Row AI: 2·e^1.5 + e^3 = 8.963378140 + 20.085536923 = 29.048915063
    #   4.481689070 / 29.048915063 = 0.154280773,  20.085536923 / 29.048915063 = 0.691438454
    expected = [
        [0.307195886, 0.186323723, 0.506480391],
        [0.186323723, 0.307195886, 0.506480391],
        [0.154280773, 0.154280773, 0.691438454],
    ]
    np.testing.assert_allclose(love.weights, expected, rtol=0, atol=TIGHT)
    # The README's four-decimal row for I:
    assert np.round(love.weights[0], 4).tolist() == [0.3072, 0.1863, 0.5065]


def test_output_by_hand(love: Steps) -> None:
    # output = weights·V with V = X:
    #   I    = 0.307195886·[1,0] + 0.186323723·[0,1] + 0.506480391·[1,1]
    #        = [0.307195886 + 0.506480391, 0.186323723 + 0.506480391] = [0.813676277, 0.692804114]
    #   love = the same, mirrored                                      = [0.692804114, 0.813676277]
    #   AI   = [0.154280773 + 0.691438454] twice                       = [0.845719227, 0.845719227]
    expected = [[0.813676277, 0.692804114], [0.692804114, 0.813676277],
                [0.845719227, 0.845719227]]
    np.testing.assert_allclose(love.output, expected, rtol=0, atol=TIGHT)
    assert np.round(love.output[0], 4).tolist() == [0.8137, 0.6928]  # the README's numbers


def test_steps_keep_their_inputs_as_float64(love: Steps) -> None:
    assert love.x.dtype == love.w_q.dtype == love.weights.dtype == np.float64
    assert love.x.tolist() == X.tolist()
    assert love.w_k.tolist() == W_K.tolist()
    assert love.mask is None


# ---------------------------------------------------------------- softmax


def test_softmax_of_log_ratios_by_hand() -> None:
    # softmax([ln 3, 0]) = [3, 1] / 4 = [0.75, 0.25]
    np.testing.assert_allclose(softmax(np.array([[math.log(3), 0.0]])), [[0.75, 0.25]],
                               rtol=0, atol=1e-15)


@pytest.mark.parametrize(("row", "expected"), [
    ([1e30, -1e30], [1.0, 0.0]),  # exp(-2e30) underflows to exactly 0
    ([1e30, 1e30], [0.5, 0.5]),  # shifted by the max: exp(0) twice
    ([-1e30, -1e30, -1e30], [1 / 3, 1 / 3, 1 / 3]),  # huge negatives still share equally
    ([1e308, -1e308], [1.0, 0.0]),  # the shift -1e308 - 1e308 overflows to -inf: exp is 0
    ([0.0, -np.inf, 0.0], [0.5, 0.0, 0.5]),  # a masked key gets exactly 0
    ([-np.inf, 5.0, -1e30], [0.0, 1.0, 0.0]),
    ([np.inf, 1.0, np.inf], [0.5, 0.0, 0.5]),  # +inf entries share the row equally
])
def test_softmax_is_stable_at_extreme_magnitudes(row: list[float], expected: list[float]) -> None:
    out = softmax(np.array([row]))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [expected], rtol=0, atol=1e-15)
    for got, want in zip(out[0], expected, strict=True):
        if want == 0.0:
            assert got == 0.0  # exactly zero, not merely tiny


def test_a_fully_masked_row_gets_all_zero_weights_never_nan() -> None:
    # Documented in attention.py: a row with every key masked has weights of all zeros.
    out = softmax(np.array([[-np.inf, -np.inf, -np.inf], [0.0, 0.0, -np.inf]]))
    assert out.tolist() == [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0]]


def test_a_fully_masked_row_gives_a_zero_output() -> None:
    mask = np.array([[True, True, True], [False, True, True], [False, False, False]])
    s = self_attention(X, W_Q, W_K, W_V, variant=Variant(mask=mask))
    assert s.weights[0].tolist() == [0.0, 0.0, 0.0]
    assert s.output[0].tolist() == [0.0, 0.0]
    assert s.output[1].tolist() == [1.0, 0.0]  # only I visible: all weight on V(I) = [1, 0]
    assert np.isfinite(s.output).all()


def test_softmax_does_not_change_when_a_constant_is_added() -> None:
    row = np.array([[1.0, 0.5, 1.5]])
    np.testing.assert_allclose(softmax(row + 1000.0), softmax(row), rtol=0, atol=1e-15)


def reference_softmax(scaled: np.ndarray) -> np.ndarray:
    """softmax as it was first written: the finite rows copied out, shifted, exp'd and divided
    (four n×n temporaries), the +inf rows shared, the rest left zero. The lesson's softmax and
    the fast path's, in place, must give the same bits."""
    scaled = np.asarray(scaled)
    if scaled.dtype not in (np.float32, np.float64):
        scaled = scaled.astype(np.float64)
    out = np.zeros_like(scaled)
    row_max = scaled.max(axis=-1, keepdims=True)
    finite_rows = np.isfinite(row_max[..., 0])
    if finite_rows.any():
        with np.errstate(over="ignore"):
            shifted = scaled[finite_rows] - row_max[finite_rows]
        e = np.exp(shifted)
        out[finite_rows] = e / e.sum(axis=-1, keepdims=True)
    inf_rows = row_max[..., 0] == np.inf
    if inf_rows.any():
        top = scaled[inf_rows] == np.inf
        out[inf_rows] = top / top.sum(axis=-1, keepdims=True)
    return out


softmax_entries = (st.floats(-50, 50, width=32) | st.floats(-1e300, 1e300)
                   | st.sampled_from([-np.inf, np.inf, np.nan, 0.0, -0.0, 1e308, -1e308]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([np.float64, np.float32, np.int64]),
       hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9), st.data())
def test_softmax_gives_the_same_bits_as_the_reference(dtype, shape, data) -> None:
    # any shape (one row, a matrix, a batch of heads), float64, float32 or integers, with
    # masked (-inf) entries, +inf, NaN and magnitudes near float64's limits
    with np.errstate(all="ignore"):  # casting 1e300 to float32 gives inf, as wanted
        scaled = data.draw(hnp.arrays(np.float64, shape, elements=softmax_entries)).astype(
            dtype) if dtype is not np.int64 else data.draw(hnp.arrays(dtype, shape))
        want = reference_softmax(scaled)
    got = softmax(scaled)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    assert not np.isnan(got).any()
    if dtype is not np.int64:  # the fast path's, in place, on the floats it is given
        assert fast_softmax(scaled).tobytes() == want.tobytes()


def test_softmax_gives_the_same_bits_as_the_reference_on_a_large_batch() -> None:
    # the sizes a model gives (heads × n × n, float32) and a long seeded text's (float64),
    # with a masked upper triangle and a fully masked row
    rng = np.random.default_rng(7)
    for shape, dtype in (((14, 300, 300), np.float32), ((700, 700), np.float64)):
        scaled = (rng.normal(0, 4, shape)).astype(dtype)
        scaled[..., np.triu_indices(shape[-1], 1)[0], np.triu_indices(shape[-1], 1)[1]] = -np.inf
        scaled[..., 3, :] = -np.inf
        assert softmax(scaled).tobytes() == reference_softmax(scaled).tobytes()
        assert softmax(scaled.T).tobytes() == reference_softmax(scaled.T).tobytes()
        assert fast_softmax(scaled).tobytes() == reference_softmax(scaled).tobytes()


# ---------------------------------------------------------------- causal mask


def test_causal_mask_hides_exactly_the_later_tokens() -> None:
    assert causal_mask(3).tolist() == [[False, True, True], [False, False, True],
                                       [False, False, False]]
    assert causal_mask(1).tolist() == [[False]]
    assert int(causal_mask(5).sum()) == 10  # 5·4/2 entries above the diagonal


def test_causal_attention_by_hand() -> None:
    s = self_attention(X, W_Q, W_K, W_V, variant=Variant(mask=causal_mask(3)))
    # Before the softmax: -inf above the diagonal, the unmasked scaled scores elsewhere.
    assert s.logits.tolist() == [[1.0, -np.inf, -np.inf], [0.5, 1.0, -np.inf], [1.5, 1.5, 3.0]]
    # After: exactly 0 above the diagonal.
    assert s.weights[0].tolist() == [1.0, 0.0, 0.0]  # I sees only itself
    assert s.weights[1, 2] == 0.0
    # love: softmax([0.5, 1]) = [1, e^0.5] / (1 + e^0.5) = 1 / 2.648721271 = 0.377540669,
    #       and 1 - 0.377540669 = 0.622459331
    np.testing.assert_allclose(s.weights[1, :2], [0.377540669, 0.622459331], rtol=0, atol=TIGHT)
    # AI sees everything: the same row as without a mask
    np.testing.assert_allclose(s.weights[2], [0.154280773, 0.154280773, 0.691438454],
                               rtol=0, atol=TIGHT)
    # outputs: I = V(I) = [1, 0]; love = 0.377540669·[1,0] + 0.622459331·[0,1]
    np.testing.assert_allclose(s.output[:2], [[1.0, 0.0], [0.377540669, 0.622459331]],
                               rtol=0, atol=TIGHT)
    # The scores themselves are never masked: only scaled and weights are.
    assert s.scores.tolist() == [[2, 1, 3], [1, 2, 3], [3, 3, 6]]
    assert s.mask is not None and s.mask.tolist() == causal_mask(3).tolist()


# ---------------------------------------------------------------- positions


def test_sinusoidal_positions_by_hand() -> None:
    # d_model = 4: column pairs (0, 1) use pos / 10000^(0/4) = pos,
    #              columns (2, 3) use pos / 10000^(2/4) = pos / 100.
    pe = sinusoidal_positions(3, 4)
    assert pe.shape == (3, 4)
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0]  # sin 0, cos 0, sin 0, cos 0
    # pos 1: sin 1 = 0.8414709848, cos 1 = 0.5403023059, sin 0.01 = 0.0099998333,
    #        cos 0.01 = 0.9999500004
    np.testing.assert_allclose(pe[1], [0.8414709848, 0.5403023059, 0.0099998333, 0.9999500004],
                               rtol=0, atol=1e-10)
    # pos 2: sin 2 = 0.9092974268, cos 2 = -0.4161468365, sin 0.02 = 0.0199986667,
    #        cos 0.02 = 0.9998000067
    np.testing.assert_allclose(pe[2], [0.9092974268, -0.4161468365, 0.0199986667, 0.9998000067],
                               rtol=0, atol=1e-10)


def test_sinusoidal_positions_with_an_odd_d_model() -> None:
    # d_model = 3: the last column is a sine with 10000^(2/3) = 464.1588834:
    #   pos 1: sin(1 / 464.1588834) = sin(0.0021544347) = 0.0021544330
    pe = sinusoidal_positions(2, 3)
    assert pe.shape == (2, 3)
    assert pe[0].tolist() == [0.0, 1.0, 0.0]
    np.testing.assert_allclose(pe[1], [0.8414709848, 0.5403023059, 0.0021544330],
                               rtol=0, atol=1e-10)


# ---------------------------------------------------------------- matmul


def test_matmul_small_and_large_paths_agree_with_numpy() -> None:
    rng = np.random.default_rng(0)
    small_a, small_b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    big_a, big_b = rng.standard_normal((80, 40)), rng.standard_normal((40, 30))  # 96,000 > 65,536
    np.testing.assert_allclose(matmul(small_a, small_b), small_a @ small_b, rtol=1e-13)
    np.testing.assert_allclose(matmul(big_a, big_b), big_a @ big_b, rtol=1e-12)
    assert matmul([[1, 2]], [[3], [4]]).tolist() == [[11.0]]  # 1·3 + 2·4


# ---------------------------------------------------------------- properties

finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def problems(draw, *, min_n: int = 1):
    """A random (x, w_q, w_k, w_v): n tokens, small sizes, moderate values."""
    n = draw(st.integers(min_n, 6))
    d_model, d_k, d_v = (draw(st.integers(1, 5)) for _ in range(3))
    x = draw(hnp.arrays(np.float64, (n, d_model), elements=finite))
    w_q = draw(hnp.arrays(np.float64, (d_model, d_k), elements=finite))
    w_k = draw(hnp.arrays(np.float64, (d_model, d_k), elements=finite))
    w_v = draw(hnp.arrays(np.float64, (d_model, d_v), elements=finite))
    return x, w_q, w_k, w_v


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(problems())
def test_every_weights_row_is_a_distribution(p) -> None:
    s = self_attention(*p)
    assert (s.weights >= 0).all()
    np.testing.assert_allclose(s.weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    n = p[0].shape[0]
    assert s.scores.shape == s.logits.shape == s.weights.shape == (n, n)
    assert s.output.shape == (n, p[3].shape[1])


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(problems(), st.data())
def test_masked_entries_are_exactly_zero(p, data) -> None:
    n = p[0].shape[0]
    mask = data.draw(hnp.arrays(np.bool_, (n, n)))
    s = self_attention(*p, variant=Variant(mask=mask))
    assert (s.weights[mask] == 0.0).all()
    assert np.isneginf(s.logits[mask]).all()
    assert np.isfinite(s.weights).all() and np.isfinite(s.output).all()
    visible_rows = ~mask.all(axis=1)
    np.testing.assert_allclose(s.weights[visible_rows].sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert (s.output[~visible_rows] == 0.0).all()  # nothing to attend to: a zero vector


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(problems())
def test_causal_weights_are_zero_above_the_diagonal(p) -> None:
    n = p[0].shape[0]
    s = self_attention(*p, variant=Variant(mask=causal_mask(n)))
    assert (np.triu(s.weights, k=1) == 0.0).all()
    np.testing.assert_allclose(s.weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert s.weights[0, 0] == 1.0  # the first token can only see itself


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(problems(), st.data())
def test_permuting_the_tokens_permutes_every_matrix(p, data) -> None:
    x, w_q, w_k, w_v = p
    perm = np.array(data.draw(st.permutations(range(x.shape[0]))), dtype=int)
    s, t = self_attention(x, w_q, w_k, w_v), self_attention(x[perm], w_q, w_k, w_v)
    tol = {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(t.q, s.q[perm], **tol)
    np.testing.assert_allclose(t.scores, s.scores[perm][:, perm], **tol)
    np.testing.assert_allclose(t.weights, s.weights[perm][:, perm], **tol)
    np.testing.assert_allclose(t.output, s.output[perm], **tol)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(problems())
def test_the_same_input_gives_byte_identical_steps(p) -> None:
    a, b = self_attention(*p), self_attention(*(arr.copy() for arr in p))
    for name in ("q", "k", "v", "scores", "logits", "weights", "output"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**32))
def test_multi_head_shapes(heads: int, per_head: int, d_v: int, seed: int) -> None:
    d_model = heads * per_head
    ws = wts.seeded(seed, d_model, per_head, d_v, heads)
    tokens = word_level("the cat sat on the mat")
    ex = explain("the cat sat on the mat", tokens, ws, seed=seed)
    n = len(tokens)
    assert n == 6
    assert [(hs.layer, hs.head) for hs in ex.heads] == [(0, h) for h in range(heads)]
    for hs in ex.heads:
        s = hs.steps
        assert s.x.shape == (n, d_model)
        assert s.w_q.shape == s.w_k.shape == (d_model, per_head)
        assert s.w_v.shape == (d_model, d_v)
        assert s.q.shape == s.k.shape == (n, per_head)
        assert s.v.shape == s.output.shape[:1] + (d_v,) == (n, d_v)
        assert s.weights.shape == (n, n)
        np.testing.assert_allclose(s.weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    if heads > 1:  # each head has its own weights drawn from the seed
        assert not np.array_equal(ex.heads[0].steps.w_q, ex.heads[1].steps.w_q)


# ---------------------------------------------------------------- variants, as data


def test_a_plain_variant_is_the_lesson() -> None:
    plain = self_attention(X, W_Q, W_K, W_V)
    same = self_attention(X, W_Q, W_K, W_V, variant=Variant())
    for name in ("scores", "logits", "weights", "output"):
        assert np.array_equal(getattr(plain, name), getattr(same, name))
    assert same.variant.scale is None and same.capped is None and same.score_bias is None
    assert same.divisor == 2.0  # √4


def test_a_models_own_scale_multiplies_the_scores() -> None:
    s = self_attention(X, W_Q, W_K, W_V, variant=Variant(scale=0.25))
    # I's scores [2, 1, 3] × 0.25 = [0.5, 0.25, 0.75]
    np.testing.assert_allclose(s.logits[0], [0.5, 0.25, 0.75], rtol=0, atol=1e-15)
    assert s.variant.scale == 0.25 and s.divisor == 4.0


def test_soft_capping_squeezes_the_scaled_scores() -> None:
    s = self_attention(X, W_Q, W_K, W_V, variant=Variant(softcap=1.0))
    # AI's scaled scores [1.5, 1.5, 3] -> tanh: [0.905148, 0.905148, 0.995055]
    np.testing.assert_allclose(s.capped[2], np.tanh([1.5, 1.5, 3.0]), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(s.logits, s.capped)
    assert np.abs(s.logits).max() < 1.0


def test_a_score_bias_is_added_before_the_mask() -> None:
    bias = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    s = self_attention(X, W_Q, W_K, W_V, variant=Variant(score_bias=bias, mask=causal_mask(3)))
    # love: scaled [0.5, 1.0] + bias [3, 4] = [3.5, 5.0]; its third key is masked
    np.testing.assert_allclose(s.logits[1, :2], [3.5, 5.0], rtol=0, atol=1e-15)
    assert s.logits[1, 2] == -np.inf and s.weights[1, 2] == 0.0
    np.testing.assert_array_equal(s.score_bias, bias)


def test_qk_norm_runs_before_the_rotation_and_is_kept() -> None:
    def unit(q: np.ndarray, k: np.ndarray):  # each row scaled to length 1
        return (q / np.linalg.norm(q, axis=-1, keepdims=True),
                k / np.linalg.norm(k, axis=-1, keepdims=True))

    flip = lambda t: t[..., ::-1]  # noqa: E731  a stand-in rotation
    s = self_attention(X, W_Q, W_K, W_V, variant=Variant(qk_norm=unit, rotate=flip))
    np.testing.assert_array_equal(s.q_projected, X @ W_Q)
    np.testing.assert_allclose(np.linalg.norm(s.q_unrotated, axis=1), 1.0, atol=1e-15)
    np.testing.assert_array_equal(s.q, s.q_unrotated[:, ::-1])


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(st.integers(1, 4), st.integers(1, 7), st.integers(1, 6), st.integers(0, 2**31 - 1),
       st.booleans(), st.sampled_from([None, 0.3]), st.sampled_from([None, 2.0]))
def test_every_head_at_once_in_float32_matches_one_head_in_float64(
        heads: int, n: int, d_k: int, seed: int, masked: bool, scale, softcap) -> None:
    from attncli.attention import attend

    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((heads, n, d_k)) for _ in range(3))
    bias = rng.standard_normal((heads, n, n))
    mask = causal_mask(n) if masked else None
    batch = attend(*(t.astype(np.float32) for t in (q, k, v)),
                   Variant(scale=scale, softcap=softcap, score_bias=bias, mask=mask))
    for h in range(heads):
        one = attend(q[h], k[h], v[h], Variant(scale=scale, softcap=softcap,
                                                score_bias=bias[h], mask=mask))
        np.testing.assert_allclose(batch[2][h], one[2], rtol=0, atol=1e-5)  # weights
        np.testing.assert_allclose(batch[3][h], one[3], rtol=0, atol=1e-5)  # output
    assert batch[2].dtype == np.float32


def test_gpt2_can_scale_by_the_layer_number(tmp_path) -> None:
    import json
    import shutil
    from pathlib import Path

    from attncli.models import load_model

    fixture = Path(__file__).parent / "fixtures" / "models" / "gpt2"
    shutil.copytree(fixture, tmp_path / "gpt2")
    config = json.loads((tmp_path / "gpt2" / "config.json").read_text())
    config["scale_attn_by_inverse_layer_idx"] = True
    (tmp_path / "gpt2" / "config.json").write_text(json.dumps(config))
    plain, scaled = load_model(str(fixture)), load_model(str(tmp_path / "gpt2"))
    ids = [t.id for t in plain.tokens("The animal was tired")]
    a, b = plain.attention(ids, [1], [0])[0].steps, scaled.attention(ids, [1], [0])[0].steps
    hd = a.d_k
    assert b.variant.scale == pytest.approx(1 / math.sqrt(hd) / 2)  # layer 1: divided by 2 as well
    keep = ~b.mask
    np.testing.assert_allclose(b.logits[keep], b.scores[keep] / math.sqrt(hd) / 2, atol=1e-12)
    assert a.variant.scale is None and not np.allclose(a.weights, b.weights)


def test_gpt2_layer_scale_matches_transformers_and_fails_without_it(tmp_path) -> None:
    import json
    import shutil
    from pathlib import Path

    from attncli.models import load_model

    fixture = Path(__file__).parent / "fixtures" / "models" / "gpt2-layer-scale"
    with np.load(fixture / "reference.npz", allow_pickle=False) as npz:
        ids, expected = npz["input_ids"].tolist(), npz["attentions"]

    def worst(path) -> float:
        model = load_model(str(path))
        steps = model.attention(ids, list(range(model.n_layers)), list(range(model.n_heads)))
        return max(np.abs(hs.steps.weights - expected[hs.layer, hs.head]).max() for hs in steps)

    assert worst(fixture) <= 1e-5
    off = shutil.copytree(fixture, tmp_path / "off")
    config = json.loads((off / "config.json").read_text())
    config["scale_attn_by_inverse_layer_idx"] = False
    (off / "config.json").write_text(json.dumps(config))
    assert worst(off) > 1e-3  # layer 1's scores are no longer halved: parity is lost
