"""Encoder-decoders (T5, BART and their kin): two stacks, and a decoder block with three parts.

The encoder reads the source text. The decoder reads the target, teacher-forced: its start
token, then the target's tokens without the closing one. Each decoder block runs its
self-attention over the target (causal), then its cross-attention, whose queries are target
tokens and whose keys and values are the encoder's output (an n_target × n_source matrix),
then its MLP.

The model opens as its encoder; for_target turns it to its decoder, showing the decoder's
self- or cross-attention. The one forward loop (base.py) runs the part shown, so hooks see
it; this class runs the block's other parts around it. A family gives its tensor names for
each part (parts), its encoder's final norm (encode) and what its own attention adds
(own_variant, cross_variant).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from attncli.attention import Joined, Variant, causal_mask
from attncli.attention_fast import HeadSteps
from attncli.errors import AttnError
from attncli.models.base import NO_HOOKS, Hooks, Look, Model, Progress
from attncli.models.blocks import AttentionWeights, MLPWeights, mlp
from attncli.models.layers import linear
from attncli.tokens import Token

ATTENTIONS = ("self", "cross")  # what --target shows: the decoder's own, or over the source


class EncoderDecoder(Model):
    """An encoder-decoder: the encoder by default; for_target() gives the decoder's self- or
    cross-attention over a target text."""

    stack = "encoder"
    # the names that fill a table's {stack}, {part}, ... for each attention part
    parts: dict[str, dict[str, Any]] = {}
    n_encoder_layers = 0
    n_decoder_layers = 0
    start = 0  # the decoder's start token
    eos: int | None = None  # the closing token, left off the decoder's input
    source_ids: np.ndarray | None = None
    source_tokens: list[Token] | None = None
    memory: np.ndarray | None = None  # the encoder's output, in a decoder's run

    def encode(self, ids: np.ndarray, dtype: type) -> np.ndarray:
        """The encoder's output for ids, after its final norm: (n_source, d)."""
        raise NotImplementedError

    def own_variant(self, n: int, i: int, dtype: type) -> Variant:
        """Block i's self-attention over n tokens in dtype: the lesson's, masked causally in
        the decoder."""
        return Variant(mask=causal_mask(n) if self.stack == "decoder" else None)

    def cross_variant(self) -> Variant:
        """Cross-attention: the lesson's, nothing hidden."""
        return Variant()

    def tables(self, layers: int) -> int:
        """How many position-bias tables the first layers of a stack use: none here."""
        return 0

    # ---- the decoder, on request ----

    def for_target(self, source: Sequence[Token], attention: str) -> EncoderDecoder:
        """This model turned to its decoder: the heads shown are the decoder's self-attention
        or its cross-attention over source (the encoder's tokens)."""
        if attention not in ATTENTIONS:
            raise AttnError(f"attention {attention!r} is neither self nor cross")
        view = copy.copy(self)
        view.stack, view.attention_kind = "decoder", attention
        view.n_layers = self.n_decoder_layers
        view.causal = attention == "self"
        view.source_tokens = list(source)
        view.source_ids = self.check_ids([t.id for t in source])
        return view

    def target_tokens(self, text: str) -> list[Token]:
        """What the decoder reads for text: its start token, then text's tokens without the
        closing one (transformers' shift right of the labels)."""
        tokens = super().tokens(text)
        if tokens and tokens[-1].id == self.eos:
            tokens = tokens[:-1]
        name = self.tokenizer.id_to_token(self.start) or f"[{self.start}]"
        return [Token(name, self.start, 0, 0), *tokens]

    def encoder(self) -> EncoderDecoder:
        """This model as its encoder (a decoder's run turns to it for the source)."""
        view = copy.copy(self)
        view.stack, view.attention_kind, view.n_layers = "encoder", "self", self.n_encoder_layers
        return view

    # ---- the part the loop shows ----

    def shown(self) -> dict[str, Any]:
        """The names of the attention part the loop runs in each block: the encoder's
        self-attention, or the decoder's self- or cross-attention (for_target)."""
        return self.parts["encoder" if self.stack == "encoder" else self.attention_kind]

    def load_attention(self, i: int, dtype: type = np.float32, **names: Any
                       ) -> AttentionWeights:
        """Block i's attention part that is shown, or what names say (stack, part, kind)."""
        return super().load_attention(i, dtype, **(self.shown() | names))

    def load_rest(self, i: int, dtype: type = np.float32, **names: Any) -> MLPWeights:
        """Block i's MLP: its last part."""
        where: dict[str, Any] = {"stack": self.stack, "part": 1 if self.stack == "encoder" else 2}
        return super().load_rest(i, dtype, **(where | names))

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """The shown part's departures from the lesson: its self-attention's, or its
        cross-attention's."""
        if self.stack == "decoder" and self.attention_kind == "cross":
            return self.cross_variant()
        return self.own_variant(n, i, x.dtype.type)

    def source(self) -> np.ndarray | None:
        """Where the shown heads' keys and values come from: the encoder's output for
        cross-attention, else (None) the heads' own input."""
        return self.memory if self.stack == "decoder" and self.attention_kind == "cross" else None

    # ---- what a run holds ----

    def memory_needed(self, n: int, layers: list[int], heads: int, *, join: bool = False,
                      float64: bool = False, kept: int = 0, m: int | None = None) -> float:
        """Model.memory_needed; for the decoder, the larger of its two phases: the encoder's
        pass over the source, then the decoder's layers over the target, which hold the
        encoder's output and bias tables too. The decoder's matrices are counted over
        max(target, source) keys: a block's self-attention is n × n, its cross-attention
        n × source."""
        if self.stack == "encoder" or self.source_ids is None:
            return super().memory_needed(n, layers, heads, join=join, float64=float64,
                                         kept=kept)
        s, item = len(self.source_ids), 8 if float64 else 4
        before = self.encoder().memory_needed(s, [self.n_encoder_layers - 1], 0, float64=float64)
        decoder = super().memory_needed(n, layers, heads, join=join, float64=float64,
                                        kept=kept, m=max(n, s))
        held = s * s * self.tables(self.n_encoder_layers) * self.n_heads * item
        return max(before, decoder + held + s * self.d_model * item)

    # ---- the decoder's run ----

    def layers(self, ids_: np.ndarray, dtype: type, last: int, hooks: Hooks = NO_HOOKS, *,
               look: Look | None = None, keep: list[np.ndarray] | None = None,
               progress: Progress | None = None) -> np.ndarray:
        """Model.layers; the decoder's runs on a copy that holds the encoder's output."""
        if self.stack == "encoder" or self.memory is not None:
            return super().layers(ids_, dtype, last, hooks, look=look, keep=keep,
                                  progress=progress)
        assert self.source_ids is not None
        run = copy.copy(self)
        run.memory = self.encode(self.source_ids, dtype)  # (n_source, d)
        return run.layers(ids_, dtype, last, hooks, look=look, keep=keep, progress=progress)

    def _run(self, ids_: np.ndarray, layers: list[int], heads: list[int], join: bool,
             dtype: type, progress: Progress | None, hooks: Hooks
             ) -> tuple[list[HeadSteps], Joined | None]:
        """The one loop; the decoder's runs on a copy that holds the encoder's output."""
        if self.stack == "encoder":
            return super()._run(ids_, layers, heads, join, dtype, progress, hooks)
        assert self.source_ids is not None
        run = copy.copy(self)
        run.memory = self.encode(self.source_ids, dtype)  # (n_source, d)
        return Model._run(run, ids_, layers, heads, join, dtype, progress, hooks)

    # ---- a decoder block: self-attention, cross-attention over the encoder's output, MLP;
    # the loop runs the one shown (hooks see it), these the others ----

    def part(self, i: int, h: np.ndarray, names: dict[str, Any], variant: Variant,
             source: np.ndarray | None = None) -> np.ndarray:
        """h after a decoder block's attention part that is not shown: h + W_O(attn(norm(h)))."""
        attn = super().load_attention(i, h.dtype.type, **names)
        x = self.block.attention_input(h, attn, self.normalise)  # (n, d)
        z = super().all_heads(x, attn, variant, i, source=x if source is None else source)
        return self.add_attention(h, z, attn)

    def add_attention(self, h: np.ndarray, z: np.ndarray, attn: AttentionWeights
                      ) -> np.ndarray:
        """h after an attention part whose heads' joined output is z: W_O(z) added to h
        (pre-norm), or added and the sum normalised (post-norm)."""
        out = linear(z, attn.w_o, attn.b_o)  # (n, d)
        if self.block.adds_parts:
            return h + out
        assert attn.norm is not None
        return self.normalise(h + out, attn.norm)

    def add_mlp(self, h: np.ndarray, rest: MLPWeights) -> np.ndarray:
        """h after a block's MLP: pre-norm h + mlp(norm(h)), post-norm norm(h + mlp(h))."""
        assert rest.norm is not None
        if self.block.adds_parts:
            return h + mlp(self.normalise(h, rest.norm), rest, self.act)  # (n, d)
        return self.normalise(h + mlp(h, rest, self.act), rest.norm)  # (n, d)

    def layer_input(self, i: int, h: np.ndarray, attn: AttentionWeights
                    ) -> tuple[np.ndarray, np.ndarray, Variant]:
        """Model.layer_input; before shown cross-attention, the block's self-attention."""
        if self.source() is not None:
            h = self.part(i, h, self.parts["self"],
                          self.own_variant(h.shape[-2], i, h.dtype.type))
        return super().layer_input(i, h, attn)

    def finish(self, i: int, h: np.ndarray, z: np.ndarray, attn: AttentionWeights,
               rest: MLPWeights, hooks: Hooks = NO_HOOKS) -> np.ndarray:
        """Model.finish; after shown decoder self-attention, the block's cross-attention."""
        if self.stack == "decoder" and self.attention_kind == "self":
            h = self.part(i, self.add_attention(h, z, attn), self.parts["cross"],
                          self.cross_variant(), self.memory)
            return self.add_mlp(h, rest)
        return super().finish(i, h, z, attn, rest, hooks)
