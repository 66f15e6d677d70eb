"""GPT-NeoX (Pythia): a pre-LayerNorm causal decoder with partial RoPE and a parallel residual.

q, k and v come from one fused query_key_value Linear whose output is laid out head by head:
for head h, rows h·3·hd .. h·3·hd + hd are its query, the next hd its key, the next hd its
value (transformers views the output as (n, heads, 3·hd) and chunks the last axis in three).
Only the first rotary_dim = int(head_dim · rotary_pct) dimensions of each query and key are
rotated (Pythia: a quarter); the rest pass through unturned.

With use_parallel_residual (Pythia) the attention and the MLP both read the same residual
stream, each through its own LayerNorm, and both are added to it at once:
h + attn(ln_1(h)) + mlp(ln_2(h)); without it the MLP reads ln_2 of h + attn(ln_1(h)), as GPT-2.

Weight map, checkpoint name (after an optional "gpt_neox." prefix) -> ours.
nn.Linear stores (out, in); T marks the transposition to (in, out). Biases unless
attention_bias is false (then none on query_key_value and dense; the MLP always has them).

    embed_in.weight                               (vocab, d)          wte, only the rows used
    layers.{i}.input_layernorm.{weight,bias}      (d,)                ln_1
    layers.{i}.attention.query_key_value          (3d, d) T, (3d,)    per head [q | k | v]
    layers.{i}.attention.dense                    (d, d) T, (d,)      w_o, b_o
    layers.{i}.post_attention_layernorm           (d,)                ln_2
    layers.{i}.mlp.dense_h_to_4h                  (ff, d) T, (ff,)    w_fc, b_fc
    layers.{i}.mlp.dense_4h_to_h                  (d, ff) T, (d,)     w_proj, b_proj
"""

from __future__ import annotations

import numpy as np

from attncli.attention import Rotate
from attncli.models.base import Layer, Model, split_heads
from attncli.models.config import MAX_LAYERS, Config
from attncli.models.layers import activation, layer_norm, linear
from attncli.models.rope import rope, rope_frequencies


class GPTNeoX(Model):
    """gpt_neox (Pythia, GPT-NeoX-20B)."""

    model_types = ("gpt_neox",)
    causal = True
    order = "rope"

    def configure(self, config: Config) -> None:
        """Dimensions, rotary fraction and residual shape from a GPTNeoXConfig."""
        self.n_layers = config.integer("num_hidden_layers", high=MAX_LAYERS)
        self.n_heads = self.n_kv_heads = config.integer("num_attention_heads")
        self.d_model = config.integer("hidden_size")
        self.head_dim = split_heads(config, "hidden_size", self.d_model, "num_attention_heads",
                                    self.n_heads)
        self.d_ff = config.integer("intermediate_size")
        self.vocab_size = config.integer("vocab_size")
        self.max_positions = config.optional_integer("max_position_embeddings")
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "hidden_act", default="gelu")
        self.parallel = config.boolean("use_parallel_residual", default=True)
        self.bias = config.boolean("attention_bias", default=True)
        # transformers 5 writes rope_parameters; older config.json files rotary_pct and
        # rotary_emb_base (read the same way by transformers when rope_parameters lacks them)
        params = config.section("rope_parameters", "rope_scaling")
        factor = params.optional_number("partial_rotary_factor", low=0, above=True, high=1)
        if factor is None:
            factor = config.number("rotary_pct", low=0, above=True, high=1, default=0.25)
        self.inv_freq = rope_frequencies(config, self.head_dim, partial_rotary_factor=factor,
                                         theta_keys=("rotary_emb_base",))  # (rotary_dim / 2,)
        self.prefix = self.checkpoint.prefix("embed_in.weight", ("", "gpt_neox."))

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Token embeddings: positions enter later, by rotating q and k."""
        return self.checkpoint.read(self.prefix + "embed_in.weight",
                                    (self.vocab_size, self.d_model), rows=ids)  # (n, d)

    def norm(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        d, read = self.d_model, self.checkpoint.read
        return read(name + ".weight", (d,)), read(name + ".bias", (d,))

    def load_attention(self, i: int) -> Layer:
        """Layer i's input_layernorm, and query_key_value split head by head into q, k, v."""
        p, d, hd, read = f"{self.prefix}layers.{i}.", self.d_model, self.head_dim, \
            self.checkpoint.read
        w = read(p + "attention.query_key_value.weight", (3 * d, d))  # (3d, d): (out, in)
        w = w.reshape(self.n_heads, 3, hd, d)  # (heads, [q k v], hd, d)
        layer: Layer = {"ln_1": self.norm(p + "input_layernorm")}
        b = (read(p + "attention.query_key_value.bias", (3 * d,)).reshape(self.n_heads, 3, hd)
             if self.bias else None)  # (heads, [q k v], hd)
        for j, ours in enumerate("qkv"):
            layer[f"w_{ours}"] = w[:, j].reshape(d, d).T  # (d, heads * hd)
            layer[f"b_{ours}"] = None if b is None else b[:, j].reshape(d)  # (heads * hd,)
        return layer

    def load_rest(self, i: int) -> Layer:
        """Layer i's dense output projection, post_attention_layernorm and MLP."""
        p, d, ff, read = f"{self.prefix}layers.{i}.", self.d_model, self.d_ff, \
            self.checkpoint.read
        return {
            "w_o": read(p + "attention.dense.weight", (d, d)).T,  # (d, d)
            "b_o": read(p + "attention.dense.bias", (d,)) if self.bias else None,
            "ln_2": self.norm(p + "post_attention_layernorm"),
            "w_fc": read(p + "mlp.dense_h_to_4h.weight", (ff, d)).T,  # (d, ff)
            "b_fc": read(p + "mlp.dense_h_to_4h.bias", (ff,)),
            "w_proj": read(p + "mlp.dense_4h_to_h.weight", (d, ff)).T,  # (ff, d)
            "b_proj": read(p + "mlp.dense_4h_to_h.bias", (d,)),
        }

    def attention_input(self, h: np.ndarray, layer: Layer) -> np.ndarray:
        """input_layernorm of the residual stream."""
        return layer_norm(h, *layer["ln_1"], self.eps)  # (n, d)

    def rotation(self, n: int) -> Rotate:
        """RoPE on the first rotary_dim dimensions of each head, for positions 0..n-1."""
        return rope(n, self.inv_freq)

    def finish_layer(self, h: np.ndarray, attn: np.ndarray, rest: Layer) -> np.ndarray:
        """Parallel: h + attn + mlp(ln_2(h)); sequential: h' = h + attn, h' + mlp(ln_2(h'))."""
        a = linear(attn, rest["w_o"], rest["b_o"])  # (n, d)
        if not self.parallel:
            h = a + h
        m = linear(self.act(linear(layer_norm(h, *rest["ln_2"], self.eps), rest["w_fc"],
                                   rest["b_fc"])), rest["w_proj"], rest["b_proj"])  # (n, d)
        return m + a + h if self.parallel else m + h
