"""A long text on a screen: only the query rows a view draws are worked out, and each has
exactly the numbers of the whole computation (attention_fast.BLOCK, explain(rows=...))."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from conftest import invoke, ok, ok_json, render_text
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli import attention, attention_fast
from attncli import weights as wts
from attncli.attention import Variant, causal_mask
from attncli.attention_fast import Kept, attend, row_of, rows_of, self_attention, with_rows
from attncli.explain import explain, with_focus, with_pair
from attncli.render import explain as render
from attncli.render.widgets import ROWS_DRAWN
from attncli.sections import SECTIONS
from attncli.tokens import word_level

MATRICES = ("scores", "logits", "weights", "output", "capped", "uncapped", "score_bias", "mask")


def same_rows(part: attention.Steps, whole: attention.Steps, rows) -> None:
    """part's matrices are whole's rows `rows`, bit for bit; x, q, k and v are whole's."""
    assert isinstance(part, Kept) and rows_of(part).tolist() == list(rows)
    for name in MATRICES:
        a, b = getattr(part, name), getattr(whole, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.shape == (len(rows), *b.shape[1:]), name
            assert np.array_equal(a, b[list(rows)]), name
    for name in ("x", "q", "k", "v"):
        assert np.array_equal(getattr(part, name), getattr(whole, name)), name


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 40), block=st.integers(1, 9),
       seed=st.integers(0, 2**32 - 1), causal=st.booleans(), softcap=st.booleans(),
       bias=st.booleans(), data=st.data())
def test_any_rows_have_the_whole_computations_bits(n, m, block, seed, causal, softcap, bias,
                                                   data) -> None:
    # small blocks, so that rows fall in many of them; the keys are another length (m) unless
    # the mask is causal, which needs the queries' own
    m = n if causal else m
    rng = np.random.default_rng(seed)
    x, src = rng.normal(0, 1, (n, 5)), rng.normal(0, 1, (m, 5))
    w = [rng.normal(0, 1, (5, 3)) for _ in range(3)]
    mask = rng.random((n, m)) < 0.3 if data.draw(st.booleans()) else None
    variant = Variant(causal=causal, mask=mask, softcap=2.0 if softcap else None,
                      score_bias=rng.normal(0, 1, (n, m)) if bias else None)
    rows = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1)))
    more = data.draw(st.lists(st.integers(0, n - 1)))
    # the whole computation is one block here; the rows come out of many small ones (the
    # products are small enough to be summed in a fixed order, so their bits are the same)
    whole = self_attention(x, *w, variant=variant, source=None if causal else src)
    with mock.patch.object(attention_fast, "BLOCK", block):
        part = self_attention(x, *w, variant=variant, source=None if causal else src,
                              rows=rows)
        same_rows(part, whole, rows)
        grown = with_rows(part, more)
        same_rows(grown, whole, sorted({*rows, *more}))
        blocked = self_attention(x, *w, variant=variant, source=None if causal else src)
    for name in MATRICES:  # every row, block by block: the one-block numbers
        a, b = getattr(blocked, name), getattr(whole, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
    assert row_of(grown, rows[0]) == sorted({*rows, *more}).index(rows[0])


def test_the_whole_computation_in_blocks_is_the_one_block_computation() -> None:
    # past BLOCK queries the steps run block by block (here 100 at a time, through BLAS);
    # each row is what one big block gives, to rounding
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(0, 1, (300, 4)) for _ in range(3))
    with mock.patch.object(attention_fast, "BLOCK", 100):
        blocks = attend(q, k, v, Variant(mask=causal_mask(300)))
    one = attend(q, k, v, Variant(causal=True))
    for a, b in zip(blocks[:4], one[:4], strict=True):
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=1e-300)


def test_row_of_finds_a_kept_row_and_refuses_one_that_was_not_worked_out() -> None:
    rng = np.random.default_rng(1)
    s = self_attention(rng.normal(0, 1, (10, 4)), *(rng.normal(0, 1, (4, 2)) for _ in range(3)),
                       rows=[7, 2, 2])
    assert rows_of(s).tolist() == [2, 7] and s.weights.shape == (2, 10)
    assert (row_of(s, 2), row_of(s, 7)) == (0, 1)
    with pytest.raises(IndexError):
        row_of(s, 3)
    whole = self_attention(s.x, s.w_q, s.w_k, s.w_v)
    assert not isinstance(whole, Kept) and row_of(whole, 3) == 3  # every row: its own index
    assert rows_of(whole).tolist() == list(range(10))


