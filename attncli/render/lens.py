"""Rich renderables for `attn lens` (the final head's reading after each layer) and `attn
attribute` (each part's direct share of one token's logit)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from attncli.lens import Attribution, Lens, Part, Where
from attncli.predict import Candidate
from attncli.render.widgets import Matrix, number, plural, token_label
from attncli.safe_text import SPACE_LEGEND, SPACE_MARK, visible
from attncli.tokens import Token

NAME_CAP = 10  # a vocabulary token in a lens cell: longer ones are cut with "…"
RANKED = 5  # parts listed on each side, positive and negative
PART_KINDS = {"embeddings": "embeddings", "attention_bias": "attention output biases",
              "norm_bias": "norm biases", "lm_bias": "LM head bias"}
GROUPS = {"embeddings": "embeddings", "head": "heads", "mlp": "MLPs", "bias": "biases"}


def _cut(name: str) -> str:
    return name if cell_len(name) <= NAME_CAP else name[:NAME_CAP - 1] + "…"


def _shown(token: str, byte_level: bool) -> str:
    from attncli.render.predict import token_shown

    return token_shown(token, byte_level)


def header(text: str, tokens: Sequence[Token], model: str, model_type: str) -> Text:
    """The text, its token count and the model."""
    return Text.assemble(
        ("Input ", "dim"), ("“", "dim"), (visible(text), "bold"), ("”", "dim"),
        f" · {plural(len(tokens), 'token')} (the model's own tokenizer)\n",
        ("Model ", "dim"), (visible(model), "bold"), f" · {visible(model_type)}")


def place(text: str, tokens: Sequence[Token], where: Where) -> str:
    """Where the stream is read: "the next token after “is” (position 16)"."""
    word = token_label(tokens[where.position].label(text))
    if where.kind == "next":
        return f"the next token after “{word}” (position {where.position})"
    if where.kind == "mask":
        return f"the fill for the mask at position {where.position}"
    return f"the token “{word}” at position {where.position} (not a mask)"


class LensTable:
    """One row per layer: the probability of the last row's top token, then the top tokens
    with their probabilities. Ranks that do not fit the width are left out, the last first,
    and the header says how many."""

    def __init__(self, labels: list[str], tracked: str, final: Sequence[float],
                 cells: list[list[tuple[str, float]]]) -> None:
        self.labels, self.tracked, self.final, self.cells = labels, tracked, final, cells

    def lines(self, width: int) -> list[Text]:
        label_w = max(cell_len("layer"), *(cell_len(lab) for lab in self.labels))
        final_head = f"p({self.tracked})"
        finals = [f"{100 * p:.1f}%" for p in self.final]
        final_w = max(cell_len(final_head), *(len(f) for f in finals))
        ranks = max(len(row) for row in self.cells)
        texts = [[(name, f"{100 * p:.1f}%") for name, p in row] for row in self.cells]
        widths = [max(cell_len(n) + 1 + len(p) for row in texts if r < len(row)
                      for n, p in [row[r]]) for r in range(ranks)]
        widths = [max(w, len(str(r + 1))) for r, w in enumerate(widths)]
        keep = ranks
        more = ""
        while keep > 1 and label_w + 2 + final_w + sum(w + 2 for w in widths[:keep]) \
                + cell_len(more) > width:
            keep -= 1
            more = f"  … {ranks - keep} more"
        head = Text("layer".ljust(label_w), style="dim", no_wrap=True, overflow="crop")
        head.append("  " + final_head.rjust(final_w), style="bold")
        for r in range(keep):
            head.append("  " + str(r + 1).ljust(widths[r]), style="bold")
        head.append(more, style="dim")
        out = [head]
        for label, final, row in zip(self.labels, finals, texts, strict=True):
            line = Text(label.ljust(label_w), style="bold", no_wrap=True, overflow="crop")
            line.append("  " + final.rjust(final_w))
            for r, (name, p) in enumerate(row[:keep]):
                line.append("  ")
                line.append(name, style="bold")
                line.append(" " + p.rjust(widths[r] - cell_len(name) - 1))
            out.append(line)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)


def lens_view(ln: Lens) -> Group:
    """The header, the table of readings, and what a reading is."""
    def name(c: Candidate) -> str:
        return _cut(_shown(c.token, ln.byte_level))

    last = ln.rows[-1].top[0]
    labels = ["embeddings" if r.layer is None else f"{r.layer}" for r in ln.rows]
    table = LensTable(labels, name(last), ln.final.tolist(),
                      [[(name(c), c.probability) for c in r.top] for r in ln.rows])
    parts: list[RenderableType] = [
        header(ln.text, ln.tokens, ln.model, ln.model_type), Text(""),
        Text(f"Logit lens: {place(ln.text, ln.tokens, ln.where)}", style="bold"),
        Text(f"Per layer: the top {len(ln.rows[-1].top)} tokens, and p({name(last)}), the "
             "probability of the prediction.")]
    parts += [Text(str(note), style="yellow") for note in ln.where.notes]
    parts += [table, Text(""),
              Text("Each row is that layer's stream put through the final norm and LM head. "
                   "An early row is only what the final head would make of it, not what the "
                   "model “thinks”.", style="dim")]
    if any(SPACE_MARK in name(c) for r in ln.rows for c in r.top):
        parts.append(Text(SPACE_LEGEND, style="dim"))
    return Group(*parts)


def part_name(p: Part) -> str:
    """What a part is called: "layer 3 head 1", "layer 3 MLP", "embeddings"…"""
    if p.kind == "head":
        return f"layer {p.layer} head {p.head}"
    if p.kind == "mlp":
        return f"layer {p.layer} MLP"
    return PART_KINDS[p.kind]


def attribution_view(at: Attribution, precision: int = 2) -> Group:
    """The header, the target, the heads' grid, the largest parts, and the sum."""
    t = at.target
    name = _shown(t.token, at.byte_level)
    which = "the top prediction" if t.id == at.top_id else "not the top prediction"
    parts: list[RenderableType] = [
        header(at.text, at.tokens, at.model, at.model_type), Text(""),
        Text.assemble(("Direct logit attribution of “", "bold"), (name, "bold"),
                      (f"” (id {t.id}, {which}), {place(at.text, at.tokens, at.where)}",
                       "bold")),
        Text(f"Its probability {number(100 * t.probability, precision)}%, its logit "
             f"{number(t.logit, precision)}.")]
    parts += [Text(str(note), style="yellow") for note in at.notes]
    n_layers, n_heads = at.heads.shape
    parts += [Text(""), Matrix(
        "Each head's share of the logit (rows: layers, columns: heads)",
        [f"layer {i}" for i in range(n_layers)], [f"head {j}" for j in range(n_heads)],
        at.heads, precision)]
    plus, minus = at.ranked(RANKED)
    parts += [Text(""), Text("The largest parts, for and against", style="bold")]
    parts += [_ranked_line(p, precision) for p in plus + minus]
    parts += [Text(""), Text("Adding them up", style="bold")]
    rows = [(f"{GROUPS[kind]} ({count})" if kind != "embeddings" else GROUPS[kind], total)
            for kind, count, total in at.groups()]
    label_w = max(cell_len(label) for label, _ in [*rows, ("the logit, before the soft-cap", 0)])
    for label, total in rows:
        parts.append(Text(f"  {label.ljust(label_w)}  {number(total, precision):>10}"))
    logit_label = "the logit" if at.softcap is None else "the logit, before the soft-cap"
    parts += [
        Text(f"  {'sum of every part'.ljust(label_w)}  {at.total:>10.6f}", style="bold"),
        Text(f"  {logit_label.ljust(label_w)}  {at.logit:>10.6f}", style="bold"),
        Text(f"  {'difference'.ljust(label_w)}  {at.difference:>10.1e}  (float rounding)")]
    if at.softcap is not None:
        parts.append(Text(f"The model soft-caps its logits after the sum: {at.softcap:g} · "
                          f"tanh(logit / {at.softcap:g}) = {number(t.logit, precision)}."))
    parts += [Text(""), Text(
        "A part's share: its output through the final norm (its scale held at this run's "
        "value, so the norm is linear) and the token's row of the unembedding. Direct only: "
        "what a part changes in later layers counts there, not here.", style="dim")]
    if SPACE_MARK in name:
        parts.append(Text(SPACE_LEGEND, style="dim"))
    return Group(*parts)


def _ranked_line(p: Part, precision: int) -> Text:
    sign = "+" if p.value > 0 else "−"
    return Text.assemble("  ", (f"{sign}{number(abs(p.value), precision)}".rjust(9), "bold"),
                         f"  {part_name(p)}")
