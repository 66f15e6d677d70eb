"""The header every view opens with: what runs (the text or texts, the tokenizer) and where
the weights come from (random, a file, a model, and which layers and heads are shown)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text

from attncli.explain import Explanation
from attncli.render.widgets import decoder_reads, plural
from attncli.safe_text import visible

DESCRIPTION_CAP = 160  # characters of a weights file's description in the header
TEXT_CAP = 200  # characters of an input the header quotes; a longer one is cut at a word


def _quoted(text: str) -> tuple[tuple[str, str], ...]:
    """An input in quotes, for Text.assemble: a long one cut at a word, with its length."""
    if len(text) <= TEXT_CAP:
        return ("“", "dim"), (visible(text), "bold"), ("”", "dim")
    cut = text[:TEXT_CAP].rsplit(" ", 1)[0] or text[:TEXT_CAP]
    return (("“", "dim"), (visible(cut) + " …", "bold"), ("”", "dim"),
            (f" ({len(text):,} characters)", "dim"))


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    text = text if end < 0 else text[: end + 1]
    return text if len(text) <= DESCRIPTION_CAP else text[: DESCRIPTION_CAP - 1] + "…"


def _which(noun: str, values: Sequence[int]) -> str:
    """'head 3', 'heads 0, 2', or a run written as 'layers 0–5'."""
    values = list(values)
    if len(values) == 1:
        return f"{noun} {values[0]}"
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{noun}s {values[0]}–{values[-1]}"
    return f"{noun}s {', '.join(str(v) for v in values)}"


def _masked(ex: Explanation) -> str:
    """' (causal)' for a model whose own mask hides later tokens (a decoder, or an encoder
    family configured as one: BERT with is_decoder); a seq2seq decoder's line says it already."""
    return " (causal)" if ex.config.causal and ex.source_tokens is None else ""


def with_header(ex: Explanation, view: RenderableType, tips: Sequence[str] = (),
                texts: Sequence[str] | None = None) -> Group:
    """Another command's view (heads, compare) under the same header as explain's."""
    return Group(source_header(ex, tips, texts), Text(""), view)


def source_header(ex: Explanation, tips: Sequence[str] = (),
                  texts: Sequence[str] | None = None) -> Group:
    """What runs: the text (or texts), the tokenizer and where the weights come from."""
    c = ex.config
    tokenizer = ("the model's own tokenizer" if ex.from_model
                 else "word-level tokenizer" if c.tokenizer == "word-level"
                 else f"tokenizer {visible(c.tokenizer)}")
    if ex.source_tokens is not None and ex.source_text is not None:  # a decoder
        lines: list[RenderableType] = [
            Text.assemble(("Source ", "dim"), *_quoted(ex.source_text),
                          f" · {plural(len(ex.source_tokens), 'token')}, read by the encoder "
                          f"({tokenizer})"),
            Text.assemble(("Target ", "dim"), *_quoted(ex.text),
                          f" · {decoder_reads(len(ex.tokens))}"),
            Text("Showing the decoder's " + (
                "cross-attention: each target token's query looks at the source's keys "
                f"({len(ex.tokens)} queries × {len(ex.source_tokens)} keys)" if ex.cross else
                "self-attention: each target token looks at itself and the target tokens "
                "before it"), style="dim")]
    elif texts is None:
        lines = [Text.assemble(("Input ", "dim"), *_quoted(ex.text),
                               f" · {plural(len(ex.tokens), 'token')} ({tokenizer})")]
    else:
        lines = [Text.assemble((f"Input {name} ", "dim"), *_quoted(text))
                 for name, text in zip("AB", texts, strict=False)]
        lines.append(Text(f"Tokenizer: {tokenizer}", style="dim"))
    if c.source == "model":
        lines.append(Text.assemble(
            ("Model ", "dim"), (visible(c.model or ""), "bold"),
            f" · {visible(c.architecture or '')}{_masked(ex)}, {plural(c.n_layers, 'layer')} × "
            f"{plural(c.heads, 'head')}, its own weights · showing "
            f"{_which('layer', c.layers or ())}, {_which('head', c.head_indices)} "
            "(numbered from 0)"))
    elif c.source == "seeded":
        lines.append(Text.assemble(
            ("Weights ", "dim"), ("random", "bold yellow"),
            f" (seeded with {c.seed}): nothing was learned, so the pattern below means "
            "nothing yet; only the arithmetic is real."))
    else:
        lines.append(Text.assemble(("Weights from ", "dim"), (visible(c.weights), "bold"),
                                   *((": " + visible(_first_sentence(c.description)),)
                                     if c.description else ())))
    if c.source != "model" and c.heads > 1:
        lines.append(Text(f"{c.heads} heads, numbered 0 to {c.heads - 1}; showing "
                          f"{', '.join(str(h) for h in c.head_indices)}", style="dim"))
    lines.extend(Text(tip, style="dim") for tip in tips)
    return Group(*lines)
