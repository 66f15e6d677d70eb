"""cache_steps: a causal head fed one token at a time over a key/value cache, checked against
numbers worked out by hand and against every row worked out afresh."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from attncli.cache_steps import walk

EYE = np.eye(2)


def test_two_tokens_by_hand() -> None:
    # x = [[1, 0], [0, 1]], W_Q = W_K = W_V = I: q, k and v are the rows of x
    w = walk(["a", "b"], EYE, EYE, EYE, EYE)
    first, second = w.steps
    assert first.weights.tolist() == [1.0] and first.output.tolist() == [1.0, 0.0]
    # step 2: q = [0, 1] against keys [1, 0] and [0, 1]: scores [0, 1], ÷ √2, softmax
    assert second.keys.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert second.scores.tolist() == [0.0, 1.0]
    b = math.exp(1 / math.sqrt(2)) / (1 + math.exp(1 / math.sqrt(2)))  # 0.6698
    assert np.allclose(second.weights, [1 - b, b], rtol=0, atol=1e-15)
    assert second.q.tolist() == [0.0, 1.0] and second.v.tolist() == [0.0, 1.0]
    # the cache kept the first key and value; the first row did not move
    assert w.kept(1) == 0 and w.earlier_rows_moved(1) == 0
    assert second.cache_vs_fresh == 0 and second.row_vs_fresh < 1e-15
    # without the mask, "a" sees "b" once it comes: its weight on itself drops from 1 to b
    assert math.isclose(w.unmasked_moved(1), 1 - b, abs_tol=1e-15)
    assert w.work() == [(1, 1, 1, 1, 1), (2, 1, 2, 2, 4)]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    arrays(np.float64, (n, 3), elements=st.floats(-3, 3)),
    arrays(np.float64, (3, 2), elements=st.floats(-3, 3)),
    arrays(np.float64, (3, 2), elements=st.floats(-3, 3)),
    arrays(np.float64, (3, 2), elements=st.floats(-3, 3)))))
def test_the_cached_rows_are_every_row_worked_out_afresh(args) -> None:
    x, w_q, w_k, w_v = args
    w = walk([str(i) for i in range(len(x))], x, w_q, w_k, w_v)
    assert w.steps_vs_fresh() < 1e-12
    for t, s in enumerate(w.steps):
        assert s.cache_vs_fresh < 1e-12 and s.row_vs_fresh < 1e-12
        assert w.kept(t) == 0
        assert w.earlier_rows_moved(t) < 1e-12  # the mask: no earlier row sees token t
