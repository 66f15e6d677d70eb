"""GPT-2: a pre-norm causal decoder with learned absolute positions.

The attention input x of layer i is ln_1 of the residual stream.

Weight map, checkpoint name (after an optional "transformer." prefix) -> ours.
GPT-2's Conv1D stores its weight (in, out), the transpose of nn.Linear's
(out, in): x @ w works as stored, so unlike bert.py and llama.py there is no
.T here (nanoGPT, loading into nn.Linear, transposes exactly these four).

    wte.weight                    (vocab, d)           wte, only the rows the text uses
    wpe.weight                    (n_pos, d)           wpe, the first n rows
    h.{i}.ln_1.{weight,bias}      (d,)                 ln_1
    h.{i}.attn.c_attn             (d, 3d), (3d,)       columns [q | k | v] -> w_q, w_k, w_v
    h.{i}.attn.c_proj             (d, d), (d,)         w_o, b_o
    h.{i}.ln_2.{weight,bias}      (d,)                 ln_2
    h.{i}.mlp.c_fc                (d, ff), (ff,)       w_fc, b_fc
    h.{i}.mlp.c_proj              (ff, d), (d,)        w_proj, b_proj
    ln_f.{weight,bias}            (d,)                 the final norm (attn predict)
    lm_head.weight                (vocab, d)           the LM head, or wte.weight when tied
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Layer, Model, split_heads
from attncli.models.config import MAX_LAYERS, Config
from attncli.models.layers import activation, layer_norm, linear


class GPT2(Model):
    """gpt2 (and its sizes: distilgpt2, gpt2-medium, ...)."""

    model_types = ("gpt2",)
    causal = True

    def configure(self, config: Config) -> None:
        """Dimensions from a GPT2Config (n_layer, n_head, n_embd, ...)."""
        self.n_layers = config.integer("n_layer", "num_hidden_layers", high=MAX_LAYERS)
        self.n_heads = self.n_kv_heads = config.integer("n_head", "num_attention_heads")
        self.d_model = config.integer("n_embd", "hidden_size")
        self.head_dim = split_heads(config, "n_embd", self.d_model, "n_head", self.n_heads)
        self.d_ff = config.integer("n_inner", default=4 * self.d_model)
        self.vocab_size = config.integer("vocab_size")
        self.n_positions = self.max_positions = config.integer("n_positions", "n_ctx")
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "activation_function", default="gelu_new")
        # step 4's scale: 1/√d_k unless switched off, and in some GPT-2s (Mistral's Stanford
        # models) also divided by the layer's number, counted from 1
        self.scale_by_d_k = config.boolean("scale_attn_weights", default=True)
        self.scale_by_layer = config.boolean("scale_attn_by_inverse_layer_idx", default=False)
        self.prefix = self.checkpoint.prefix("wte.weight", ("", "transformer."))

    def variant(self, n: int, i: int, layer: Layer) -> Variant:
        """The causal mask, and step 4's scale when the config changes it."""
        plain = super().variant(n, i, layer)
        if self.scale_by_d_k and not self.scale_by_layer:
            return plain
        scale = (1 / math.sqrt(self.head_dim) if self.scale_by_d_k else 1.0)
        return replace(plain, scale=scale / (i + 1 if self.scale_by_layer else 1))

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Token + position embeddings."""
        p, d, read = self.prefix, self.d_model, self.checkpoint.read
        wte = read(p + "wte.weight", (self.vocab_size, d), rows=ids)  # (n, d)
        wpe = read(p + "wpe.weight", (self.n_positions, d), rows=np.arange(len(ids)))  # (n, d)
        return wte + wpe

    def load_attention(self, i: int) -> Layer:
        """Layer i's ln_1 and c_attn, split into its q, k, v column blocks."""
        p, d, read = f"{self.prefix}h.{i}.", self.d_model, self.checkpoint.read
        w_qkv = read(p + "attn.c_attn.weight", (d, 3 * d))  # (d, 3d) Conv1D: (in, out)
        b_qkv = read(p + "attn.c_attn.bias", (3 * d,))  # (3d,)
        return {
            "ln_1_w": read(p + "ln_1.weight", (d,)),
            "ln_1_b": read(p + "ln_1.bias", (d,)),
            "w_q": w_qkv[:, :d], "b_q": b_qkv[:d],  # (d, d), (d,)
            "w_k": w_qkv[:, d : 2 * d], "b_k": b_qkv[d : 2 * d],  # (d, d), (d,)
            "w_v": w_qkv[:, 2 * d :], "b_v": b_qkv[2 * d :],  # (d, d), (d,)
        }

    def load_rest(self, i: int) -> Layer:
        """Layer i's c_proj, ln_2 and MLP (Conv1D: already (in, out))."""
        p, d, ff = f"{self.prefix}h.{i}.", self.d_model, self.d_ff
        read = self.checkpoint.read
        return {
            "w_o": read(p + "attn.c_proj.weight", (d, d)),  # (d, d)
            "b_o": read(p + "attn.c_proj.bias", (d,)),
            "ln_2_w": read(p + "ln_2.weight", (d,)),
            "ln_2_b": read(p + "ln_2.bias", (d,)),
            "w_fc": read(p + "mlp.c_fc.weight", (d, ff)),  # (d, ff)
            "b_fc": read(p + "mlp.c_fc.bias", (ff,)),
            "w_proj": read(p + "mlp.c_proj.weight", (ff, d)),  # (ff, d)
            "b_proj": read(p + "mlp.c_proj.bias", (d,)),
        }

    def attention_input(self, h: np.ndarray, layer: Layer) -> np.ndarray:
        """ln_1 of the residual stream."""
        return layer_norm(h, layer["ln_1_w"], layer["ln_1_b"], self.eps)  # (n, d)

    def finish_layer(self, h: np.ndarray, attn: np.ndarray, rest: Layer) -> np.ndarray:
        """Residual add of the projected heads, then of the MLP on ln_2."""
        h = h + linear(attn, rest["w_o"], rest["b_o"])  # (n, d)
        x = layer_norm(h, rest["ln_2_w"], rest["ln_2_b"], self.eps)  # (n, d)
        return h + linear(self.act(linear(x, rest["w_fc"], rest["b_fc"])),
                          rest["w_proj"], rest["b_proj"])  # (n, d)

    def lm_head(self) -> Layer:
        """ln_f and the LM head: lm_head.weight, or wte.weight in a tied GPT2LMHeadModel."""
        d, read, v = self.d_model, self.checkpoint.read, self.vocab_size
        if "lm_head.weight" in self.checkpoint:
            w = read("lm_head.weight", (v, d))  # (vocab, d)
        elif self.tied_head():
            w = read(self.prefix + "wte.weight", (v, d))  # (vocab, d)
        else:
            raise self.no_lm_head("lm_head.weight, or wte.weight tied in a GPT2LMHeadModel")
        return {"ln_f_w": read(self.prefix + "ln_f.weight", (d,)),
                "ln_f_b": read(self.prefix + "ln_f.bias", (d,)), "w": w}

    def logits(self, h: np.ndarray, head: Layer | None = None) -> np.ndarray:
        """ln_f, then the LM head: (n, vocab)."""
        head = self.lm_head() if head is None else head
        x = layer_norm(h, head["ln_f_w"], head["ln_f_b"], self.eps)  # (n, d)
        return x @ head["w"].T  # (n, vocab)
