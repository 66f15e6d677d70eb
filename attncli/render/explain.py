"""The view of `attn explain`: a header, then each step of the lesson with its numbers.

It reads an Explanation that the layers below worked out (the pair, the focused rows' sums,
the joined heads), computes nothing and raises nothing. Everything the user typed reaches
the screen as rich `Text`, never as markup, and control characters are shown escaped, so
input can neither style nor steer the terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, JustifyMethod, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from attncli.attention import Steps
from attncli.attention_fast import HeadSteps, row_of, rows_of
from attncli.explain import Explanation
from attncli.masks import ORDER, kinds, row_kinds
from attncli.render.common import dims as _dims
from attncli.render.common import masked_legend
from attncli.render.common import spaced as _spaced
from attncli.render.common import step as _step
from attncli.render.common import word as _word
from attncli.render.header import source_header
from attncli.render.pair import pair_view, softmax_sums
from attncli.render.widgets import (
    HEAT_ROWS,
    MAX_MARK,
    MAX_ROWS,
    UNROUNDED,
    Bars,
    Flow,
    Matrix,
    cut_label,
    number,
    plural,
    rounded,
    shows,
    token_label,
)
from attncli.safe_text import SPACE_LEGEND, SPACE_MARK, space_marked, visible
from attncli.sections import SECTIONS

if TYPE_CHECKING:
    from attncli.flow import Gap, HeadNorms
    from attncli.sinks import Sink

HEAD_SECTIONS = set(SECTIONS) - {"tokens", "x", "joined"}  # the sections drawn once per head
MAX_CHARTS = 8  # without focus rows, a longer text gets charts for its first MAX_CHARTS tokens
MODEL_CHARTS = 4  # a real model's view is taller (more tokens, more layers): fewer charts


def _x_step(ex: Explanation) -> Group:
    """Step 1's heading: the embeddings, or for a real model the chosen layer's input."""
    if not ex.from_model:
        return _step("Step 1 · Embeddings X", "Each token becomes a row of numbers: its embedding.")
    first = ex.heads[0].layer
    context = ("its embedding" if first == 0 else
               f"its embedding after {plural(first, 'layer')} of mixing in context")
    return _step(f"Step 1 · X, the input of layer {first}",
                 f"Each token's row of numbers as it reaches this layer's attention: {context}, "
                 "normalised first where the model does that.")


def _projection_text(s: Steps) -> str:
    """Step 2b's formula as this head really computed it: biases and RoPE where present."""
    def term(m: str, b: np.ndarray | None) -> str:
        return f"{m} = X·W_{m}" + (f" + b_{m}" if b is not None else "")

    text = f"{term('Q', s.b_q)}, {term('K', s.b_k)}, {term('V', s.b_v)}: one row of each per token."
    if s.source is not None:
        text = ("Q = X·W_Q, one row per target token; K = S·W_K and V = S·W_V, one row per "
                "source token: the target asks, the source answers.")
    if s.b_q is not None or s.b_k is not None or s.b_v is not None:
        text += " This model adds a learned bias vector (b) to every row."
    if s.q_projected is not None:
        text += (" Then this model normalises each query and key (each row rescaled to a "
                 "standard size, an RMSNorm or a LayerNorm, times learned weights) before "
                 "going on.")
    if s.variant.no_position:
        text += (" This layer does not turn Q and K by position (no RoPE in this layer, "
                 "though the model's other layers have it): its scores see no word order; "
                 "only the mask, which hides later tokens, tells earlier ones from later.")
    if s.q_unrotated is not None:
        text += (" Then RoPE turns each query and key by angles set by the token's position, so "
                 "that Q·Kᵀ depends on how far apart two tokens are; the Q and K below are the "
                 "turned ones.")
    return text


def head_title(ex: Explanation, hs: HeadSteps) -> str:
    """'Head 0 of 2', or 'Layer 3 · Head 5' for a real model: numbered from 0, as the options
    and the JSON number them."""
    if ex.from_model:
        return f"Layer {hs.layer} · Head {hs.head}"
    return f"Head {hs.head} (of {ex.config.heads}: 0 to {ex.config.heads - 1})"


