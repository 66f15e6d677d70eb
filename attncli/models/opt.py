"""OPT: a causal decoder with learned positions offset by 2, pre- or post-LayerNorm.

Token t's position vector is row t + 2 of embed_positions (OPT keeps two unused rows, a
fairseq legacy). With do_layer_norm_before (every OPT but opt-350m) the attention input x of
layer i is self_attn_layer_norm of the residual stream, as in GPT-2; without it, x is the
residual stream itself and the norms come after each residual add, as in BERT. The MLP is
fc1, ReLU, fc2. When word_embed_proj_dim differs from hidden_size (opt-350m) the token
embeddings are that narrow and project_in (no bias) widens them before the positions are added.

transformers multiplies q by 1/√d_k before q·kᵀ; here the scores are divided by √d_k after it,
the lesson's step 4: the same numbers up to float rounding (the Steps' q is the unscaled one).

Biases unless enable_bias is false; norm weights and biases unless
layer_norm_elementwise_affine is false (then 1 and 0).

The LM head (predict): final_layer_norm, then project_out (no bias) back to the embeddings'
width where that is narrower, then lm_head.weight or the tied token embeddings. Both are
linear, so project_out is folded into the head's matrix: W_head @ W_out, (vocab, d). A
post-norm OPT (opt-350m) has no final LayerNorm; predict refuses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attncli.errors import AttnError
from attncli.models.base import Model, T, Table
from attncli.models.blocks import LMHead, Norm, PostNorm, PreNorm
from attncli.models.config import Config
from attncli.models.layers import activation, linear

OFFSET = 2  # OPT's position t is row t + 2 of embed_positions
# our name -> checkpoint name after "decoder.", itself after an optional "model."
TABLE: Table = {
    "wte": ("embed_tokens.weight", ("vocab", "d_embed")),
    "wpe": ("embed_positions.weight", ("n_positions_stored", "d")),
    "project_in": ("project_in.weight", ("d", "d_embed"), T),  # only when d_embed != d
    **{f"w_{x}": (f"layers.{{i}}.self_attn.{x}_proj.weight", ("d", "d"), T) for x in "qkv"},
    **{f"b_{x}": (f"layers.{{i}}.self_attn.{x}_proj.bias", ("d",)) for x in "qkv"},
    "w_o": ("layers.{i}.self_attn.out_proj.weight", ("d", "d"), T),
    "b_o": ("layers.{i}.self_attn.out_proj.bias", ("d",)),
    "ln_attn": ("layers.{i}.self_attn_layer_norm.weight", ("d",)),
    "ln_attn_b": ("layers.{i}.self_attn_layer_norm.bias", ("d",)),
    "w_up": ("layers.{i}.fc1.weight", ("ff", "d"), T),
    "b_up": ("layers.{i}.fc1.bias", ("ff",)),
    "w_down": ("layers.{i}.fc2.weight", ("d", "ff"), T),
    "b_down": ("layers.{i}.fc2.bias", ("d",)),
    "ln_mlp": ("layers.{i}.final_layer_norm.weight", ("d",)),
    "ln_mlp_b": ("layers.{i}.final_layer_norm.bias", ("d",)),
    "final_norm": ("final_layer_norm.weight", ("d",)),  # pre-norm OPTs only
    "final_norm_b": ("final_layer_norm.bias", ("d",)),
    "project_out": ("project_out.weight", ("d_embed", "d")),  # only when d_embed != d
}


class OPT(Model):
    """opt (facebook/opt-125m ... ; pre-norm, and opt-350m's post-norm with project_in)."""

    model_types = ("opt",)
    table = TABLE
    causal = True

    def configure(self, config: Config) -> None:
        """Dimensions from an OPTConfig."""
        self.read_sizes(config, ff=("ffn_dim",))
        self.d_embed = config.integer("word_embed_proj_dim", default=self.d_model)
        self.n_positions = self.max_positions = config.integer("max_position_embeddings")
        self.pre_norm = config.boolean("do_layer_norm_before", default=True)
        self.bias = config.boolean("enable_bias", default=True)
        self.affine = config.boolean("layer_norm_elementwise_affine", default=True)
        self.eps = 1e-5  # nn.LayerNorm's default: OPTConfig has no eps
        self.act = activation(config, "activation_function", default="relu")
        self.n_positions_stored = self.n_positions + OFFSET
        self.block = PreNorm if self.pre_norm else PostNorm
        self.table = {k: v for k, v in TABLE.items()
                      if (self.bias or not k.startswith("b_")) and
                      (self.affine or not k.startswith("ln_"))}
        self.prefix = self.checkpoint.prefix("decoder.embed_tokens.weight", ("", "model.")) \
            + "decoder."

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Token embeddings (widened by project_in where narrower) + positions 2..n+1."""
        wte = self.tensor("wte", dtype, rows=ids)  # (n, e)
        if self.d_embed != self.d_model:
            wte = linear(wte, self.tensor("project_in", dtype))  # (n, d)
        return wte + self.tensor("wpe", dtype, rows=np.arange(len(ids)) + OFFSET)  # (n, d)

    def norm_at(self, key: str, dtype: type, i: int | None = None, **names: Any
                ) -> Norm | None:
        """A LayerNorm's weight and bias: read, or 1 and 0 without elementwise affine."""
        if self.affine or key not in TABLE:
            return super().norm_at(key, dtype, i, **names)
        return Norm(np.ones(self.d_model, np.float32), np.zeros(self.d_model, np.float32))

    def lm_head(self) -> LMHead:
        """final_layer_norm, then the head with project_out folded in (see the module)."""
        if not self.pre_norm:
            raise AttnError(f"{self.name}: predicting tokens needs the final LayerNorm, which a "
                            "post-norm OPT ('do_layer_norm_before' false, as opt-350m) does not "
                            "have")
        norm = self.norm_at("final_norm", np.float32)
        assert norm is not None
        w = self.head_weight(self.d_embed)  # (vocab, e)
        if self.d_embed != self.d_model:
            w = w @ self.tensor("project_out", np.float32)  # (vocab, e) @ (e, d)
        return LMHead(norm, w)
