"""Numbers a learner can redo: every table that invites a sum (q × k and the score, the
softmax's e^x and their sum, weight × value and the output, the scores from Q and K) either
adds up from what it prints, at the precision it prints, or says that it was worked out from
the unrounded numbers. Re-added here from the printed text at 80 columns."""

from __future__ import annotations

import math
import re

import pytest
from conftest import I_LOVE_AI, invoke, ok

from attncli.render.widgets import UNROUNDED, number

LOVE = ("I love AI", "-w", str(I_LOVE_AI))  # whole numbers: every sum redoes exactly
SEEDED = ("The cat sat on the mat",)  # seeded: the unrounded numbers show


def screen(*args: str) -> str:
    return ok(invoke("explain", *args, width=80))


def table(out: str, title: str, width: int) -> list[list[str]]:
    """The rows of the table titled `title` (alone, or side by side with others), each the
    last `width` cells of its line within the table's columns."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines)
              if any(part.startswith(title) for part in re.split(r"\s{2,}", line.strip())))
    start = lines[at].index(title)
    after = re.search(r"\S\s{2,}\S", lines[at][start:])  # the next table's title, if any
    end = start + after.end() - 1 if after else None
    rows = []
    for line in lines[at + 2:]:
        cells = line[start:end].split()
        if not cells or "×" in line[start:end]:  # a blank line, or the next table's title
            break
        rows.append(cells[-width:])
    return rows


def noted(out: str, after: str) -> bool:
    """Whether the note that the sums used unrounded numbers follows the table `after`."""
    rest = " ".join(out.split(after, 1)[1].split())
    return rest.split("Step ", 1)[0].find(UNROUNDED) >= 0


def products_redo(out: str, p: int = 2) -> bool:
    rows = table(out, "q · k (", 3)
    score = rows[-1][-1]
    products = [row for row in rows[:-1] if row[1] != "more"]  # "… 5 more" adds up the rest
    rest = [float(row[-1]) for row in rows[:-1] if row[1] == "more"]
    each = all(number(float(q) * float(k), p) == x for q, k, x in products)
    return each and number(sum(float(x) for _, _, x in products) + sum(rest), p) == score


def softmax_redoes(out: str, p: int = 4) -> bool:
    rows = table(out, "Softmax of", 3)
    body, (total_e, total_w) = rows[:-1], rows[-1][-2:]
    each = all(number(math.exp(float(x)), p) == e for x, e, _ in body)
    shares = all(number(float(e) / float(total_e), p) == w for _, e, w in body)
    return (each and shares and number(sum(float(e) for _, e, _ in body), p) == total_e
            and number(sum(float(w) for _, _, w in body), p) == total_w)


def output_redoes(out: str, d_v: int) -> bool:
    values = table(out, "V, the value rows", d_v + 1)
    rows = table(out, "weight × value", d_v + 1)
    body, total = rows[:-1], rows[-1][-d_v:]
    each = all(number(float(row[0]) * float(v), 3) == c
               for row, vrow in zip(body, values, strict=True)
               for v, c in zip(vrow[-d_v:], row[1:], strict=True))
    sums = [number(sum(float(row[1 + d]) for row in body), 3) for d in range(d_v)]
    return each and sums == total


@pytest.mark.parametrize("args", [(*LOVE, "--from", "I", "--to", "AI"),
                                  (*SEEDED, "--from", "cat", "--to", "sat"),
                                  (*SEEDED, "--d-k", "16", "--from", "mat", "--to", "The")])
def test_the_pair_views_tables_add_up_or_say_they_used_unrounded_numbers(
        args: tuple[str, ...]) -> None:
    out = screen(*args)
    assert products_redo(out) or noted(out, "sum = score")
    assert softmax_redoes(out) or noted(out, "weight of “")
    d_v = len(table(out, "V, the value rows", 99)[0]) - 1
    assert output_redoes(out, d_v) or noted(out, "sum = output")


def test_whole_numbers_redo_exactly_and_need_no_note() -> None:
    out = screen(*LOVE, "--from", "I", "--to", "AI")
    assert products_redo(out) and softmax_redoes(out)
    assert not noted(out, "sum = score") and not noted(out, "weight of “")
    assert not output_redoes(out, 2)  # 0.307 + 0.506 is 0.813, not the 0.814 shown
    assert noted(out, "sum = output")


def test_seeded_numbers_do_not_redo_and_say_so() -> None:
    out = screen(*SEEDED, "--from", "cat", "--to", "sat")
    assert not products_redo(out) and noted(out, "sum = score")


def test_the_focus_views_softmax_adds_up_or_says_so() -> None:
    out = screen(*SEEDED, "--focus", "sat")
    assert softmax_redoes(out) or UNROUNDED in " ".join(out.split())


def test_the_scale_chain_divides_the_numbers_it_prints() -> None:
    out = " ".join(screen(*SEEDED, "--from", "cat", "--to", "sat").split())
    chain = out.split("Step 4a · scaled = score / √d_k ", 1)[1].split()
    # "─…─ 0.3851 / √4 = 0.3851 / 2.0000 = 0.1926"
    score, divisor, result = chain[1], chain[7], chain[9]
    assert len(score.split(".")[1]) == len(divisor.split(".")[1]) == len(result.split(".")[1])
    assert abs(float(score) / float(divisor) - float(result)) <= 1e-4  # one unit, 4 places


@pytest.mark.parametrize(("args", "note"), [(LOVE, False), (SEEDED, True)])
def test_the_scores_from_q_and_k_say_when_they_used_unrounded_numbers(
        args: tuple[str, ...], note: bool) -> None:
    out = screen(*args, "--show", "qkv,scores")
    n = len(args[0].split())
    q = table(out, f"Q ({n}×", 99)
    k = table(out, f"K ({n}×", 99)
    d_k = len(q[0]) - 1
    scores = table(out, f"Scores ({n}×{n})", n)
    redone = [[number(sum(float(a) * float(b) for a, b in zip(qr[-d_k:], kr[-d_k:],
                                                                strict=True)), 2)
               for kr in k] for qr in q]
    assert (redone == scores) is not note
    assert (UNROUNDED in " ".join(out.split())) is note