@dataclass(frozen=True)
class Hints:
    """What to add where a view stops short: how the reader gets the rest. The caller says it
    (the CLI names its options); by default nothing."""

    all_tokens: str = ""  # after the tokens table's "… N more tokens"
    one_chart: str = ""  # after "… charts for N more tokens"


NO_HINTS = Hints()


def explanation(
    ex: Explanation,
    *,
    show: Iterable[str] = SECTIONS,
    precision: int = 2,
    heatmap: bool = False,
    tips: Sequence[str] = (),
    header: bool = True,
    norms: Sequence[HeadNorms] | None = None,
    hints: Hints = NO_HINTS,
) -> Group:
    """The header, then every selected section of an explanation, in the lesson's order;
    the pair view and the focused rows' sums where the explanation has them. With norms (one
    per head, in order) the bars show the norm-based shares; hints say how to see the rest
    where a section is cut short."""
    show = set(show)
    labels = ex.labels
    parts: list[RenderableType] = [source_header(ex, tips)] if header else []
    dims, _, _ = _dims(ex)
    d_model = ex.x.shape[1]

    if "tokens" in show:
        parts.append(tokens_table(ex, hint=hints.all_tokens))
        if ex.cross:
            parts.append(tokens_table(ex.keys, "Source tokens, the keys", hints.all_tokens))
    if "x" in show:
        parts.append(_x_step(ex))
        if ex.positions is not None:
            n = len(labels)
            parts.append(Matrix(f"Token embeddings ({n}×{d_model})", labels, dims,
                                ex.x - ex.positions, precision))
            parts.append(_step("Step 1b · Positions",
                               "Attention itself ignores word order, so each position adds its "
                               "own pattern: PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), "
                               "PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))."))
            parts.append(Matrix(f"PE ({n}×{d_model})", [f"pos {i}" for i in range(n)], dims,
                                ex.positions, precision))
            parts.append(Matrix(f"X = embeddings + PE ({n}×{d_model})", labels, dims, ex.x,
                                precision))
        else:
            parts.append(Matrix(f"X ({len(labels)}×{d_model})", labels, dims, ex.x, precision))
        source = ex.heads[0].steps.source
        if source is not None:  # cross-attention: K and V are made from the encoder's output
            parts.append(_step("Step 1′ · S, the encoder's output",
                               "The source after every encoder layer (and its final norm): one "
                               "row per source token. Cross-attention makes its keys and "
                               "values from these rows, and its queries from X above."))
            parts.append(Matrix(f"S ({len(source)}×{d_model})", ex.key_labels, dims, source,
                                precision))
    parts.extend(Text(visible(note), style="yellow") for note in ex.notes)

    measured = dict(zip(((hs.layer, hs.head) for hs in ex.heads), norms or (), strict=False))
    for hs in ex.heads:
        if hs.layer != ex.heads[0].layer and "x" in show and hs.head == _first_head(ex, hs.layer):
            parts.append(Rule(Text(f"Layer {hs.layer}", style="bold magenta")))
            parts.append(Matrix(f"X, the input of layer {hs.layer} ({len(labels)}×{d_model})",
                                labels, dims, hs.steps.x, precision))
        parts.extend(_head(ex, hs, show, precision, heatmap,
                           measured.get((hs.layer, hs.head)), hints.one_chart))
    if "joined" in show and ex.joined is not None:
        parts.extend(_joined(ex, precision))
    if ex.pair is not None:
        parts.extend(pair_view(ex, ex.pair, precision))
    return _spaced(parts)


