"""Rich renderables for `attn predict`: the top tokens at each predicting position, with a
bar for their probability, and per layer the head that attends most from there."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from attncli.predict import Predicted
from attncli.render.widgets import bar, decoder_reads, number, plural, token_label
from attncli.safe_text import SPACE_LEGEND, SPACE_MARK, space_marked, visible


def _byte_chars() -> dict[str, str]:
    """GPT-2's byte-level alphabet, where it differs from the bytes: the 68 bytes that are a
    space, a control character or invisible (0-32, 127-160, 173) are spelled with the
    characters from U+0100 on, in order (Ġ is the space, Ċ the newline)."""
    kept = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)}
    moved = [b for b in range(256) if b not in kept]
    return {chr(256 + i): chr(b) for i, b in enumerate(moved)}


BYTE_CHARS = _byte_chars()


def token_shown(token: str, byte_level: bool) -> str:
    """A vocabulary token as the terminal shows it: a folded space as ␣ (GPT-2's Ġ,
    SentencePiece's ▁), and in a byte-level vocabulary every other spelled byte as the
    character it is, escaped if it is invisible (Ċ, a newline, as \x0a)."""
    if not byte_level:
        return space_marked(token)
    return visible("".join(BYTE_CHARS.get(ch, ch) for ch in token)).replace(" ", SPACE_MARK)


def prediction(pr: Predicted, precision: int = 2) -> Group:
    """The header, then one block per predicting position, then the heads."""
    parts: list[RenderableType] = [header(pr)]
    for p in pr.predictions:
        parts.append(Text(""))
        parts.append(Text(_title(pr, p.position), style="bold"))
        shown = [token_shown(c.token, pr.byte_level) for c in p.top]
        width = max(len(name) for name in shown)
        for rank, (c, name) in enumerate(zip(p.top, shown, strict=True), 1):
            parts.append(Text.assemble(
                f"{rank:>3}. ", (name.ljust(width), "bold"),
                f"  {bar(c.probability)} {number(100 * c.probability, precision):>7}%",
                ("  logit ", "dim"), number(c.logit, precision), (f"  id {c.id}", "dim")))
        heads = [h for h in pr.heads if h.position == p.position]
        if heads:
            parts.append(Text(""))
            which = "" if pr.target is None else "the decoder's self-attention; "
            parts.append(Text(f"Heads that attend most from here ({which}per layer: the head "
                              "giving one other token the largest weight)", style="bold"))
            for h in heads:
                key = token_label(pr.tokens[h.key].label(pr.read))
                parts.append(Text.assemble(
                    f"  layer {h.layer:>2} head {h.head:>2} → ", (visible(key), "bold"),
                    (f" (token {h.key})", "dim"), f"  {number(100 * h.weight, precision)}%"))
    parts.append(Text(""))
    parts.append(Text("Probabilities are the softmax of the logits over the whole vocabulary. "
                      "A head's weight says where it looks, not how much that changed the "
                      "prediction.", style="dim"))
    if any(SPACE_MARK in token_shown(c.token, pr.byte_level)
           for p in pr.predictions for c in p.top):
        parts.append(Text(SPACE_LEGEND, style="dim"))
    return Group(*parts)


def header(pr: Predicted) -> Text:
    """The text, its token count and the model; an encoder-decoder's target on a second
    line."""
    source = pr.tokens if pr.source_tokens is None else pr.source_tokens
    text = Text.assemble(
        ("Input ", "dim"), ("“", "dim"), (visible(pr.text), "bold"), ("”", "dim"),
        f" · {plural(len(source), 'token')} (the model's own tokenizer)\n",
        ("Model ", "dim"), (visible(pr.model), "bold"), f" · {visible(pr.model_type)}")
    if pr.target is not None:
        text.append_text(Text.assemble(
            "\n", ("Target ", "dim"), ("“", "dim"), (visible(pr.target), "bold"), ("”", "dim"),
            f" · {decoder_reads(len(pr.tokens))}"))
    return text


def _title(pr: Predicted, position: int) -> str:
    if pr.kind == "next" and pr.target is not None:
        last = token_label(pr.tokens[position].label(pr.read))
        return (f"Decoder's next token after “{last}” (target position {position}), top "
                f"{_k(pr, position)}")
    if pr.kind == "next":
        last = token_label(pr.tokens[position].label(pr.text))
        return f"Next token after “{last}” (position {position}), top {_k(pr, position)}"
    return f"Fills for the mask at position {position}, top {_k(pr, position)}"


def _k(pr: Predicted, position: int) -> int:
    return next(len(p.top) for p in pr.predictions if p.position == position)
