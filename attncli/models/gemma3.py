"""Gemma 3 (text): Gemma 2 with q and k normalised per head, two RoPE bases, and no soft-cap.

As transformers' modeling_gemma3 (Gemma3TextModel) does it:

  - each head's q and k pass through a Gemma (1 + w) RMSNorm over head_dim (one weight vector
    shared by all heads) after the projection and before RoPE: the Variant's qk_norm;
  - the scale is query_pre_attn_scalar^-0.5, as in Gemma 2;
  - the scores are not soft-capped: transformers 5 does not pass attn_logit_softcapping to
    Gemma 3's attention, so a value in config.json changes nothing;
  - sliding layers turn q and k with their own RoPE base: rope_parameters["sliding_attention"]
    (older configs: rope_local_base_freq, 10 000), global layers with
    rope_parameters["full_attention"] (older: rope_theta and rope_scaling, 1 000 000), each
    of any rope type (linear, llama3, dynamic, yarn, longrope);
  - without layer_types, five sliding layers come before each global one
    (sliding_window_pattern, 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from attncli.attention import Rotate
from attncli.models.base import Table
from attncli.models.checkpoint import Checkpoint
from attncli.models.config import Config, as_config
from attncli.models.gemma2 import TABLE as GEMMA2
from attncli.models.gemma2 import Gemma2
from attncli.models.layers import layer_kinds
from attncli.models.rope import RopeScaling, rope
from attncli.tokens_ahead import Elsewhere

KINDS = ("sliding_attention", "full_attention")
TABLE: Table = {**GEMMA2,  # and q and k normalised per head, over head_dim
                "q_norm": ("layers.{i}.self_attn.q_norm.weight", ("hd",)),
                "k_norm": ("layers.{i}.self_attn.k_norm.weight", ("hd",))}


def rope_scalings(config: Config | Mapping[str, Any], head_dim: int
                  ) -> dict[str, RopeScaling]:
    """Each layer kind's RoPE, any rope type (yarn, dynamic, longrope too), from transformers
    5's nested rope_parameters, or an older config's rope_theta and rope_scaling (global
    layers, base 1 000 000) and rope_local_base_freq (sliding layers, 10 000)."""
    config = as_config(config)
    nested = config.section("rope_parameters")
    if any(nested.has(kind) for kind in KINDS):  # a kind left out: the default RoPE
        config.check(not config.has("rope_scaling"), "both 'rope_parameters' and 'rope_scaling' "
                     "are set: attncli reads one form, not the two merged; keep one")
        thetas = {"full_attention": (("rope_theta",), 1_000_000.0),
                  "sliding_attention": (("rope_local_base_freq",), 10_000.0)}
        return {kind: RopeScaling(config, head_dim, params=nested.section(kind),
                                  theta_keys=thetas[kind][0], theta_default=thetas[kind][1],
                                  top_level_original=False) for kind in KINDS}
    # transformers does not read a rope_parameters without layer kinds here: neither does this
    return {"full_attention": RopeScaling(config, head_dim, theta_default=1_000_000.0,
                                          params=config.section("rope_scaling"),
                                          top_level_original=False),
            "sliding_attention": RopeScaling(config, head_dim, theta_default=10_000.0,
                                             theta_keys=("rope_local_base_freq",),
                                             params=Config({}, config.where))}


def rope_speeds(config: Config | Mapping[str, Any], head_dim: int) -> dict[str, np.ndarray]:
    """Each layer kind's RoPE speeds, (head_dim / 2,), for positions up to
    max_position_embeddings (rope_scalings' speeds before any length changes them)."""
    return {kind: scaling.inv_freq for kind, scaling in rope_scalings(config, head_dim).items()}


class Gemma3Text(Gemma2):
    """gemma3_text (the text-only Gemma 3: 270M, 1B, and EmbeddingGemma's base)."""

    model_types = ("gemma3_text",)
    table = TABLE
    pattern = 6
    capped = False  # transformers 5 does not pass attn_logit_softcapping to Gemma 3's attention

    def rope_scaling(self, config: Config) -> RopeScaling:
        """Gemma 3's RoPE differs per layer kind (each layer's kind picks its base and rope
        type): read by rope_scalings, here the plain speeds. With dynamic NTK in a kind, the
        text may grow to factor times max_position_embeddings."""
        self.scalings = rope_scalings(config, self.head_dim)
        dynamic = [s.factor for s in self.scalings.values() if s.kind == "dynamic"]
        if dynamic and self.max_positions is not None:
            self.max_positions = int(max(dynamic) * self.max_positions)
        kinds = layer_kinds(config, self.n_layers, self.pattern)
        assert kinds is not None
        self.kinds = kinds
        return RopeScaling({}, self.head_dim)

    def rotation(self, n: int, i: int) -> Rotate:
        """RoPE for positions 0..n-1 as layer i's kind, sliding or global, has it: its base,
        its rope type's speeds for n tokens and its factor on cos and sin."""
        inv_freq, factor = self.scalings[self.kinds[i]].frequencies(n)
        return rope(n, inv_freq, factor)


class Gemma3(Gemma3Text):
    """gemma3 (Gemma 3 4B, 12B, 27B: Gemma3ForConditionalGeneration), its text model only.

    config.json's text_config is a gemma3_text config, and the checkpoint holds the text
    model's tensors under language_model.model. (as saved on the Hub; model.language_model.
    as transformers 5 names the modules), beside the vision tower's, which are never read:
    attncli runs text only, so an image never reaches the model. A checkpoint without the
    text model's tensors (a vision tower alone) is refused."""

    model_types = ("gemma3",)
    prefixes = ("language_model.model.", "model.language_model.")
    head_names = ("lm_head.weight", "language_model.lm_head.weight")

    def __init__(self, name: str, config: dict[str, Any], checkpoint: Checkpoint,
                 tokenizer: Tokenizer | Elsewhere, directory: Path | None = None) -> None:
        """Model's, with the sizes and layers read from text_config (named so in errors)."""
        self.name, self.directory = name, directory
        self.checkpoint, self._tokenizer = checkpoint, tokenizer
        top = Config(config, f"{directory / 'config.json' if directory else name}")
        self.model_type = top.choice("model_type", options=self.model_types)
        top.check(top.has("text_config"), "'text_config' is missing: a gemma3 config names "
                  "its text model there")
        text = top.section("text_config")
        top.check(any(n.startswith(self.prefixes) for n in checkpoint.files),
                  f"no text model tensors ({' or '.join(p + '*' for p in self.prefixes)}) in "
                  f"{checkpoint.source}: a Gemma 3 vision tower alone has no text to run")
        self.configure(text)
        tie = "tie_word_embeddings"
        self.tied = (top if top.has(tie) else text).boolean(tie, default=self.tied_by_default)
        self.architectures = top.strings("architectures")
        ids = top if top.has("eos_token_id") else text
        self.bos_id = (top if top.has("bos_token_id") else text).optional_integer(
            "bos_token_id", low=0)
        self.eos_ids = tuple(ids.whole_numbers("eos_token_id", low=0))
        self.fields = tuple(top.fields)

    def tied_head(self) -> bool:
        """tie_word_embeddings in a checkpoint saved with its head
        (…ForConditionalGeneration stores the tied matrix once, as the embeddings)."""
        return self.tied and any(a.endswith(("ForConditionalGeneration", "ForCausalLM"))
                                 for a in self.architectures)
