"""GPT-2: a pre-norm causal decoder with learned absolute positions.

The attention input x of layer i is ln_1 of the residual stream.

GPT-2's Conv1D stores its weight (in, out), the transpose of nn.Linear's (out, in): x @ w
works as stored, so unlike bert.py and llama.py no tensor is transposed (nanoGPT, loading
into nn.Linear, transposes exactly these four). c_attn's columns are [q | k | v].
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Layer, Model, Table, split_heads
from attncli.models.blocks import AttentionWeights, Norm
from attncli.models.config import MAX_LAYERS, Config
from attncli.models.layers import activation, layer_norm

# our name -> checkpoint name after an optional "transformer." prefix
TABLE: Table = {
    "wte": ("wte.weight", ("vocab", "d")),
    "wpe": ("wpe.weight", ("pos", "d")),
    "ln_attn": ("h.{i}.ln_1.weight", ("d",)),
    "ln_attn_b": ("h.{i}.ln_1.bias", ("d",)),
    "w_qkv": ("h.{i}.attn.c_attn.weight", ("d", "qkv")),  # columns [q | k | v]
    "b_qkv": ("h.{i}.attn.c_attn.bias", ("qkv",)),
    "w_o": ("h.{i}.attn.c_proj.weight", ("d", "d")),
    "b_o": ("h.{i}.attn.c_proj.bias", ("d",)),
    "ln_mlp": ("h.{i}.ln_2.weight", ("d",)),
    "ln_mlp_b": ("h.{i}.ln_2.bias", ("d",)),
    "w_up": ("h.{i}.mlp.c_fc.weight", ("d", "ff")),
    "b_up": ("h.{i}.mlp.c_fc.bias", ("ff",)),
    "w_down": ("h.{i}.mlp.c_proj.weight", ("ff", "d")),
    "b_down": ("h.{i}.mlp.c_proj.bias", ("d",)),
}


class GPT2(Model):
    """gpt2 (and its sizes: distilgpt2, gpt2-medium, ...)."""

    model_types = ("gpt2",)
    table = TABLE
    causal = True
    has_lm_head = True

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
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "transformer."))

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """The causal mask, and step 4's scale when the config changes it."""
        plain = super().variant(n, i, attn, x)
        if self.scale_by_d_k and not self.scale_by_layer:
            return plain
        scale = (1 / math.sqrt(self.head_dim) if self.scale_by_d_k else 1.0)
        return replace(plain, scale=scale / (i + 1 if self.scale_by_layer else 1))

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Token + position embeddings."""
        wte = self.tensor("wte", dtype, rows=ids)  # (n, d)
        return wte + self.tensor("wpe", dtype, rows=np.arange(len(ids)))  # (n, d)

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """LayerNorm."""
        assert norm.b is not None
        return layer_norm(x, norm.w, norm.b, self.eps)

    def load_attention(self, i: int, dtype: type = np.float32) -> AttentionWeights:
        """Layer i's ln_1, c_attn split into its q, k, v column blocks, and c_proj."""
        d = self.d_model
        w = self.tensor("w_qkv", dtype, i)  # (d, 3d) Conv1D: (in, out)
        b = self.tensor("b_qkv", dtype, i)  # (3d,)
        return AttentionWeights(
            w_q=w[:, :d], w_k=w[:, d : 2 * d], w_v=w[:, 2 * d :],  # (d, d) each
            b_q=b[:d], b_k=b[d : 2 * d], b_v=b[2 * d :],  # (d,) each
            w_o=self.tensor("w_o", dtype, i), b_o=self.tensor("b_o", dtype, i),
            norm=self.norm_at("ln_attn", dtype, i))

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
