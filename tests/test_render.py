"""render.py at a fixed width of 100 columns, on a console with no colour.

The numbers the views show are worked out by hand for sample_weights/animal-tired.json:
  X: The = determiner, animal = noun + animate, was = verb, tired = adjective
  Q = X·W_Q: The [2.6, 0, 0, 0], animal [0, 0, 2.2, 0], was [0, 0, 1, 0], tired [1.8, 1.6, 0, 0]
  K = X·W_K: The [0, 0, 0, 1],   animal [1, 1, 0, 0],   was [0, 0, 0, 1], tired [0, 0, 1, 0]
  scores: The [0, 2.6, 0, 0], animal [0, 0, 0, 2.2], was [0, 0, 0, 1], tired [0, 3.4, 0, 0]
  scaled (÷ √4 = 2): The [0, 1.3, 0, 0], animal [0, 0, 0, 1.1], was [0, 0, 0, 0.5],
                     tired [0, 1.7, 0, 0]
  weights, row tired: e^1.7 = 5.473947 over 5.473947 + 3 = 8.473947: animal 0.645974,
                      the other three 1 / 8.473947 = 0.118009 each
"""

from __future__ import annotations

import re
import warnings
from unittest import mock

import numpy as np
import pytest
from conftest import ANIMAL_TIRED, I_LOVE_AI, WIDTH, invoke, render_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from attncli import weights as wts
from attncli.explain import Explanation, explain, with_focus
from attncli.lookup import find_all
from attncli.render import explain as render
from attncli.render import heatmap, widgets
from attncli.tokens import word_level
from attncli.weights import files as weightfiles


def animal(**kwargs) -> Explanation:
    text = "The animal was tired"
    return explain(text, word_level(text), weightfiles.load(ANIMAL_TIRED), seed=0, **kwargs)


def love_ai(**kwargs) -> Explanation:
    return explain("I love AI", word_level("I love AI"), weightfiles.load(I_LOVE_AI), seed=0,
                   **kwargs)


def seeded(text: str, *, heads: int = 1, **kwargs) -> Explanation:
    per_head = 8 // heads if heads > 1 else 4
    return explain(text, word_level(text), wts.seeded(0, 8, per_head, per_head, heads), seed=0,
                   **kwargs)


def shown(ex: Explanation, *, focus: str | None = None, **kwargs) -> str:
    """The view without its header (tested on its own), with --focus looked up first."""
    if focus is not None:
        ex = with_focus(ex, find_all(ex, focus, "focus"))
    return render_text(render.explanation(ex, header=False, **kwargs))


