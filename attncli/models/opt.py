"""OPT: a causal decoder with learned positions offset by 2, pre- or post-LayerNorm.

Token t's position vector is row t + 2 of embed_positions (OPT keeps two unused rows, a
fairseq legacy). With do_layer_norm_before (every OPT but opt-350m) the attention input x of
layer i is self_attn_layer_norm of the residual stream, as in GPT-2; without it, x is the
residual stream itself and the norms come after each residual add, as in BERT. The MLP is
fc1, ReLU, fc2. When word_embed_proj_dim differs from hidden_size (opt-350m) the token
embeddings are that narrow and project_in (no bias) widens them before the positions are added.

transformers multiplies q by 1/√d_k before q·kᵀ; here the scores are divided by √d_k after it,
the lesson's step 4: the same numbers up to float rounding (the Steps' q is the unscaled one).

Weight map, checkpoint name (after "decoder.", itself after an optional "model.") -> ours.
nn.Linear stores (out, in); T marks the transposition to (in, out). Biases unless enable_bias
is false; norm weights and biases unless layer_norm_elementwise_affine is false (then 1 and 0).

    embed_tokens.weight                        (vocab, e)        wte, only the rows used
    embed_positions.weight                     (n_pos + 2, d)    wpe, rows 2..n+1
    project_in.weight                          (d, e) T          only when e != d
    layers.{i}.self_attn_layer_norm            (d,)              ln_1
    layers.{i}.self_attn.{q,k,v}_proj          (d, d) T, (d,)    w_q, b_q, w_k, b_k, w_v, b_v
    layers.{i}.self_attn.out_proj              (d, d) T, (d,)    w_o, b_o
    layers.{i}.final_layer_norm                (d,)              ln_2
    layers.{i}.fc1                             (ff, d) T, (ff,)  w_fc, b_fc
    layers.{i}.fc2                             (d, ff) T, (d,)   w_proj, b_proj
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import Layer, Model, split_heads
from attncli.models.config import MAX_LAYERS, Config
from attncli.models.layers import activation, layer_norm, linear

OFFSET = 2  # OPT's position t is row t + 2 of embed_positions


class OPT(Model):
    """opt (facebook/opt-125m ... ; pre-norm, and opt-350m's post-norm with project_in)."""

    model_types = ("opt",)
    causal = True

    def configure(self, config: Config) -> None:
        """Dimensions from an OPTConfig."""
        self.n_layers = config.integer("num_hidden_layers", high=MAX_LAYERS)
        self.n_heads = self.n_kv_heads = config.integer("num_attention_heads")
        self.d_model = config.integer("hidden_size")
        self.head_dim = split_heads(config, "hidden_size", self.d_model, "num_attention_heads",
                                    self.n_heads)
        self.d_ff = config.integer("ffn_dim")
        self.d_embed = config.integer("word_embed_proj_dim", default=self.d_model)
        self.vocab_size = config.integer("vocab_size")
        self.n_positions = self.max_positions = config.integer("max_position_embeddings")
        self.pre_norm = config.boolean("do_layer_norm_before", default=True)
        self.bias = config.boolean("enable_bias", default=True)
        self.affine = config.boolean("layer_norm_elementwise_affine", default=True)
        self.eps = 1e-5  # nn.LayerNorm's default: OPTConfig has no eps
        self.act = activation(config, "activation_function", default="relu")
        self.prefix = self.checkpoint.prefix("decoder.embed_tokens.weight", ("", "model.")) \
            + "decoder."

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Token embeddings (widened by project_in where narrower) + positions 2..n+1."""
        p, d, e, read = self.prefix, self.d_model, self.d_embed, self.checkpoint.read
        wte = read(p + "embed_tokens.weight", (self.vocab_size, e), rows=ids)  # (n, e)
        if e != d:
            wte = linear(wte, read(p + "project_in.weight", (d, e)).T)  # (n, d)
        wpe = read(p + "embed_positions.weight", (self.n_positions + OFFSET, d),
                   rows=np.arange(len(ids)) + OFFSET)  # (n, d)
        return wte + wpe

    def norm(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A LayerNorm's (weight, bias): read, or 1 and 0 without elementwise affine."""
        d = self.d_model
        if not self.affine:
            return np.ones(d, np.float32), np.zeros(d, np.float32)
        read = self.checkpoint.read
        return read(name + ".weight", (d,)), read(name + ".bias", (d,))

    def linear_weights(self, name: str, out: int, inp: int) -> tuple[np.ndarray, np.ndarray | None]:
        """An nn.Linear's weight, transposed to (in, out), and its bias if the model has one."""
        read = self.checkpoint.read
        bias = read(name + ".bias", (out,)) if self.bias else None
        return read(name + ".weight", (out, inp)).T, bias

    def load_attention(self, i: int) -> Layer:
        """Layer i's self_attn_layer_norm and q, k, v projections."""
        p, d = f"{self.prefix}layers.{i}.", self.d_model
        layer: Layer = {"ln_1": self.norm(p + "self_attn_layer_norm")}
        for ours in "qkv":
            layer[f"w_{ours}"], layer[f"b_{ours}"] = self.linear_weights(
                f"{p}self_attn.{ours}_proj", d, d)  # (d, d), (d,)
        return layer

    def load_rest(self, i: int) -> Layer:
        """Layer i's out_proj, final_layer_norm and MLP."""
        p, d, ff = f"{self.prefix}layers.{i}.", self.d_model, self.d_ff
        w_o, b_o = self.linear_weights(p + "self_attn.out_proj", d, d)  # (d, d)
        w_fc, b_fc = self.linear_weights(p + "fc1", ff, d)  # (d, ff)
        w_proj, b_proj = self.linear_weights(p + "fc2", d, ff)  # (ff, d)
        return {"w_o": w_o, "b_o": b_o, "ln_1": self.norm(p + "self_attn_layer_norm"),
                "ln_2": self.norm(p + "final_layer_norm"), "w_fc": w_fc, "b_fc": b_fc,
                "w_proj": w_proj, "b_proj": b_proj}

    def attention_input(self, h: np.ndarray, layer: Layer) -> np.ndarray:
        """Pre-norm: self_attn_layer_norm of the residual stream; post-norm: the stream."""
        return layer_norm(h, *layer["ln_1"], self.eps) if self.pre_norm else h  # (n, d)

    def finish_layer(self, h: np.ndarray, attn: np.ndarray, rest: Layer) -> np.ndarray:
        """Residual adds of the projected heads and of the ReLU MLP, the norms where the config
        puts them (before each block's input, or after each residual add)."""
        h = h + linear(attn, rest["w_o"], rest["b_o"])  # (n, d)
        if not self.pre_norm:
            h = layer_norm(h, *rest["ln_1"], self.eps)
        x = layer_norm(h, *rest["ln_2"], self.eps) if self.pre_norm else h  # (n, d)
        h = h + linear(self.act(linear(x, rest["w_fc"], rest["b_fc"])),
                       rest["w_proj"], rest["b_proj"])  # (n, d)
        return h if self.pre_norm else layer_norm(h, *rest["ln_2"], self.eps)
