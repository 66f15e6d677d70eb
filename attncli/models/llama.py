"""Llama, Qwen2 and Mistral: pre-RMSNorm causal decoders with rotary positions (RoPE).

The attention input x of layer i is input_layernorm (RMSNorm) of the residual
stream. q and k are rotated by position after their bias, so the Steps' q and k
are the rotated ones. With grouped-query attention (num_key_value_heads <
num_attention_heads) each key/value head serves n_heads / n_kv_heads query heads.

Weight map, checkpoint name (after an optional "model." prefix) -> ours.
nn.Linear stores (out, in); T marks the transposition to (in, out).
Biases: qwen2 has them on q, k, v; llama has them on q, k, v, o with
attention_bias and on the MLP with mlp_bias; mistral has none.

    embed_tokens.weight                           (vocab, d)         wte, only the rows used
    layers.{i}.input_layernorm.weight             (d,)               ln_1
    layers.{i}.self_attn.q_proj                   (H*hd, d) T        w_q, b_q
    layers.{i}.self_attn.k_proj                   (Hkv*hd, d) T      w_k, b_k
    layers.{i}.self_attn.v_proj                   (Hkv*hd, d) T      w_v, b_v
    layers.{i}.self_attn.o_proj                   (d, H*hd) T        w_o, b_o
    layers.{i}.post_attention_layernorm.weight    (d,)               ln_2
    layers.{i}.mlp.gate_proj                      (ff, d) T          w_gate
    layers.{i}.mlp.up_proj                        (ff, d) T          w_up
    layers.{i}.mlp.down_proj                      (d, ff) T          w_down
    norm.weight                                   (d,)               the final norm (predict)
    lm_head.weight (no prefix)                    (vocab, d)         or embed_tokens when tied
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from attncli.attention import Rotate, causal_mask
from attncli.models.base import Layer, Model, group_heads, split_heads
from attncli.models.config import MAX_LAYERS, Config
from attncli.models.layers import activation, linear, rms_norm, sliding_windows
from attncli.models.rope import RopeScaling, rope


class Llama(Model):
    """llama, qwen2 and mistral."""

    model_types = ("llama", "qwen2", "mistral")
    causal = True
    order = "rope"
    read_ahead = True  # a big model's layers are mostly reading and converting weights
    tied_by_default = False  # tie_word_embeddings when config.json leaves it out

    def configure(self, config: Config) -> None:
        """Dimensions, RoPE and sliding windows from a LlamaConfig / Qwen2Config / MistralConfig."""
        self.n_layers = config.integer("num_hidden_layers", high=MAX_LAYERS)
        self.n_heads = config.integer("num_attention_heads")
        self.n_kv_heads = config.integer("num_key_value_heads", default=self.n_heads)
        group_heads(config, self.n_heads, self.n_kv_heads)
        self.d_model = config.integer("hidden_size")
        head_dim = config.optional_integer("head_dim")
        self.head_dim = head_dim if head_dim is not None else split_heads(
            config, "hidden_size", self.d_model, "num_attention_heads", self.n_heads)
        self.d_ff = config.integer("intermediate_size")
        self.vocab_size = config.integer("vocab_size")
        self.max_positions = config.optional_integer("max_position_embeddings")
        self.eps = config.number("rms_norm_eps", low=0, above=True, high=1, default=1e-6)
        self.act = self.read_activation(config)
        self.attention_bias = config.boolean("attention_bias", default=False)
        self.qkv_bias = self.model_type == "qwen2" or self.attention_bias
        self.mlp_bias = self.read_mlp_bias(config)
        self.scaling = self.rope_scaling(config)  # every type, dynamic and yarn too
        self.inv_freq = self.scaling.inv_freq  # (rotary_dim / 2,): a short input's speeds
        if self.scaling.kind == "dynamic" and self.max_positions is not None:
            # dynamic NTK grows its base past max_position_embeddings, to factor times as many
            self.max_positions = int(self.scaling.factor * self.max_positions)
        self.windows = self.sliding(config)
        self.prefix = self.checkpoint.prefix("embed_tokens.weight", ("model.", ""))

    def read_activation(self, config: Config) -> Callable[[np.ndarray], np.ndarray]:
        """The MLP's activation: hidden_act."""
        return activation(config, "hidden_act", default="silu")

    def read_mlp_bias(self, config: Config) -> bool:
        """Whether the MLP's projections have biases: mlp_bias."""
        return config.boolean("mlp_bias", default=False)

    def rope_scaling(self, config: Config) -> RopeScaling:
        """RoPE over the whole head, any rope type."""
        return RopeScaling(config, self.head_dim)

    def sliding(self, config: Config) -> list[int | None]:
        """Each layer's sliding window: Mistral's in every layer, Qwen2's from
        max_window_layers on, or where layer_types says."""
        return sliding_windows(config, self.n_layers, every_layer=self.model_type == "mistral",
                               from_layer=self.model_type in ("qwen2", "qwen3"))

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Token embeddings: positions enter later, by rotating q and k."""
        return self.checkpoint.read(self.prefix + "embed_tokens.weight",
                                    (self.vocab_size, self.d_model), rows=ids)  # (n, d)

    def bias(self, name: str, size: int, present: bool) -> np.ndarray | None:
        """A bias the config says the layer has, else None."""
        return self.checkpoint.read(name, (size,)) if present else None

    def load_attention(self, i: int) -> Layer:
        """Layer i's input_layernorm and q, k, v projections, transposed to (in, out)."""
        p, read, bias = f"{self.prefix}layers.{i}.", self.checkpoint.read, self.bias
        d, q, kv = self.d_model, self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        return {
            "ln_1_w": read(p + "input_layernorm.weight", (d,)),
            "w_q": read(p + "self_attn.q_proj.weight", (q, d)).T,  # (d, H*hd)
            "b_q": bias(p + "self_attn.q_proj.bias", q, self.qkv_bias),
            "w_k": read(p + "self_attn.k_proj.weight", (kv, d)).T,  # (d, Hkv*hd)
            "b_k": bias(p + "self_attn.k_proj.bias", kv, self.qkv_bias),
            "w_v": read(p + "self_attn.v_proj.weight", (kv, d)).T,  # (d, Hkv*hd)
            "b_v": bias(p + "self_attn.v_proj.bias", kv, self.qkv_bias),
        }

    def load_rest(self, i: int) -> Layer:
        """Layer i's o_proj, post_attention_layernorm and gated MLP, transposed to (in, out).

        The MLP's weights (most of a layer) are converted into buffers that layer i + 2 reuses
        (Checkpoint.read's scratch, one set for even layers and one for odd): they are valid
        until then, and every caller is done with them by then (finish_layer, and _run, which
        reads layer i + 1's rest ahead while layer i's is in use; output_projection)."""
        p, read, bias = f"{self.prefix}layers.{i}.", self.checkpoint.read, self.bias
        d, ff, q = self.d_model, self.d_ff, self.n_heads * self.head_dim
        odd = i % 2
        return {
            "w_o": read(p + "self_attn.o_proj.weight", (d, q)).T,  # (H*hd, d)
            "b_o": bias(p + "self_attn.o_proj.bias", d, self.attention_bias),
            "ln_2_w": read(p + "post_attention_layernorm.weight", (d,)),
            "w_gate": read(p + "mlp.gate_proj.weight", (ff, d), scratch=f"gate{odd}").T,  # (d, ff)
            "b_gate": bias(p + "mlp.gate_proj.bias", ff, self.mlp_bias),
            "w_up": read(p + "mlp.up_proj.weight", (ff, d), scratch=f"up{odd}").T,  # (d, ff)
            "b_up": bias(p + "mlp.up_proj.bias", ff, self.mlp_bias),
            "w_down": read(p + "mlp.down_proj.weight", (d, ff), scratch=f"down{odd}").T,  # (ff, d)
            "b_down": bias(p + "mlp.down_proj.bias", d, self.mlp_bias),
        }

    def attention_input(self, h: np.ndarray, layer: Layer) -> np.ndarray:
        """input_layernorm (RMSNorm) of the residual stream."""
        return rms_norm(h, layer["ln_1_w"], self.eps)  # (n, d)

    def rotation(self, n: int) -> Rotate:
        """RoPE for positions 0..n-1: the speeds (for dynamic, longrope: n's) and the factor on
        cos and sin (yarn, longrope) that transformers uses for an input of n tokens."""
        inv_freq, attention_factor = self.scaling.frequencies(n)  # (rotary_dim / 2,), float
        return rope(n, inv_freq, attention_factor)

    def mask(self, n: int, i: int) -> np.ndarray:
        """Causal, and in a sliding-window layer also blind to keys `window` or more back."""
        mask = causal_mask(n)  # (n, n)
        window = self.window(i)
        if window is not None and n > window:
            mask |= np.tril(np.ones((n, n), dtype=bool), k=-window)  # key j <= query i - window
        return mask

    def window(self, i: int) -> int | None:
        """Layer i's sliding window, if it slides."""
        return self.windows[i]

    def finish_layer(self, h: np.ndarray, attn: np.ndarray, rest: Layer) -> np.ndarray:
        """Residual add of the projected heads, then of the gated MLP on the second RMSNorm."""
        h = h + linear(attn, rest["w_o"], rest["b_o"])  # (n, d)
        x = rms_norm(h, rest["ln_2_w"], self.eps)  # (n, d)
        gate = self.act(linear(x, rest["w_gate"], rest["b_gate"]))  # (n, ff)
        up = linear(x, rest["w_up"], rest["b_up"])  # (n, ff)
        return h + linear(gate * up, rest["w_down"], rest["b_down"])  # (n, d)

    def lm_head(self) -> Layer:
        """model.norm and the LM head: lm_head.weight, or embed_tokens.weight when tied (every
        family built on this class names them so)."""
        d, read, v = self.d_model, self.checkpoint.read, self.vocab_size
        if "lm_head.weight" in self.checkpoint:
            w = read("lm_head.weight", (v, d))  # (vocab, d)
        elif self.tied_head():
            w = read(self.prefix + "embed_tokens.weight", (v, d))  # (vocab, d)
        else:
            raise self.no_lm_head("lm_head.weight, or embed_tokens.weight tied in a "
                                  "…ForCausalLM")
        return {"norm": read(self.prefix + "norm.weight", (d,)), "w": w}

    def logits(self, h: np.ndarray, head: Layer | None = None) -> np.ndarray:
        """The final RMSNorm, then the LM head: (n, vocab)."""
        head = self.lm_head() if head is None else head
        return rms_norm(h, head["norm"], self.eps) @ head["w"].T  # (n, vocab)
