"""Gemma 2: Gemma with its own score scale, soft-capped scores, alternating sliding windows
and a norm after the attention and after the MLP as well as before them.

As transformers' modeling_gemma2 does it:

  - the scores are multiplied by query_pre_attn_scalar^-0.5 rather than divided by
    √head_dim (Gemma 2 27B: 144^-0.5 with head_dim 128): the Variant's scale;
  - the scaled scores are soft-capped, attn_logit_softcapping · tanh(scaled / cap), before
    the mask: the Variant's softcap, its own step;
  - layer_types says which layers slide (a query sees only its sliding_window - 1 previous
    keys); a config without it alternates, starting with a sliding layer 0;
  - a layer is  h += post_attention_norm(attn(input_norm(h)));
                h += post_feedforward_norm(mlp(pre_feedforward_norm(h))),
    each a Gemma (1 + w) RMSNorm.

"""

from __future__ import annotations

from attncli.models.base import Table
from attncli.models.config import Config
from attncli.models.gemma import SOFTCAP, Gemma
from attncli.models.llama import TABLE as LLAMA

# llama's names, with a norm after the attention and around the MLP
TABLE: Table = {**{k: v for k, v in LLAMA.items() if k != "ln_mlp"},
                "ln_attn_out": ("layers.{i}.post_attention_layernorm.weight", ("d",)),
                "ln_mlp": ("layers.{i}.pre_feedforward_layernorm.weight", ("d",)),
                "ln_mlp_out": ("layers.{i}.post_feedforward_layernorm.weight", ("d",))}


class Gemma2(Gemma):
    """gemma2."""

    model_types = ("gemma2",)
    table = TABLE
    pattern = 2  # before layer_types: every other layer slides
    act_keys = ("hidden_activation",)  # Gemma 2 and 3 read hidden_activation, as it is
    act_renamed = {}
    capped = True  # the scores are soft-capped (attn_logit_softcapping)
    slides = True  # in the layers layer_types (or the pattern) says

    def configure(self, config: Config) -> None:
        """Gemma's, and the scale, the soft-cap and the sliding layers."""
        super().configure(config)
        scalar = config.optional_number("query_pre_attn_scalar", **SOFTCAP)
        self.scale = (scalar if scalar is not None else self.head_dim) ** -0.5
        if self.capped:
            self.softcap = config.optional_number("attn_logit_softcapping", **SOFTCAP)