LONG = " ".join(f"w{i % 97}" for i in range(1200))  # three blocks of queries


@pytest.fixture(scope="module")
def long_runs():
    ws = wts.seeded(0, 8, 4, 4, 2)
    tokens = word_level(LONG)
    args = {"seed": 0, "causal": True, "positions": "sinusoidal"}
    return explain(LONG, tokens, ws, **args), explain(LONG, tokens, ws, rows=ROWS_DRAWN, **args)


def test_a_long_text_keeps_the_drawn_rows_with_the_whole_computations_numbers(
        long_runs) -> None:
    whole, part = long_runs
    for hw, hp in zip(whole.heads, part.heads, strict=True):
        same_rows(hp.steps, hw.steps, range(ROWS_DRAWN))
    assert part.joined.output.shape == (ROWS_DRAWN, 8)  # step 6 joins the rows kept
    assert np.array_equal(part.joined.output, whole.joined.output[:ROWS_DRAWN])


def test_a_far_focus_word_or_pair_gets_its_row_worked_out(long_runs) -> None:
    whole, part = long_runs
    assert attention_fast.BLOCK * 2 < 1100
    far = [1100, 1199]  # in the third block, which the screen's rows never touched
    fw, fp = with_focus(whole, far), with_focus(part, far)
    for key, rows in fw.focus_rows.items():
        for a, b in zip(rows, fp.focus_rows[key], strict=True):
            for name in ("scaled", "exps", "weights", "masked"):
                assert np.array_equal(getattr(a, name), getattr(b, name))
            assert a.total == b.total and a.shift == b.shift
    for hs in fp.heads:
        same_rows(hs.steps, whole.heads[hs.head].steps, [*range(ROWS_DRAWN), *far])
    pw, pp = with_pair(whole, 1190, 12), with_pair(part, 1190, 12)
    for name in ("score", "weight", "divided", "scaled"):
        assert getattr(pw.pair, name) == getattr(pp.pair, name)
    assert np.array_equal(pw.pair.contributions, pp.pair.contributions)
    assert np.array_equal(pw.pair.output, pp.pair.output)


@pytest.mark.parametrize("heatmap", [False, True])
def test_a_long_text_draws_the_same_screen_from_the_rows_it_kept(long_runs,
                                                                  heatmap: bool) -> None:
    whole, part = long_runs
    for focus in (None, [0, 1100]):
        w, p = (whole, part) if focus is None else (with_focus(whole, focus),
                                                    with_focus(part, focus))
        views = [render_text(render.explanation(ex, show=list(SECTIONS),
                                                heatmap=heatmap)) for ex in (w, p)]
        assert views[0] == views[1]
        assert "… 1121 more rows" in views[1] if heatmap else "… 1161 more rows" in views[1]


def test_attn_explain_keeps_the_rows_of_8192_tokens_it_draws_and_every_row_for_json() -> None:
    text = " ".join(f"w{i % 97}" for i in range(8192))
    ws = wts.seeded(0, 8, 4, 4, 1)
    ex = explain(text, word_level(text), ws, seed=0, causal=True, max_tokens=8192,
                 rows=ROWS_DRAWN)
    s = ex.heads[0].steps
    assert s.weights.shape == s.scores.shape == s.mask.shape == (ROWS_DRAWN, 8192)
    assert s.q.shape == (8192, 4)  # q, k and v keep every token: n × d
    out = ok(invoke("explain", "-", "--max-tokens", "8192", "--heatmap", "--causal",
                    "--show", "all", "--focus", "#8000", stdin=text))
    assert "“w46” (token 8000) attends to:" in out and "… 8113 more rows" in out
    short = " ".join(text.split()[:300])
    doc = ok_json(invoke("explain", "-", "--json", "--causal", stdin=short))
    assert [len(doc["heads"][0][name]) for name in ("scores", "weights", "output")] == [300] * 3


def test_the_header_quotes_a_long_text_cut_at_a_word_with_its_length(long_runs) -> None:
    header = render_text(render.explanation(long_runs[1], show=[])).split("\n\n")[0]
    assert f" …” ({len(LONG):,} characters) · 1200 tokens" in " ".join(header.split())
    quoted = " ".join(header.split()).split("“")[1].split(" …”")[0]
    assert LONG.startswith(quoted + " ") and len(quoted) <= 200  # whole words only
    short = render_text(render.explanation(with_focus(long_runs[1], [0]), show=[]))
    assert "characters)" in short  # the same header whatever is drawn below it