def tokens_table(ex: Explanation, name: str = "Tokens", hint: str = "") -> Group:
    """The tokens: position, text as the tokenizer spells it, id and character offsets."""
    # the title is a line of its own: as the table's title it would wrap a long path
    # into the table's narrow width
    source = ("the model's own tokenizer" if ex.from_model
              else visible(str(ex.config.tokenizer)))
    title = Text(f"{name} ({source})", style="bold", no_wrap=True, overflow="ellipsis")
    table = Table(box=None, padding=(0, 1))
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("#", "right"), ("token", "left"), ("id", "right"), ("start", "right"), ("end", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for i, t in enumerate(ex.tokens[:MAX_ROWS]):
        table.add_row(str(i), Text(cut_label(space_marked(t.text))), str(t.id), str(t.start),
                      str(t.end))
    block: list[RenderableType] = [title, table]
    if any(SPACE_MARK in space_marked(t.text) for t in ex.tokens[:MAX_ROWS]):
        block.append(Text(SPACE_LEGEND, style="dim"))
    if len(ex.tokens) > MAX_ROWS:
        more = plural(len(ex.tokens) - MAX_ROWS, "more token")
        block.append(Text(f"… {more}" + (f" ({hint})" if hint else ""), style="dim"))
    return Group(*block)


REDO_COLUMNS = 64  # the scores checked against Q and K as shown: more than a screen's width


def scores_redo(s: Steps, precision: int) -> bool:
    """Whether the scores a table shows (its first rows and columns) come out the same when
    worked out from Q and K rounded as their tables show them."""
    rows = rows_of(s)[:MAX_ROWS]
    cols = min(s.k.shape[0], REDO_COLUMNS)
    redone = rounded(s.q[rows], precision) @ rounded(s.k[:cols], precision).T  # (r, cols)
    shown = s.scores[: len(rows), :cols]  # (r, cols) the rows kept come first, in order
    return all(shows(a, b, precision) for a, b in zip(redone.ravel(), shown.ravel(),
                                                      strict=True))


def _mask_legend(s: Steps, rows: Sequence[int] | None = None) -> Text:
    """The masked entries' legend: the reasons in the rows a matrix draws, or in those given."""
    found = kinds(s, MAX_ROWS) if rows is None else sorted(
        {k for i in rows for k in row_kinds(s, i)}, key=ORDER.index)
    return Text(masked_legend(found, s.variant.window,
                              ", so it gets no weight at all (not a weight of 0 it chose)."),
                style="dim")


def _head(
    ex: Explanation,
    hs: HeadSteps,
    show: set[str],
    precision: int,
    heatmap: bool = False,
    hn: HeadNorms | None = None,
    hint: str = "",
) -> list[RenderableType]:
    s = hs.steps
    labels, keys = ex.labels, ex.key_labels  # the rows (queries) and the columns (keys)
    dims, qn, vd = _dims(ex, "q")
    kn = _dims(ex, "k")[1]

    def square(title: str, values: np.ndarray, *, weights: bool = False,
               caption: str | None = None) -> RenderableType:
        if heatmap:  # only when asked for: its module loads then
            from attncli.render.heatmap import HEAT_MASKED, Heatmap

            how = ("each cell shaded by its share of the row's largest weight" if weights
                   else "shaded from the smallest (blank) to the largest (█) value" +
                   (f" of the {HEAT_ROWS - 1} rows shown" if len(labels) > HEAT_ROWS else ""))
            if s.mask is not None:
                how += "; " + masked_legend(kinds(s, HEAT_ROWS), s.variant.window,
                                            mark=HEAT_MASKED)
            if ex.cross:
                how += "; the columns are the source's tokens, by index"
            return Heatmap(title, labels, values, per_row=weights, caption=how, masked=s.mask)
        return Matrix(title, labels, keys, values, precision, corner="query ↓ key →",
                      mark_row_max=weights, caption=caption, masked=s.mask)

    n, m, d_k, d_v = s.q.shape[0], s.k.shape[0], s.q.shape[1], s.v.shape[1]
    parts: list[RenderableType] = []
    if (len(ex.heads) > 1 or ex.from_model or ex.config.heads > 1) and show & HEAD_SECTIONS:
        parts.append(Rule(Text(head_title(ex, hs), style="bold magenta")))
    if "w" in show:
        parts.append(_step("Step 2a · The weight matrices",
                           "W_Q turns an embedding into what the token looks for, W_K into what "
                           "it offers, W_V into what it passes on."))
        parts.append(Flow([
            Matrix(f"W_Q ({len(dims)}×{d_k})", dims, qn, s.w_q, precision),
            Matrix(f"W_K ({len(dims)}×{d_k})", dims, kn, s.w_k, precision),
            Matrix(f"W_V ({len(dims)}×{d_v})", dims, vd, s.w_v, precision),
        ]))
        biases = [(name, names, b) for name, names, b in
                  (("b_Q", qn, s.b_q), ("b_K", kn, s.b_k), ("b_V", vd, s.b_v)) if b is not None]
        if biases:
            parts.append(Flow([Matrix(f"{name} (1×{len(b)})", ["bias"], names, b[None, :],
                                      precision) for name, names, b in biases]))
    if "qkv" in show:
        parts.append(_step("Step 2b · Queries, keys and values", _projection_text(s)))
        if s.q_unrotated is not None and s.k_unrotated is not None:  # RoPE keeps both
            parts.append(Flow([
                Matrix(f"Q before RoPE ({n}×{d_k})", labels, qn, s.q_unrotated, precision),
                Matrix(f"K before RoPE ({m}×{d_k})", keys, kn, s.k_unrotated, precision),
            ]))
        parts.append(Flow([
            Matrix(f"Q ({n}×{d_k})", labels, qn, s.q, precision),
            Matrix(f"K ({m}×{d_k})", keys, kn, s.k, precision),
            Matrix(f"V ({m}×{d_v})", keys, vd, s.v, precision),
        ]))
    if "scores" in show:
        parts.append(_step("Step 3 · Scores = Q·Kᵀ",
                           "Each query is compared with every key by a dot product: "
                           "the bigger the number, the better the match."))
        parts.append(square(f"Scores ({n}×{m})", s.scores))
        if not heatmap and not scores_redo(s, precision):
            parts.append(Text(UNROUNDED, style="dim"))
    if "scaled" in show:
        scale, cap = s.variant.scale, s.variant.softcap
        if s.skip_scale and ex.from_model:  # the model's own way: GPT-Neo never scales
            parts.append(_step("Step 4a · No scaling: scaled = scores",
                               f"This model ({ex.config.architecture}) does not divide its "
                               f"scores by √d_k = {number(np.sqrt(d_k), 3)}: the softmax gets "
                               "the raw scores, the same matrix as step 3's."))
        elif s.skip_scale:
            parts.append(_step(f"Step 4a · Scaled = scores (÷√d_k = ÷{number(np.sqrt(d_k), 3)} "
                               "skipped)",
                               "This run skips the division by √d_k: the softmax gets the raw "
                               "scores, whose spread grows with √d_k, so each row's weights "
                               "crowd onto fewer keys. The note at the top compares the "
                               "largest weights with and without the division."))
        elif scale is None:
            parts.append(_step(f"Step 4a · Scaled = scores / √d_k = scores / √{d_k} "
                               f"= scores / {number(s.divisor, 3)}",
                               "A score adds up d_k products, so it tends to grow with √d_k; "
                               "dividing by √d_k undoes that, and the softmax does not put all "
                               "the weight on one key."))
        else:
            parts.append(_step(f"Step 4a · Scaled = scores × {scale:.6g} (this model's scale)",
                               f"This model multiplies the scores by {scale:.6g} instead of "
                               f"dividing them by √d_k = {np.sqrt(d_k):.4g}; it was trained "
                               "that way, so the softmax sees scores of the size it learned."))
        final = f"({n}×{m}), what the softmax sees"
        if s.capped is None and s.score_bias is None:
            parts.append(square(f"Scaled ({n}×{m})", s.logits))
        if s.capped is not None:
            assert s.uncapped is not None  # a capped run keeps the scores before the cap
            parts.append(square(f"Scaled ({n}×{m})", s.uncapped))
            parts.append(_step(f"Step 4a′ · Soft-capped = {cap:g} · tanh(scaled / "
                               f"{cap:g})",
                               f"Each scaled score is bent smoothly into −{cap:g} … "
                               f"{cap:g}: however large it grows, it stays inside, and a "
                               "score near 0 barely changes."))
            parts.append(square(f"Soft-capped {final}" if s.score_bias is None
                                else f"Soft-capped ({n}×{m})",
                                s.logits if s.score_bias is None else s.capped))
        slope = s.variant.alibi_slope
        if s.score_bias is not None and slope is not None:
            parts.append(_step(f"Step 4a″ · + ALiBi bias = slope × (key − query), slope "
                               f"{float(slope):.6g}",
                               "ALiBi gives the model no position vectors: each score gets "
                               "this head's slope times the key's position minus the query's, "
                               "0 for the token itself and lower the further back the key "
                               "stands. Each head has its own slope, so some heads look near "
                               "and others far."))
            parts.append(square(f"ALiBi bias ({n}×{m})", s.score_bias))
        elif s.score_bias is not None and s.score_terms:
            names = " + ".join(name for name, _ in s.score_terms)
            parts.append(_step(f"Step 4a″ · + {names}, DeBERTa's position terms",
                               "DeBERTa adds no position vectors to X: each score also gets "
                               "c2p, the query's content against a key for the distance to the "
                               "key (q_i · k_δ), and p2c, the key's content against a query for "
                               "the distance back (k_j · q_δ), both divided as the scores are. "
                               "k_δ and q_δ are made from a table of learned distance vectors "
                               "by the layer's projections."))
            for name, term in s.score_terms:
                parts.append(square(f"{name} ({n}×{m})", term))
            parts.append(square(f"Bias = {names} ({n}×{m})", s.score_bias))
        elif s.score_bias is not None:
            parts.append(_step("Step 4a″ · + score bias",
                               "This model adds a number to every score that depends only on "
                               "where the two tokens stand (its position bias)."))
            parts.append(square(f"Score bias ({n}×{m})", s.score_bias))
            parts.append(square(f"Scaled + bias {final}", s.logits))
        if s.mask is not None and not heatmap:
            parts.append(_mask_legend(s))
    if "softmax" in show:
        # the heading names what the softmax takes: step 4a's last matrix
        taken = ("scaled" if s.capped is None else "soft-capped") + (
            "" if s.score_bias is None else " + bias")
        parts.append(_step(f"Step 4b · Attention weights = softmax({taken})",
                           "Softmax turns each row into weights that are positive and sum to 1: "
                           "e^x of each entry, divided by the row's sum of e^x."))
        parts.append(square(f"Weights ({n}×{m}); each row sums to 1", s.weights, weights=True,
                            caption=f"{MAX_MARK} marks the largest weight in each row (each "
                                    "one of a tie; none in an even row)"))
        sink = ex.sinks.get((hs.layer, hs.head))
        if sink is not None:
            parts.append(_sink_text(ex, sink))
    rows = ex.focus_rows.get((hs.layer, hs.head), [])
    for row in rows[:MAX_CHARTS]:
        parts.extend(softmax_sums(ex, row, precision))
    if "bars" in show:
        wanted = list(ex.focus) if ex.focus else list(range(n))
        if hn is not None:
            parts.append(_step("Where each token's output comes from: norm-based shares",
                               NORM_BARS))
            if hn.gap is not None:
                parts.append(_gap_text(ex, hn.gap))
        elif not ex.focus:
            parts.append(_step("Where each token looks", "Each bar is one attention weight."))
        seen = Counter(token_label(lab) for lab in labels)  # a repeated word's charts get i
        charts = MODEL_CHARTS if ex.from_model and not ex.focus else MAX_CHARTS
        parts.append(Flow([Bars(labels[i], keys,
                                s.weights[row_of(s, i)] if hn is None else hn.shares[i],
                                None if s.mask is None else s.mask[row_of(s, i)],
                                verb="attends to:" if hn is None else "takes in, by norm:",
                                position=None if seen[token_label(labels[i])] == 1 else i)
                           for i in wanted[:charts]], gap=4))
        if s.mask is not None and s.mask[[row_of(s, i) for i in wanted[:charts]]].any():
            parts.append(_mask_legend(s, wanted[:charts]))
        if len(wanted) > charts:
            more = plural(len(wanted) - charts, "more token")
            parts.append(Text(f"… charts for {more}" + (f": {hint}" if hint else ""),
                              style="dim"))
    if "output" in show:
        parts.append(_step("Step 5 · Output = weights·V",
                           "Each token's new vector is the weighted sum of all value rows: "
                           "itself, mixed with the context it attended to."))
        parts.append(Matrix(f"Output ({n}×{d_v})", labels, vd, s.output, precision))
    return parts


NORM_BARS = ("Each bar is a norm-based share, not the attention weight α_ij: "
             "‖α_ij f(x_j)‖ / Σ_j ‖α_ij f(x_j)‖ over the query's row, where "
             "f(x_j) = (x_j W_V + b_V) W_O (this head's rows of W_O) is what key j sends into "
             "the output through this head (Kobayashi et al. 2020).")


def _gap_text(ex: Explanation, gap: Gap) -> Text:
    """The sentence on a head's largest gap between weight and norm share, with both."""
    return Text(f"“{_word(ex.keys, gap.token)}” gets {100 * gap.weight:.0f}% of this head's "
                f"weight but {100 * gap.norm:.0f}% of its norm (averages over the tokens that "
                "may see it): attention weight is not importance.", style="yellow")


def _sink_text(ex: Explanation, sink: Sink) -> Text:
    """One line naming an attention sink, with the numbers the weights matrix shows."""
    who = _word(ex, sink.token)
    return Text(f"Attention sink: {sink.rows} of {sink.of} tokens give more than half "
                f"their weight to “{who}” ({100 * sink.share:.0f}% on average). A head with "
                "nothing useful to find for a token parks its weight on a first or special "
                "token like this one, so that weight carries little meaning.", style="yellow")


def _joined(ex: Explanation, precision: int) -> list[RenderableType]:
    """Step 6: every head's output side by side, then W_O mixes them into d_model numbers."""
    j = ex.joined
    assert j is not None  # called only for a run that joined its heads
    labels = ex.labels
    dims, _, vd = _dims(ex)
    heads = j.concat.shape[1] // len(vd)
    cols = [f"h{h}.{v}" for h in range(heads) for v in vd]
    bias = " + b_O" if j.b_o is not None else ""
    parts: list[RenderableType] = [
        Rule(Text(f"Layer {j.layer} · the heads joined" if ex.from_model else
                  "The heads joined", style="bold magenta")),
        _step(f"Step 6 · Attention output = concat · W_O{bias}",
              f"Each of the {heads} heads gave every token an output of {len(vd)} numbers. "
              f"Side by side they make one row of {heads * len(vd)} (concat); W_O mixes them "
              f"back into {len(dims)} numbers per token, the layer's attention output."),
        Matrix(f"concat ({len(labels)}×{j.concat.shape[1]})", labels, cols, j.concat, precision),
        Matrix(f"W_O ({j.w_o.shape[0]}×{j.w_o.shape[1]})", cols, dims, j.w_o, precision),
    ]
    if j.b_o is not None:
        parts.append(Matrix(f"b_O (1×{len(j.b_o)})", ["bias"], dims, j.b_o[None, :], precision))
    parts.append(Matrix(f"Attention output ({len(labels)}×{j.output.shape[1]})", labels, dims,
                        j.output, precision))
    return parts


def _first_head(ex: Explanation, layer: int) -> int:
    return next(hs.head for hs in ex.heads if hs.layer == layer)