def block(text: str, title: str, rows: int) -> list[list[str]]:
    """The `rows` lines under a matrix title and its header line, split into cells."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(title))
    return [line.split() for line in lines[at + 2 : at + 2 + rows]]


def assert_fits(text: str, width: int = WIDTH) -> None:
    widest = max(cell_len(line) for line in text.splitlines())
    assert widest <= width, widest


# ---------------------------------------------------------------- the sections


SECTION_MARKS = [
    "Tokens (word-level)",
    "Step 1 · Embeddings X",
    "X (4×6)",
    "Step 2a · The weight matrices",
    "W_Q (6×4)", "W_K (6×4)", "W_V (6×4)",
    "Step 2b · Queries, keys and values",
    "Q (4×4)", "K (4×4)", "V (4×4)",
    "Step 3 · Scores = Q·Kᵀ",
    "Scores (4×4)",
    "Step 4a · Scaled = scores / √d_k",
    "Scaled (4×4)",
    "Step 4b · Attention weights = softmax(scaled)",
    "Weights (4×4); each row sums to 1",
    "Where each token looks",
    "“The” attends to:", "“animal” attends to:", "“was” attends to:", "“tired” attends to:",
    "Step 5 · Output = weights·V",
    "Output (4×4)",
]


def test_sections_come_in_the_lessons_order() -> None:
    out = shown(animal())
    places = [out.index(mark) for mark in SECTION_MARKS]
    assert places == sorted(places)


def test_no_line_is_wider_than_the_console() -> None:
    assert_fits(shown(animal()))
    assert_fits(shown(seeded("the quick brown fox jumps over the lazy dog " * 4, heads=2)))
    assert_fits(shown(love_ai(causal=True, positions="sinusoidal"), precision=10))


def test_the_scaled_step_states_its_divisor() -> None:
    assert "Scaled = scores / √d_k = scores / √4 = scores / 2.000" in shown(animal())
    # d_k = 2 (seeded, d_model 4): √2 = 1.414…
    ex = explain("a b", word_level("a b"), wts.seeded(0, 4, 2, 2, 1), seed=0)
    assert "scores / √2 = scores / 1.414" in shown(ex, show=["scaled"])


def test_rows_are_labelled_by_token_and_columns_by_the_files_dims() -> None:
    out = shown(animal(), show=["x"])
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("X (4×6)"))
    assert lines[at + 1].split() == ["noun", "animate", "adjective", "verb", "determiner",
                                     "pronoun"]
    assert block(out, "X (4×6)", 4) == [
        ["The", "0.00", "0.00", "0.00", "0.00", "1.00", "0.00"],
        ["animal", "1.00", "1.00", "0.00", "0.00", "0.00", "0.00"],
        ["was", "0.00", "0.00", "0.00", "1.00", "0.00", "0.00"],
        ["tired", "0.00", "0.00", "1.00", "0.00", "0.00", "0.00"],
    ]
    w = shown(animal(), show=["w"])
    # W's rows are the dims too: the adjective row of W_Q is [1.8, 1.6, 0, 0]
    adjective = next(line for line in w.splitlines() if line.startswith("adjective"))
    assert adjective.split()[1:5] == ["1.80", "1.60", "0.00", "0.00"]


def test_without_dims_the_columns_are_numbered() -> None:
    out = shown(seeded("a b"), show=["x"])
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("X (2×8)"))
    assert lines[at + 1].split() == [f"d{i}" for i in range(8)]


def test_q_k_and_scores_show_the_hand_numbers() -> None:
    out = shown(animal(), show=["qkv", "scores", "scaled"])
    q_rows = [row[:5] for row in block(out, "Q (4×4)", 4)]  # Q is the first of three blocks
    assert q_rows == [["The", "2.60", "0.00", "0.00", "0.00"],
                      ["animal", "0.00", "0.00", "2.20", "0.00"],
                      ["was", "0.00", "0.00", "1.00", "0.00"],
                      ["tired", "1.80", "1.60", "0.00", "0.00"]]
    assert block(out, "Scores (4×4)", 4)[3] == ["tired", "0.00", "3.40", "0.00", "0.00"]
    assert block(out, "Scaled (4×4)", 4)[3] == ["tired", "0.00", "1.70", "0.00", "0.00"]


def test_softmax_rows_mark_their_largest_weight() -> None:
    out = shown(animal(), show=["softmax"])
    assert block(out, "Weights (4×4)", 4) == [
        ["The", "0.15", "0.55*", "0.15", "0.15"],  # e^1.3 / (e^1.3 + 3) = 0.550
        ["animal", "0.17", "0.17", "0.17", "0.50*"],  # e^1.1 / (e^1.1 + 3) = 0.500
        ["was", "0.22", "0.22", "0.22", "0.35*"],  # e^0.5 / (e^0.5 + 3) = 0.355
        ["tired", "0.12", "0.65*", "0.12", "0.12"],  # 0.646
    ]
    assert "* marks the largest weight in each row" in out


def test_a_tie_marks_every_largest_weight_and_an_even_row_none() -> None:
    values = np.array([[0.25, 0.25, 0.25, 0.25],   # even: no largest
                       [0.4, 0.1, 0.4, 0.1],       # a tie: both marked
                       [0.1, 0.7, 0.1, 0.1]])      # one
    out = render_text(widgets.Matrix("W", ["even", "tie", "one"], ["a", "b", "c", "d"], values, 2,
                                     mark_row_max=True), width=80)
    cells = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert cells == {"even": ["0.25", "0.25", "0.25", "0.25"],
                     "tie": ["0.40*", "0.10", "0.40*", "0.10"],
                     "one": ["0.10", "0.70*", "0.10", "0.10"]}


def test_output_rows() -> None:
    # tired: 0.645974·V(animal) + 0.118009·(V(The) + V(was) + V(tired))
    #      = [0.646, 0.646, 0, 0] + [0, 0, 0.118, 0.236] = [0.65, 0.65, 0.12, 0.24]
    out = shown(animal(), show=["output"])
    assert block(out, "Output (4×4)", 4)[3] == ["tired", "0.65", "0.65", "0.12", "0.24"]


def test_precision_sets_the_decimal_places() -> None:
    out = shown(love_ai(), show=["softmax", "output"], precision=4)
    assert block(out, "Weights (3×3)", 3)[0] == ["I", "0.3072", "0.1863", "0.5065*"]
    assert block(out, "Output (3×2)", 3)[0] == ["I", "0.8137", "0.6928"]
    zero = shown(love_ai(), show=["scaled"], precision=0)
    assert block(zero, "Scaled (3×3)", 3)[2] == ["AI", "2", "2", "3"]  # 1.5 rounds to even


def test_show_prints_only_the_chosen_sections() -> None:
    out = shown(animal(), show=["scores", "softmax"])
    assert "Scores (4×4)" in out and "Weights (4×4)" in out
    for absent in ("Tokens", "Step 1", "W_Q", "Q (4×4)", "Scaled (4×4)", "attends to",
                   "Output"):
        assert absent not in out


def test_the_tokens_table() -> None:
    out = shown(animal(), show=["tokens"])
    rows = [line.split() for line in out.splitlines()[2:6]]
    assert out.splitlines()[1].split() == ["#", "token", "id", "start", "end"]
    assert rows == [["0", "The", "1", "0", "3"], ["1", "animal", "2", "4", "10"],
                    ["2", "was", "3", "11", "14"], ["3", "tired", "4", "15", "20"]]


# ---------------------------------------------------------------- the lesson's chart


def test_focus_tired_draws_the_lessons_chart() -> None:
    out = shown(animal(), show=["bars"], focus="tired")
    out = out[out.index("“tired” attends to:"):]  # after the softmax by hand
    lines = [line.rstrip() for line in out.splitlines() if line.strip()]
    # the README's chart: 0.645974 · 24 cells · 8 = 124 eighths = 15 full cells and a half
    assert lines == [
        "“tired” attends to:",
        "   The ██▉                       11.8%",
        "animal ███████████████▌          64.6%",
        "   was ██▉                       11.8%",
        " tired ██▉                       11.8%",
    ]


def chart(out: str) -> dict[str, float]:
    """A single bar chart read back: key label -> percentage."""
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    return {row[0]: float(row[-1].rstrip("%")) for row in rows}


@pytest.mark.parametrize(("query", "best", "pct"), [
    ("The", "animal", 55.0),  # e^1.3 / (e^1.3 + 3) = 3.669297 / 6.669297 = 0.5502
    ("animal", "tired", 50.0),  # e^1.1 / (e^1.1 + 3) = 3.004166 / 6.004166 = 0.5003
    ("was", "tired", 35.5),  # e^0.5 / (e^0.5 + 3) = 1.648721 / 4.648721 = 0.3547
    ("tired", "animal", 64.6),
])
def test_each_chart_gives_the_largest_bar_to_the_hand_worked_key(query: str, best: str,
                                                                 pct: float) -> None:
    out = shown(animal(), show=["bars"], focus=query)
    out = out[out.index(f"“{query}” attends to:"):]  # after the softmax by hand
    assert out.splitlines()[0] == f"“{query}” attends to:"
    bars = chart(out)
    assert list(bars) == ["The", "animal", "was", "tired"]
    assert max(bars, key=bars.get) == best
    assert bars[best] == pct
    assert sum(bars.values()) == pytest.approx(100, abs=0.2)


def test_without_focus_every_token_gets_a_chart() -> None:
    out = shown(animal(), show=["bars"])
    assert out.count("attends to:") == 4
    assert out.count("64.6%") == 1 and out.count("55.0%") == 1


@pytest.mark.parametrize(("fraction", "expected"), [
    (0.0, " " * 24), (1.0, "█" * 24), (0.5, "█" * 12 + " " * 12),
    (1 / 48, "▌" + " " * 23),  # half a cell = 4 eighths
    (0.645974, "█" * 15 + "▌" + " " * 8), (1.7, "█" * 24), (-0.1, " " * 24),
])
def test_bar_fills_in_eighths_of_a_cell(fraction: float, expected: str) -> None:
    assert widgets.bar(fraction) == expected


def test_the_hidden_keys_share_is_their_sum_never_negative() -> None:
    # a softmax row may add up to a hair over 1: here the shown keys alone give 1 + 2e-16
    weights = np.full(20, 1e-30)
    weights[[3, 7, 11]] = [0.5, 0.25, 0.25 + 2e-16]
    out = render_text(widgets.Bars("q", [f"k{i}" for i in range(20)], weights))
    assert "… 10 other tokens share 0.0%" in out


@pytest.mark.parametrize(("value", "precision", "text"), [
    (0.30719, 2, "0.31"), (-0.001, 2, "0.00"), (-0.006, 2, "-0.01"), (-np.inf, 2, "−∞"),
    (np.inf, 3, "∞"), (2.5, 0, "2"), (1 / 3, 5, "0.33333"),
])
def test_number_formatting(value: float, precision: int, text: str) -> None:
    assert widgets.number(value, precision) == text


# ---------------------------------------------------------------- masks, heads, positions


def test_causal_view_marks_masked_entries_apart_from_small_weights() -> None:
    out = shown(love_ai(causal=True), show=["scaled", "softmax", "bars"])
    assert block(out, "Scaled (3×3)", 3) == [["I", "1.00", "—", "—"],
                                             ["love", "0.50", "1.00", "—"],
                                             ["AI", "1.50", "1.50", "3.00"]]
    # love: 1 / (1 + e^0.5) = 0.38, e^0.5 / (1 + e^0.5) = 0.62
    assert block(out, "Weights (3×3)", 3)[:2] == [["I", "1.00*", "—", "—"],
                                                 ["love", "0.38", "0.62*", "—"]]
    assert "— masked: a later token, hidden by the causal mask, so it gets no weight" in out
    assert not re.search(r"\b0\.0%", out)  # a masked key's bar says masked, not 0.0%
    assert "−∞" not in out


def test_each_head_is_shown_in_turn() -> None:
    out = shown(seeded("a b c", heads=2), show=["softmax"])
    first, second = out.index("Head 0 (of 2: 0 to 1)"), out.index("Head 1 (of 2: 0 to 1)")
    assert first < second
    assert out.count("Weights (3×3)") == 2
    assert "Head 0" not in shown(seeded("a b c"), show=["softmax"])


def test_positions_are_their_own_step() -> None:
    out = shown(love_ai(positions="sinusoidal"), show=["x"], precision=4)
    order = [out.index(m) for m in ("Token embeddings (3×2)", "Step 1b · Positions",
                                    "PE (3×2)", "X = embeddings + PE (3×2)")]
    assert order == sorted(order)
    assert block(out, "PE (3×2)", 3)[1] == ["pos", "1", "0.8415", "0.5403"]  # sin 1, cos 1
    # love = [0, 1] + [0.8415, 0.5403]
    assert block(out, "X = embeddings + PE", 3)[1] == ["love", "0.8415", "1.5403"]


def test_notes_are_shown_under_x(tmp_path) -> None:
    path = tmp_path / "w.npz"
    weightfiles.save(wts.seeded(0, 8, 4, 4, 1), path)
    ex = explain("a b", word_level("a b"), weightfiles.load(path), seed=0)
    assert "has no embeddings table, so the embeddings are seeded (seed 0)." in render_text(
        render.explanation(ex, show=["x"]), width=200)


def test_a_wide_matrix_ends_in_a_more_marker_instead_of_wrapping() -> None:
    ex = seeded(" ".join(f"w{i}" for i in range(40)))
    out = shown(ex, show=["scores"])
    assert_fits(out)
    header = next(line for line in out.splitlines() if line.startswith("query ↓ key →"))
    hidden = int(header.split("…")[1].split()[0])
    assert 0 < hidden < 40
    assert header.rstrip().endswith(f"… {hidden} more")


def full_levels(values: np.ndarray, per_row: bool, drawn: int) -> np.ndarray:
    """The heat map's levels worked out the plain way: every cell of the n×m matrix shaded,
    drawn or not, against its row's largest or the range of the `drawn` first rows (the
    reference that shading only the drawn cells must equal)."""
    v = np.where(np.isneginf(values), np.nan, values)
    if per_row:
        top = np.nanmax(np.abs(v), axis=1, keepdims=True)
        rel = np.abs(v) / np.where(top > 0, top, 1.0)
    else:
        lo, hi = np.nanmin(v[:drawn]), np.nanmax(v[:drawn])
        rel = (v - lo) / (hi - lo) if hi > lo else np.ones_like(v)
    levels = np.rint(np.nan_to_num(rel, nan=0.0) * (len(heatmap.SHADE) - 1)).astype(int)
    return np.clip(levels, 0, len(heatmap.SHADE) - 1)


class FullHeatmap(heatmap.Heatmap):
    """A heat map that shades all n×m cells, then draws the rows × cols it shows."""

    def _levels(self, rows: int, cols: int) -> np.ndarray:
        return full_levels(self.values, self.per_row, rows)[:rows, :cols]


heat_values = st.floats(-1e6, 1e6, allow_nan=False, width=64) | st.sampled_from(
    [-np.inf, np.inf, 0.0, -0.0, 1e308, -1e308])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 130), st.integers(1, 130), st.booleans(), st.integers(0, 2**32 - 1),
       st.data())
def test_the_heatmap_shades_only_its_drawn_cells_and_draws_what_full_shading_drew(
        n: int, m: int, per_row: bool, seed: int, data) -> None:
    # random matrices of up to 130 × 130 (more rows than the 79 drawn, more columns than fit
    # in 100), with -inf (masked) entries, a few special values, and -inf rows; the range is
    # read 7 rows at a time, so every matrix past 7 rows crosses a block boundary
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 3, (n, m))
    specials = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, m - 1),
                                            heat_values), max_size=20))
    for i, j, x in specials:
        values[i, j] = x
    for i in data.draw(st.lists(st.integers(0, n - 1), max_size=3)):
        values[i] = -np.inf
    masked = np.isneginf(values) if data.draw(st.booleans()) else None
    labels = [f"t{i}" for i in range(n)]
    args = ("W", labels, values)
    kwargs = {"per_row": per_row, "caption": "c", "masked": masked}
    with np.errstate(all="ignore"), warnings.catch_warnings(), \
            mock.patch.object(heatmap, "RANGE_ROWS", 7):
        warnings.simplefilter("ignore")  # an all -inf matrix: numpy's all-NaN warning
        assert render_text(heatmap.Heatmap(*args, **kwargs)) == \
            render_text(FullHeatmap(*args, **kwargs))
        rows, cols = min(n, 79), min(m, 60)
        assert np.array_equal(heatmap.Heatmap(*args, **kwargs)._levels(rows, cols),
                              full_levels(values, per_row, rows)[:rows, :cols])


def test_the_heatmap_of_4096_tokens_is_shaded_against_the_columns_it_does_not_draw(
        ) -> None:
    # the largest value of the rows drawn sits in a column that is not drawn: every drawn
    # cell is then pale. A row that is not drawn does not count (a screen's rows may be all
    # that was worked out): with its -50 in the range, the 1s would be nearly the darkest.
    values = np.full((4096, 4096), 1.0)
    values[4000, 4000] = -50.0
    values[0, 4000] = 8.0  # row 0's largest, beyond the columns that fit
    for per_row in (True, False):
        heat = heatmap.Heatmap("W", [str(i) for i in range(4096)], values, per_row=per_row)
        levels = heat._levels(79, 60)
        assert levels.shape == (79, 60)
        assert (levels[0] == 0).all()  # 1/8 of row 0's largest: blank either way
        assert (levels[1:] == (4 if per_row else 0)).all()
        assert render_text(heat) == render_text(FullHeatmap("W", heat.labels, values,
                                                            per_row=per_row))


def test_heatmap_shades_each_weight_by_the_nearest_level_of_its_rows_largest() -> None:
    # levels are blank ░ ▒ ▓ █ for 0, 1/4, 1/2, 3/4 and 1 of the row's largest weight,
    # rounded to the nearest: 0.1 → 0.4 → blank, 0.3 → 1.2 → ░, 0.6 → 2.4 → ▒, 0.9 → 3.6 → █
    weights = np.array([[1.0, 0.1, 0.3, 0.6, 0.9]] * 5) / 2.9
    out = render_text(heatmap.Heatmap("W", list("abcde"), weights, per_row=True, caption="c"))
    rows = [line for line in out.splitlines() if line.startswith("0 a")]
    assert rows and rows[0].rstrip().endswith("█ ░▒█")


def test_hints_for_what_a_view_cuts_are_the_callers() -> None:
    # the view names no option; `attn explain` adds how to see the rest with its own
    from attncli.render.explain import Hints

    text = " ".join(f"w{i}" for i in range(70))
    ex = explain(text, word_level(text), wts.seeded(0, 8, 4, 4, 1), seed=0)
    plain = render_text(render.explanation(ex, show=["tokens", "bars"]), width=100)
    assert "… 30 more tokens\n" in plain and "--" not in plain
    assert "… charts for 62 more tokens\n" in plain
    hinted = render_text(render.explanation(ex, show=["tokens", "bars"],
                                            hints=Hints("see all", "pick one")), width=100)
    assert "… 30 more tokens (see all)" in hinted
    assert "… charts for 62 more tokens: pick one" in hinted
    out = invoke("explain", text, width=100).stdout
    assert "(--json lists all)" in out and "pick one with --focus WORD" in out
