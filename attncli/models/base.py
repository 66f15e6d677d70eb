"""The Model base class every architecture shares: the one forward loop, with its hooks.

An architecture module (bert.py, gpt2.py, ...) gives a table of its checkpoint's tensor
names, reads its config fields, embeds ids, and picks a block (blocks.py: pre-norm,
post-norm or parallel) and a norm. This base class runs the layers, only as far as asked,
and shows each chosen head through `self_attention`, the toy mode's own steps.

The layers before the last chosen one run in float32 with every head at once
(BLAS matmuls, no loop over tokens); a chosen head is re-run in float64 by
`self_attention` on the same input, so its Steps hold every intermediate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tokenizers import Tokenizer

from attncli.attention import Joined, Rotate, Steps, Variant, causal_mask, project_qk
from attncli.attention_fast import HeadSteps, attend, join_heads, self_attention
from attncli.errors import AttnError
from attncli.models.blocks import (
    AttentionWeights,
    Block,
    Experts,
    LMHead,
    MLPWeights,
    Norm,
    PreNorm,
)
from attncli.models.checkpoint import Checkpoint
from attncli.models.config import MAX_LAYERS, Config, Field
from attncli.models.layers import HeldNorm, Packed, held_layer_norm, layer_norm, linear
from attncli.models.read_ahead import ReadAhead, usable_cpus
from attncli.tokens import Token, encode
from attncli.tokens_ahead import Elsewhere

if TYPE_CHECKING:
    from attncli.models.rope import RopeScaling

# a layer's tensors: the first number in a name, between dots ("model.layers.3.mlp…")
LAYER_NAME = re.compile(r"^(.*?)\.(\d+)\.")
STORED_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1}
# told (layers done, layers to run) before the first layer and after each one: how a caller
# shows progress without the models knowing how it is drawn
Progress = Callable[[int, int], None]
Keys = tuple[str, ...]  # a config field's keys, the first one set taking precedence

T = True  # in a Table: stored (out, in) as nn.Linear does, read transposed to (in, out)
# a family's rename table: our name -> (checkpoint name after the family's prefix, with {i}
# for the layer; its shape, in dimension names (DIMS) or numbers; T if transposed)
Table = dict[str, tuple[str, tuple[str | int, ...]] | tuple[str, tuple[str | int, ...], bool]]
DIMS = {"d": "d_model", "ff": "d_ff", "hd": "head_dim", "vocab": "vocab_size",
        "pos": "n_positions"}  # else q, kv, qkv (Model.dim) or an attribute


@dataclass(eq=False)
class Hooks:
    """Where a caller looks into, or changes, a forward pass; each hook is optional and costs
    nothing when left out. layer is the layer's number, from 0.

    - head_outputs(layer, z) -> z: each head's output before W_O, z (n_heads, n, head_dim);
      return it, or another array of its shape (a head zeroed, or patched from another run);
    - residual(layer, h): the residual stream entering layer, h (n, d_model): the embeddings
      for layer 0, and layer = n_layers for the last layer's output (before any final norm);
    - keys_values(layer, k, v): each key/value head's keys (after RoPE) and values,
      (n_kv_heads, m, head_dim) each, m keys;
    - routes(layer, experts, weights): in a mixture-of-experts layer, each token's chosen
      experts (n, top_k) int and their weights (n, top_k).

    Knocking out head 3 of layer 1 and keeping the stream:

        stream = []
        def knock_out(layer, z):
            if layer == 1:
                z = z.copy()
                z[3] = 0
            return z
        h, _ = model.forward(ids, hooks=Hooks(head_outputs=knock_out,
                                                residual=lambda i, h: stream.append(h)))

    run() stops at the last layer shown: its heads run one by one in float64 (as Steps), so
    it has no residual output, keys_values or head_outputs calls."""

    head_outputs: Callable[[int, np.ndarray], np.ndarray] | None = None
    residual: Callable[[int, np.ndarray], None] | None = None
    keys_values: Callable[[int, np.ndarray, np.ndarray], None] | None = None
    routes: Callable[[int, np.ndarray, np.ndarray], None] | None = None


NO_HOOKS = Hooks()
# a run's look at a layer before it is passed through: (layer, x, its weights, its variant)
Look = Callable[[int, np.ndarray, AttentionWeights, Variant], None]
# a cache's keys and values: (layer, the new tokens' k, v) -> every token's k, v to attend over
Past = Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class Model:
    """A Hugging Face checkpoint run in numpy, layer by layer, only as far as asked."""

    model_type: str
    model_types: tuple[str, ...] = ()  # the config.json model_types the family runs
    table: Table = {}  # our tensor names -> the checkpoint's (see Table)
    prefix: str = ""  # before every name of the table (found in configure)
    block: Block = PreNorm  # how a layer adds its attention and MLP back to the stream
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_embed: int
    head_dim: int
    d_ff: int
    vocab_size: int
    eps: float
    act: Callable[[np.ndarray], np.ndarray]
    causal: bool = False  # decoders mask later tokens on their own
    order: str = "learned"  # how the model knows word order: "learned" vectors or "rope"
    stack: str | None = None  # an encoder-decoder's: "encoder", or "decoder" (for_target)
    attention_kind: str = "self"  # what the heads shown look at: "self", or "cross"
    max_positions: int | None = None
    windows: list[int | None] | None = None  # each layer's sliding window, if any slides
    scaling: RopeScaling | None = None  # RoPE's speeds, for a family that turns q and k
    read_ahead: bool = False  # read the next layer's MLP on another thread (run)
    packed_mlp: bool = False  # the MLP's bf16 weights multiplied as stored (load_rest)
    tied_by_default = True  # tie_word_embeddings when config.json leaves it out
    head_names: tuple[str, ...] = ("lm_head.weight",)  # an untied LM head's, as stored
    final_softcap: float | None = None  # logits -> cap * tanh(logits / cap) (Gemma 2)
    scale: float | None = None  # step 4 multiplies the scores by it, not ÷√d_k (Gemma 2)
    softcap: float | None = None  # scaled -> softcap · tanh(scaled / softcap) (Gemma 2)

    def __init__(
        self, name: str, config: dict[str, Any], checkpoint: Checkpoint,
        tokenizer: Tokenizer | Elsewhere, directory: Path | None = None,
    ) -> None:
        self.name = name
        self.directory = directory
        self.checkpoint = checkpoint
        self._tokenizer: Tokenizer | Elsewhere = tokenizer
        where = f"{directory / 'config.json' if directory else name}"
        fields = Config(config, where)
        self.model_type = fields.choice("model_type", options=self.model_types)
        self.configure(fields)
        self.tied = fields.boolean("tie_word_embeddings", default=self.tied_by_default)
        self.architectures = fields.strings("architectures")
        self.bos_id = fields.optional_integer("bos_token_id", low=0)  # what a text may start with
        self.eos_ids = tuple(fields.whole_numbers("eos_token_id", low=0))  # where generating stops
        # every field read, with its kind and bounds: config.json is not read after this
        self.fields: tuple[Field, ...] = tuple(fields.fields)

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer (parsed here on first use if a child process holds it)."""
        if isinstance(self._tokenizer, Elsewhere):
            self._tokenizer = self._tokenizer.here()
        return self._tokenizer

    @classmethod
    def predicts(cls) -> tuple[str, ...]:
        """The model_types whose LM head predict runs: those whose table names a final norm."""
        return cls.model_types if "final_norm" in cls.table else ()

    # ---- what an architecture module fills in ----

    def configure(self, config: Config) -> None:
        """Set the dimensions (n_layers, n_heads, ...) and everything else the family takes
        from config.json, each field read through config's checking readers."""
        raise NotImplementedError

    def read_sizes(self, config: Config, *, layers: Keys = ("num_hidden_layers",),
                   heads: Keys = ("num_attention_heads",), width: Keys = ("hidden_size",),
                   ff: Keys = ("intermediate_size",), kv_heads: str | None = None,
                   head_dim: str | None = None) -> None:
        """The sizes every config.json names, each under the family's keys (the first one
        set): the layers, the heads, the width, the MLP's width (none when ff is empty) and
        the vocabulary. Each head is its own key/value head unless kv_heads names how many
        there are (grouped-query attention); a head's width is the head_dim key's, if the
        config has it, else the width split among the heads."""
        self.n_layers = config.integer(*layers, high=MAX_LAYERS)
        self.n_heads = self.n_kv_heads = config.integer(*heads)
        if kv_heads is not None:  # each key/value head serves as many query heads
            self.n_kv_heads = config.integer(kv_heads, default=self.n_heads)
            config.check(self.n_heads % self.n_kv_heads == 0, f"'{heads[0]}' {self.n_heads} "
                         f"does not split into '{kv_heads}' {self.n_kv_heads} groups")
        self.d_model = config.integer(*width)
        self.d_embed = self.d_model  # the embeddings' width (OPT's, ELECTRA's: their own)
        own = None if head_dim is None else config.optional_integer(head_dim)
        config.check(own is not None or self.d_model % self.n_heads == 0,
                     f"'{width[0]}' {self.d_model} does not split into '{heads[0]}' "
                     f"{self.n_heads} heads")
        self.head_dim = own if own is not None else self.d_model // self.n_heads
        if ff:
            self.d_ff = config.integer(*ff)
        self.vocab_size = config.integer("vocab_size")

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """(n,) token ids -> (n, d_model) input of the first layer: the token embeddings, plus
        the learned embeddings of positions 0..n-1 where the table has them (wpe)."""
        x = self.tensor("wte", dtype, rows=ids)  # (n, d)
        if "wpe" in self.table:
            x = x + self.tensor("wpe", dtype, rows=np.arange(len(ids)))  # (n, d)
        return x

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """The family's norm of x over its last axis: LayerNorm, unless it says otherwise."""
        assert norm.b is not None
        return layer_norm(x, norm.w, norm.b, self.eps)

    def held_norm(self, x: np.ndarray, norm: Norm) -> HeldNorm:
        """normalise's norm at x with its scale held there: a linear map of any part of x
        (HeldNorm). A family with its own norm says here how its scale is held."""
        return held_layer_norm(x, norm.w, norm.b, self.eps)

    def rotation(self, n: int, i: int) -> Rotate | None:
        """Layer i's position rotation of q and k for positions 0..n-1: RoPE with the speeds
        (dynamic, longrope: n's) and the factor on cos and sin (yarn, longrope) that
        transformers uses for an input of n tokens, if the family has RoPE."""
        if self.scaling is None:
            return None
        from attncli.models.rope import rope  # here, so that a family without RoPE skips it

        inv_freq, attention_factor = self.scaling.frequencies(n)  # (rotary_dim / 2,), float
        return rope(n, inv_freq, attention_factor)

    def mask(self, n: int, i: int) -> np.ndarray | None:
        """(n, n) bool, True where a query may not see a key in layer i: a decoder's later
        tokens, and in a sliding-window layer also keys `window` or more back."""
        if not self.causal:
            return None
        mask = causal_mask(n)  # (n, n)
        window = self.window(i)
        if window is not None and n > window:
            mask |= np.tril(np.ones((n, n), dtype=bool), k=-window)  # key j <= query i - window
        return mask

    def window(self, i: int) -> int | None:
        """Layer i's sliding window: its mask hides keys this many or more places back."""
        return self.windows[i] if self.windows else None

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """How layer i's heads depart from the lesson (for x, n tokens): the rotation, the
        mask, q and k normalised per head over head_dim (with q_norm and k_norm); a family
        adds its scale, soft-cap or score bias."""
        q_w, k_w = attn.q_norm, attn.k_norm

        def qk_norm(q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            assert q_w is not None and k_w is not None
            return self.normalise(q, Norm(q_w)), self.normalise(k, Norm(k_w))  # over head_dim

        return Variant(rotate=self.rotation(n, i), mask=self.mask(n, i), window=self.window(i),
                       qk_norm=None if q_w is None else qk_norm, scale=self.scale,
                       softcap=self.softcap)

    def lm_head(self) -> LMHead:
        """The table's final norm and the LM head, lm_head.weight or the word embeddings
        (tied); refused for a family predict does not run, or a checkpoint without them."""
        if not self.predicts():
            from attncli.models import predicting

            raise AttnError(f"predicting tokens does not support model_type {self.model_type!r} "
                            f"yet; it supports {', '.join(predicting())}")
        norm = self.norm_at("final_norm", np.float32)
        assert norm is not None
        return LMHead(norm, self.head_weight(self.d_model))

    def head_weight(self, width: int) -> np.ndarray:
        """The LM head's (vocab, width) matrix: the first of head_names the checkpoint has,
        else the word embeddings (tied)."""
        found = [name for name in self.head_names if name in self.checkpoint]
        if found:
            return self.checkpoint.read(found[0], (self.vocab_size, width))  # (vocab, width)
        if self.tied_head():
            return self.tensor("wte", np.float32)  # (vocab, width)
        raise self.no_lm_head(f"{' or '.join(self.head_names)}, or "
                              f"{self.tensor_name(self.table['wte'][0])} tied in a "
                              "…LMHeadModel or …ForCausalLM")

    def logits(self, h: np.ndarray, head: LMHead | None = None) -> np.ndarray:
        """The last layer's output (n, d_model) through the final norm and the LM head, then
        the soft-cap if the family has one: (n, vocab) logits. head is lm_head()'s weights,
        if already read."""
        out = self.uncapped_logits(h, head)  # (n, vocab)
        cap = self.final_softcap
        if cap is not None:
            out = np.tanh(out / out.dtype.type(cap)) * out.dtype.type(cap)
        return out

    def uncapped_logits(self, h: np.ndarray, head: LMHead | None = None) -> np.ndarray:
        """logits() before any soft-cap: (n, vocab)."""
        head = self.lm_head() if head is None else head
        x = h if head.w_in is None or head.act is None else head.act(
            linear(h, head.w_in, head.b_in))  # (n, d)
        out = self.normalise(x, head.norm) @ head.w.T  # (n, vocab)
        return out if head.b is None else out + head.b

    def for_target(self, source: Sequence[Token], attention: str) -> Model:
        """An encoder-decoder's decoder, reading a target with source as the encoder's
        input; a model with one stack has none."""
        from attncli.models import encoder_decoders

        raise AttnError(f"{self.name} is a {self.model_type} model: it has no decoder to read a "
                        f"target text (encoder-decoder models: {', '.join(encoder_decoders())})")

    # ---- reading weights through the table ----

    def dim(self, name: str) -> int:
        """A table's dimension: q, kv or qkv (the projections' widths), else DIMS'."""
        q, kv = self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        widths = {"q": q, "kv": kv, "qkv": q + 2 * kv}  # qkv: a fused [q | k | v]
        if name == "gate_up":  # a fused [gate | up]
            return 2 * self.d_ff
        return widths[name] if name in widths else getattr(self, DIMS.get(name, name))

    def tensor(self, key: str, dtype: type, i: int | None = None, *,
               rows: np.ndarray | None = None, **names: Any) -> np.ndarray:
        """The table's tensor key (of layer i; names fill in any other fields of its name),
        read as dtype, checked against its shape and transposed where the table says T."""
        pattern, shape, *transposed = self.table[key]
        dims = tuple(self.dim(s) if isinstance(s, str) else s for s in shape)
        array = self.checkpoint.read(self.tensor_name(pattern.format(i=i, **names)), dims, rows,
                                     dtype=dtype)
        return array.T if transposed and transposed[0] else array

    def matrix(self, key: str, dtype: type, i: int, **names: Any) -> np.ndarray | Packed | None:
        """optional(key), for a matrix that layer i uses and drops: Packed (multiplied as the
        checkpoint stores it) when it is bf16 and stored transposed, as most are."""
        if key not in self.table:
            return None
        pattern, shape, *transposed = self.table[key]
        if not (transposed and transposed[0]):
            return self.tensor(key, dtype, i, **names)
        rows, columns = (self.dim(s) if isinstance(s, str) else s for s in shape)
        got = self.checkpoint.read_matrix(self.tensor_name(pattern.format(i=i, **names)),
                                          (rows, columns), dtype)
        return got if isinstance(got, Packed) else got.T

    def tensor_name(self, name: str) -> str:
        """The checkpoint's name for a table entry: after the family's prefix."""
        return self.prefix + name

    def optional(self, key: str, dtype: type, i: int | None = None, **kw: Any
                 ) -> np.ndarray | None:
        """tensor(), or None when the family's table (for this config) has no key."""
        return self.tensor(key, dtype, i, **kw) if key in self.table else None

    def norm_at(self, key: str, dtype: type, i: int | None = None, **names: Any
                ) -> Norm | None:
        """The norm the table names key (weight) and key_b (bias, if any), or None."""
        if key not in self.table:
            return None
        return Norm(self.tensor(key, dtype, i, **names),
                    self.optional(key + "_b", dtype, i, **names))

    def load_attention(self, i: int, dtype: type = np.float32, **names: Any
                       ) -> AttentionWeights:
        """Layer i's attention part: the table's w_q, w_k, w_v, w_o, their biases, ln_attn,
        ln_attn_out, q_norm and k_norm (those it has)."""
        def t(key: str) -> np.ndarray | None:
            return self.optional(key, dtype, i, **names)

        w_o, (b_q, b_k, b_v) = self.tensor("w_o", dtype, i, **names), self.qkv("b", t)
        w_q, w_k, w_v = self.qkv("w", lambda key: self.tensor(key, dtype, i, **names))
        return AttentionWeights(w_q, w_k, w_v, w_o, b_q, b_k, b_v, t("b_o"),
                                self.norm_at("ln_attn", dtype, i, **names),
                                self.norm_at("ln_attn_out", dtype, i, **names),
                                t("q_norm"), t("k_norm"))

    def qkv(self, kind: str, read: Callable[[str], Any]) -> tuple[Any, Any, Any]:
        """The table's {kind}_q, {kind}_k and {kind}_v (w or b), or a fused {kind}_qkv split
        into its column blocks [q | k | v]."""
        if f"{kind}_qkv" not in self.table:
            return read(f"{kind}_q"), read(f"{kind}_k"), read(f"{kind}_v")
        fused = read(f"{kind}_qkv")  # (..., q + 2 kv)
        q, k, v = np.split(fused, [self.dim("q"), self.dim("q") + self.dim("kv")], axis=-1)
        return q, k, v

    def load_rest(self, i: int, dtype: type = np.float32, *, held: bool = False, **names: Any
                  ) -> MLPWeights:
        """Layer i's MLP part: the table's w_up, w_down, w_gate, their biases, ln_mlp and
        ln_mlp_out. With packed_mlp (unless held: float32 arrays, for a caller that keeps
        them and multiplies by them many times) the matrices (most of a layer) stay as
        stored, for linear to convert as it multiplies (Packed)."""
        def t(key: str) -> np.ndarray | None:
            return self.optional(key, dtype, i, **names)

        up, down, gate = ((self.matrix(key, dtype, i, **names) if self.packed_mlp and not held
                           else t(key)) for key in ("w_up", "w_down", "w_gate"))
        if "w_gate_up" in self.table:  # fused, its columns [gate | up]
            gate, up = np.split(self.tensor("w_gate_up", dtype, i, **names), [self.d_ff], -1)
        assert up is not None and down is not None, "every MLP has w_up and w_down"
        return MLPWeights(up, down, gate, t("b_up"), t("b_down"), t("b_gate"),
                          self.norm_at("ln_mlp", dtype, i, **names),
                          self.norm_at("ln_mlp_out", dtype, i, **names))

    def tied_head(self) -> bool:
        """Whether the LM head is the word embeddings: tie_word_embeddings (default
        tied_by_default, as the family's config class has it) in a checkpoint saved with its
        head (…LMHeadModel, …ForCausalLM), which stores the tied matrix once, as the
        embeddings."""
        return self.tied and any(a.endswith(("LMHeadModel", "ForCausalLM"))
                                 for a in self.architectures)

    def no_lm_head(self, names: str) -> AttnError:
        """The refusal for a checkpoint without LM head weights."""
        return AttnError(f"{self.name}: no LM head ({names}): this checkpoint is a base model "
                         f"({', '.join(self.architectures or ['no architectures'])}"
                         "); predicting tokens needs one with its LM head")

    # ---- the API ----

    def tokens(self, text: str) -> list[Token]:
        """Encode text with the model's own tokenizer and post-processor ([CLS], BOS, ...)."""
        where = f"{self.directory or self.name}/tokenizer.json"
        tokens = (self._tokenizer.ahead.encode(text, special_tokens=True, source=where)
                  if isinstance(self._tokenizer, Elsewhere) else
                  encode(self.tokenizer, text, source=where))
        self.check_length(len(tokens))
        return tokens

    def attention(
        self, ids: Sequence[int], layers: Sequence[int], heads: Sequence[int]
    ) -> list[HeadSteps]:
        """Run the forward pass up to max(layers); each chosen (layer, head) as Steps."""
        return self.run(ids, layers, heads)[0]

    def output_projection(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Layer i's W_O (n_heads * head_dim, d_model) and its bias, if any."""
        attn = self.load_attention(i)
        return attn.w_o, attn.b_o

    def run(
        self, ids: Sequence[int], layers: Sequence[int], heads: Sequence[int], *,
        join: bool = False, float64: bool = False, progress: Progress | None = None,
        hooks: Hooks = NO_HOOKS,
    ) -> tuple[list[HeadSteps], Joined | None]:
        """attention(), and with join also step 6 of the last chosen layer: all its heads,
        each through the lesson's steps in float64, joined through the model's W_O. With
        float64 the layers passed through run in float64 too (the weights are read as
        stored, then every product and norm is float64), not only the head shown. progress,
        if given, is told how many of the layers to run are done, before and after each;
        hooks see the layers passed through (Hooks)."""
        ids_ = self.check_ids(ids)  # (n,)
        layers = check_range(layers, self.n_layers, "layer", self.name)
        heads = check_range(heads, self.n_heads, "head", self.name)
        if not layers or not heads:
            return [], None
        self.check_memory(len(ids_), layers, len(heads), join=join, float64=float64)
        return self._run(ids_, layers, heads, join, np.float64 if float64 else np.float32,
                         progress, hooks)

    def _run(self, ids_: np.ndarray, layers: list[int], heads: list[int], join: bool,
             dtype: type, progress: Progress | None, hooks: Hooks
             ) -> tuple[list[HeadSteps], Joined | None]:
        last = max(layers)
        found: dict[tuple[int, int], HeadSteps] = {}
        joined: list[Joined] = []

        def look(i: int, x: np.ndarray, attn: AttentionWeights, variant: Variant) -> None:
            if i in layers:
                for head in heads:
                    found[i, head] = HeadSteps(i, head, self.head_steps(x, attn, head, variant))
            if join and i == last:
                outputs = [found[i, h].steps.output if (i, h) in found else
                           self.head_steps(x, attn, h, variant).output
                           for h in range(self.n_heads)]  # each (n, head_dim)
                joined.append(join_heads(i, outputs, attn.w_o, attn.b_o))

        self.layers(ids_, dtype, last, hooks, look=look, progress=progress)
        return [found[i, head] for i in layers for head in heads], joined[0] if joined else None

    def layers(self, ids_: np.ndarray, dtype: type, last: int, hooks: Hooks = NO_HOOKS, *,
               look: Look | None = None, keep: list[np.ndarray] | None = None,
               progress: Progress | None = None) -> np.ndarray:
        """The one forward loop: ids through layers 0 to last, in dtype. look, if given, sees
        each layer's attention input before the layer runs, and the last layer then stops
        there (run: its output is never needed), returning the stream entering it; without
        look, the last layer's output. keep gets each layer's attention weights (n_heads, n,
        n); hooks as Hooks; progress as for run."""
        stop = last if look is not None else last + 1  # stop: layers passed through
        if progress is not None:
            progress(0, last + 1)
        h = self.embed(ids_, dtype)  # (n, d_model)
        ahead = self.read_rest_ahead(0, stop, last, dtype)
        following: AttentionWeights | None = None  # layer i's, if read ahead with i - 1's MLP
        try:
            for i in range(last + 1):
                if hooks.residual is not None:
                    hooks.residual(i, h)
                attn = following if following is not None else self.load_attention(i, dtype)
                h, x, variant = self.layer_input(i, h, attn)  # (n, d_model)
                if look is not None:
                    look(i, x, attn, variant)
                if i < stop:  # the last shown layer's output (and its MLP) is never needed
                    z = self.all_heads(x, attn, variant, i, hooks, keep)  # (n, H * head_dim)
                    rest, following = (ahead.result() if ahead is not None
                                       else (self.load_rest(i, dtype), None))
                    ahead = self.read_rest_ahead(i + 1, stop, last, dtype)
                    h = self.finish(i, h, z, attn, rest, hooks)
                if progress is not None:
                    progress(i + 1, last + 1)
        finally:  # stopped by an error: wait for a read-ahead still filling buffers that the
            if ahead is not None:  # next run (the explorer's) would use
                ahead.thread.join()
        if stop > last and hooks.residual is not None:
            hooks.residual(last + 1, h)
        return h

    def layer_input(self, i: int, h: np.ndarray, attn: AttentionWeights
                    ) -> tuple[np.ndarray, np.ndarray, Variant]:
        """The stream h as layer i's heads find it (changed only by a layer with a part
        before them: T5's decoder showing cross-attention), what they read from it, and how
        they depart from the lesson."""
        x = self.block.attention_input(h, attn, self.normalise)  # (..., n, d_model)
        return h, x, self.variant(h.shape[-2], i, attn, x)

    def finish(self, i: int, h: np.ndarray, z: np.ndarray, attn: AttentionWeights,
               rest: MLPWeights, hooks: Hooks = NO_HOOKS) -> np.ndarray:
        """Layer i's stream after it, from the heads' joined output z: the family's block
        (a mixture of experts tells hooks.routes where it sent each token)."""
        if hooks.routes is not None and isinstance(rest, Experts):
            routes = hooks.routes
            rest = replace(rest, seen=lambda ids, w: routes(i, ids, w))
        return self.block.finish(h, z, attn, rest, self.normalise, self.act)

    def layer_step(self, i: int, h: np.ndarray, attn: AttentionWeights, rest: MLPWeights,
                   hooks: Hooks = NO_HOOKS) -> np.ndarray:
        """Layer i, with its weights already read, on the stream h (n, d_model), or on a
        batch of streams at once (b, n, d_model), as the loop above runs it: an analysis that
        starts from a saved stream, or runs many streams through each layer read once. With a
        batch, the hooks see its leading dimension too."""
        h, x, variant = self.layer_input(i, h, attn)
        z = self.all_heads(x, attn, variant, i, hooks)  # (..., n, H * head_dim)
        return self.finish(i, h, z, attn, rest, hooks)

    def read_rest_ahead(self, i: int, stop: int, last: int, dtype: type) -> ReadAhead | None:
        """read_next(i) on another thread, if the family reads ahead and layer i's MLP will be
        needed (i < stop): a big model's reading and converting then overlaps the layer
        before's products. Not on one CPU, where the two only take turns."""
        if not self.read_ahead or i >= stop or usable_cpus() < 2:
            return None
        return ReadAhead(self.read_next, i, last, dtype)

    def read_next(self, i: int, last: int, dtype: type
                  ) -> tuple[MLPWeights, AttentionWeights | None]:
        """Layer i's MLP, and layer i + 1's attention if the run goes on to it."""
        return self.load_rest(i, dtype), self.load_attention(i + 1, dtype) if i < last else None

    def forward(self, ids: Sequence[int], *, float64: bool = False,
                progress: Progress | None = None, held: int = 0, hooks: Hooks = NO_HOOKS
                ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Every layer, to the end: the last layer's output (n, d_model), before any final
        norm, and each layer's attention weights, (n_heads, n, n) each. progress as for run;
        hooks as Hooks. held: bytes the caller keeps meanwhile (predict's LM head), weighed
        with the run."""
        ids_ = self.check_ids(ids)  # (n,)
        self.check_memory(len(ids_), [self.n_layers - 1], 0, float64=float64,
                          kept=self.n_layers * self.n_heads, held=held)
        weights: list[np.ndarray] = []
        h = self.layers(ids_, np.float64 if float64 else np.float32, self.n_layers - 1, hooks,
                        keep=weights, progress=progress)
        return h, weights

    def hidden_states(self, ids: Sequence[int], *, float64: bool = False) -> list[np.ndarray]:
        """The residual stream of every token, as the residual hook sees it: [0] the
        embeddings entering layer 0, [i + 1] layer i's output, before any final norm;
        (n, d_model) each."""
        hidden: list[np.ndarray] = []
        self.forward(ids, float64=float64,
                     hooks=Hooks(residual=lambda _, h: hidden.append(h)))
        return hidden

    def head_slices(self, head: int) -> tuple[slice, slice]:
        """Where a query head's columns, and its key/value head's, sit in the projections."""
        hd = self.head_dim
        kv = head // (self.n_heads // self.n_kv_heads)  # grouped-query: query heads share a kv head
        return slice(head * hd, (head + 1) * hd), slice(kv * hd, (kv + 1) * hd)

    def source(self) -> np.ndarray | None:
        """The rows the heads the loop runs make their keys and values from, when not from
        their own input: an encoder's output, for cross-attention (T5's decoder)."""
        return None

    def head_steps(self, x: np.ndarray, attn: AttentionWeights, head: int, variant: Variant
                   ) -> Steps:
        """One query head, paired with its key/value head, through the lesson's steps; with
        a source(), the keys and values come from it: cross-attention."""
        q, k = self.head_slices(head)
        return self_attention(
            x,
            attn.w_q[:, q],  # (d_model, head_dim)
            attn.w_k[:, k],  # (d_model, head_dim)
            attn.w_v[:, k],  # (d_model, head_dim)
            b_q=None if attn.b_q is None else attn.b_q[q],
            b_k=None if attn.b_k is None else attn.b_k[k],
            b_v=None if attn.b_v is None else attn.b_v[k],
            variant=self.head_variant(variant, head),
            source=self.source(),
        )

    def head_variant(self, variant: Variant, head: int) -> Variant:
        """The layer's Variant as one head sees it (a per-head score bias and ALiBi slope:
        that head's)."""
        if variant.score_bias is not None and variant.score_bias.ndim == 3:
            variant = replace(variant, score_bias=variant.score_bias[head])
        if any(t.ndim == 3 for _, t in variant.score_terms):  # the bias: exactly their sum
            terms = tuple((name, np.asarray(t[head], np.float64))
                          for name, t in variant.score_terms)
            variant = replace(variant, score_terms=terms,
                              score_bias=np.sum([t for _, t in terms], axis=0))
        if isinstance(variant.alibi_slope, np.ndarray):
            variant = replace(variant, alibi_slope=float(variant.alibi_slope[head]))
        return variant

    def all_heads(self, x: np.ndarray, attn: AttentionWeights, variant: Variant, layer: int,
                  hooks: Hooks = NO_HOOKS, keep: list[np.ndarray] | None = None,
                  source: np.ndarray | None = None, past: Past | None = None) -> np.ndarray:
        """Every head of a layer at once, through the same steps, in x's dtype (float32, or
        float64 when asked): (n, n_heads * head_dim). keep, if given, gets the weights
        (n_heads, n, m); the keys and values come from source (m rows) if given, else from
        source(), else from x (m = n); hooks see the keys and values and the heads' outputs.
        past, if given, puts the earlier tokens' keys and values before these (a cache:
        models/cache.py)."""
        hd, lead = self.head_dim, x.shape[:-2]  # lead: a batch of streams, if any
        source = self.source() if source is None else source
        kv = x if source is None else source

        def split(t: np.ndarray) -> np.ndarray:  # (..., n, heads * hd) -> (..., heads, n, hd)
            return np.swapaxes(t.reshape(*t.shape[:-1], -1, hd), -2, -3)

        q, k = split(linear(x, attn.w_q, attn.b_q)), split(linear(kv, attn.w_k, attn.b_k))
        v = split(linear(kv, attn.w_v, attn.b_v))
        q, k, _, _ = project_qk(q, k, variant)  # (..., heads, n, head_dim)
        if past is not None:
            k, v = past(layer, k, v)  # (n_kv_heads, m, head_dim) each: the earlier ones first
        if hooks.keys_values is not None:
            hooks.keys_values(layer, k, v)  # (..., n_kv_heads, m, head_dim) each
        rep = self.n_heads // self.n_kv_heads
        k, v = np.repeat(k, rep, axis=-3), np.repeat(v, rep, axis=-3)  # (..., n_heads, m, hd)
        scores, _, weights, y, _, _ = attend(q, k, v, variant)  # y: (..., n_heads, n, hd)
        if not (np.isfinite(scores).all() and np.isfinite(y).all()):
            raise AttnError(f"{self.name}: the numbers overflow in {x.dtype} (a layer before "
                            f"the one shown); its weights are too large for {x.dtype}")
        if keep is not None:
            keep.append(weights)
        if hooks.head_outputs is not None:
            y = hooks.head_outputs(layer, y)  # (..., n_heads, n, head_dim)
        return np.swapaxes(y, -2, -3).reshape(*lead, x.shape[-2], self.n_heads * hd)

    # ---- checks ----

    def matrices(self) -> tuple[int, int]:
        """(per head shown, per head passed through): how many n×m matrices a head's steps
        keep, in float64 and in the run's dtype: scores, scaled and weights, and with a
        soft-cap the scores before and after it (a family with a score bias keeps more)."""
        extra = 0 if self.softcap is None else 2
        return 3 + extra, 3 + extra

    def check_memory(self, n: int, layers: list[int], heads: int, *, join: bool = False,
                     float64: bool = False, kept: int = 0, held: int = 0) -> None:
        """Refuse a run whose memory, estimated before anything is allocated, exceeds the
        budget: n tokens through layers 0 to max(layers), heads shown in each of layers
        (kept: more n×n matrices of the run's dtype held to the end, such as forward's
        attention weights; held: bytes the caller holds besides). See memory_needed."""
        from attncli.files import check_memory

        need = held + self.memory_needed(n, layers, heads, join=join, float64=float64,
                                         kept=kept)
        through = max(layers) + 1
        check_memory(need, f"{self.name}: {n:,} tokens through {through} layer"
                     f"{'s' if through > 1 else ''} in {'float64' if float64 else 'float32'}")

    def memory_needed(self, n: int, layers: list[int], heads: int, *, join: bool = False,
                      float64: bool = False, kept: int = 0, m: int | None = None) -> float:
        """Bytes a run of n queries over m keys (m = n) through layers 0 to max(layers) holds
        at its peak, counted from what the run allocates, in the run's dtype (float64
        doubles all but the stored weights):
        - each head shown keeps its n×m matrices in float64 to the end (join works out every
          head of the last layer too, one at a time);
        - a layer passed through (every layer before the last one shown) works out every head
          at once, keeping each head's matrices until the layer ends, with a check of each
          for overflow and a mask; heads shown in earlier layers are kept meanwhile;
        - the family's position biases (score_bias_bytes): kept ones, and the work of making
          one, which happens at a layer's start;
        - the weights of one layer (two with a read-ahead), as the checkpoint declares them:
          the stored bytes read and the converted ones;
        - the activations between layers: a few n × (the widest tensor's size) arrays, such
          as an MLP's inner layer."""
        m = n if m is None else m
        item = 8 if float64 else 4
        last = max(layers)
        per_shown, per_pass = self.matrices()
        before = sum(layer < last for layer in layers) * heads * per_shown * 8
        shown = len(layers) * heads * (per_shown * 8 + 1) + (per_shown * 8 if join else 0)
        passing = self.n_heads * (per_pass * item + 1) + 1 if last > 0 else 0
        biases, making = self.score_bias_bytes(last, item)
        peak = kept * item + biases + max(before + max(passing, making), shown)
        weights, widest = self.layer_weights(last, item)
        return n * m * peak + weights + 4 * n * widest * item

    def score_bias_bytes(self, last: int, item: int) -> tuple[int, int]:
        """Bytes per query-key pair of the position biases a run through layers 0 to last
        keeps, and of the work of making one (a family with a score bias table says)."""
        return 0, 0

    def layer_weights(self, last: int, item: int) -> tuple[int, int]:
        """(bytes, widest): the weights a run through layers 0 to last holds at once, from
        the checkpoint's headers (the tensors as declared), and the largest dimension of any
        of their tensors. A layer's weights, converted to item bytes a number, are held
        until the next layer's are read: two layers at once (three with a read-ahead, which
        reads the next layer's rest meanwhile), counted as the largest layer; a tensor's
        stored bytes are held only while it is converted: the largest one's. A tensor
        belongs to layer i when the first number in its name is i, between dots
        ("model.layers.3.mlp…"), as every family names them."""
        groups: dict[tuple[str, int], int] = {}
        stored = 0
        widest = self.d_model
        for name, path in self.checkpoint.files.items():
            found = LAYER_NAME.search(name)
            if found is None or int(found.group(2)) > last:
                continue
            info = self.checkpoint.header(path)[0].get(name)
            if not isinstance(info, dict):
                continue  # read() names a tensor missing from its file
            size = math.prod(info["shape"])
            key = (found.group(1), int(found.group(2)))
            groups[key] = groups.get(key, 0) + size
            stored = max(stored, size * STORED_BYTES.get(info["dtype"], 4))
            widest = max(widest, *info["shape"], 0)
        held = 3 if self.read_ahead else 2
        return max(groups.values(), default=0) * item * held + stored, widest

    def check_length(self, n: int) -> None:
        """Refuse more tokens than the model has positions for."""
        if self.max_positions is not None and n > self.max_positions:
            raise AttnError(f"the text is {n} tokens long, but {self.name} takes at most"
                            f" {self.max_positions} positions")

    def check_ids(self, ids: Sequence[int]) -> np.ndarray:
        """Token ids as a (n,) int64 array, each one inside the vocabulary."""
        arr = np.asarray(list(ids), dtype=np.int64)  # (n,)
        if arr.size == 0:
            raise AttnError("no tokens to run the model on")
        bad = arr[(arr < 0) | (arr >= self.vocab_size)]
        if bad.size:
            raise AttnError(f"token id {int(bad[0])} is outside {self.name}'s vocabulary"
                            f" of {self.vocab_size}")
        self.check_length(len(arr))
        return arr


def check_range(values: Sequence[int], count: int, what: str, name: str) -> list[int]:
    """Distinct values in the order given, each in 0..count-1."""
    out = list(dict.fromkeys(int(v) for v in values))
    for v in out:
        if not 0 <= v < count:
            raise AttnError(f"{what} {v} is out of range: {name} has {count} {what}s"
                            f" (0 to {count - 1})")
    return out
