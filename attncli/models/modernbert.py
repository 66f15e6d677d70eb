"""ModernBERT: a pre-norm encoder with RoPE, global and local layers, and a gated MLP.

The word embeddings go through a LayerNorm (no bias unless norm_bias) before layer 0, whose
attention reads the stream as it is (no norm before it: its attn_norm is an identity). Wqkv
is a fused [q | k | v], the MLP's Wi a fused [input | gate] with act(input) · gate, and by
default no Linear or norm has a bias. Layers alternate by layer_types (older configs:
every global_attn_every_n_layers-th layer, from 0, is global): a global layer sees every
token and turns q and k with its RoPE base (global_rope_theta, 160 000), a local layer sees
only the tokens less than local_attention / 2 + 1 places away on either side, with its own
base (local_rope_theta, 10 000). Each kind's RoPE may be of any rope type (linear, llama3,
dynamic, yarn, longrope): rope_parameters per kind, or an older config's rope_scaling for both
kinds. A fused MLP bias (mlp_bias) is refused.

The masked-LM head (ModernBertForMaskedLM, attn predict): the model's final_norm, then
head.dense, classifier_activation, head.norm, and decoder (tied to the word embeddings) with
its bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attncli.attention import Rotate, Variant
from attncli.models.base import Model, T, Table
from attncli.models.blocks import AttentionWeights, LMHead, Norm
from attncli.models.config import Config
from attncli.models.layers import activation, layer_norm
from attncli.models.rope import RopeScaling, rope

KINDS = ("sliding_attention", "full_attention")
# each kind's base: the older config.json's key, and ModernBertConfig's default
THETAS = {"full_attention": ("global_rope_theta", 160_000.0),
          "sliding_attention": ("local_rope_theta", 10_000.0)}
L = "layers.{i}."
TABLE: Table = {
    "wte": ("embeddings.tok_embeddings.weight", ("vocab", "d")),
    "ln_emb": ("embeddings.norm.weight", ("d",)),
    "ln_attn": (L + "attn_norm.weight", ("d",)),  # from layer 1 on
    "w_qkv": (L + "attn.Wqkv.weight", ("qkv", "d"), T),
    "w_o": (L + "attn.Wo.weight", ("d", "d"), T),
    "ln_mlp": (L + "mlp_norm.weight", ("d",)),
    "w_gate_up": (L + "mlp.Wi.weight", ("ff2", "d"), T),  # [input | gate]: act on the first
    "w_down": (L + "mlp.Wo.weight", ("d", "ff"), T),
    "final_norm": ("final_norm.weight", ("d",)),
}
BIASES: Table = {  # with attention_bias, and norm_bias
    "b_qkv": (L + "attn.Wqkv.bias", ("qkv",)),
    "b_o": (L + "attn.Wo.bias", ("d",)),
    "ln_emb_b": ("embeddings.norm.bias", ("d",)),
    "ln_attn_b": (L + "attn_norm.bias", ("d",)),
    "ln_mlp_b": (L + "mlp_norm.bias", ("d",)),
    "final_norm_b": ("final_norm.bias", ("d",)),
}


def rope_scalings(config: Config, head_dim: int) -> dict[str, RopeScaling]:
    """Each layer kind's RoPE, any rope type, as ModernBertConfig reads it: transformers 5's
    rope_parameters per kind, or an older config's rope_scaling (applied to both kinds) with
    global_rope_theta and local_rope_theta. original_max_position_embeddings, for yarn,
    longrope and llama3, is the kind's own, else max_position_embeddings (a top-level one is
    not read, as ModernBertConfig does not)."""
    nested = config.section("rope_parameters")
    scaling = config.section("rope_scaling")
    config.check(not config.has("rope_parameters") or any(nested.has(k) for k in KINDS),
                 "'rope_parameters' names no layer kind: ModernBERT's gives one per kind "
                 f"({', '.join(KINDS)}), as transformers requires")
    config.check(not (config.has("rope_parameters") and config.has("rope_scaling")),
                 "both 'rope_parameters' and 'rope_scaling' are set: attncli reads one form, "
                 "not the two merged; keep one")
    return {kind: RopeScaling(config, head_dim, theta_keys=THETAS[kind][:1],
                              theta_default=THETAS[kind][1], top_level_original=False,
                              params=nested.section(kind) if config.has("rope_parameters")
                              else scaling)
            for kind in KINDS}


class ModernBert(Model):
    """modernbert (ModernBertModel, ModernBertForMaskedLM)."""

    model_types = ("modernbert",)
    table = TABLE
    order = "rope"

    def configure(self, config: Config) -> None:
        """Sizes, layer kinds, RoPE bases and the local window from a ModernBertConfig."""
        self.read_sizes(config)
        self.ff2 = 2 * self.d_ff
        self.eps = config.number("norm_eps", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "hidden_activation", default="gelu")
        self.head_act = activation(config, "classifier_activation", default="gelu")
        self.n_positions = self.max_positions = config.integer("max_position_embeddings")
        config.check(not config.boolean("mlp_bias", default=False),
                     "'mlp_bias' is set: attncli does not split the MLP's fused bias")
        self.table = {**TABLE, **{k: v for k, v in BIASES.items()
                                  if config.boolean("norm_bias" if k.startswith(("ln", "final"))
                                                    else "attention_bias", default=False)}}
        self.classifier_bias = config.boolean("classifier_bias", default=False)
        self.decoder_bias = config.boolean("decoder_bias", default=True)
        types = config.choices("layer_types", options=KINDS, length=self.n_layers)
        if types is None:
            every = config.integer("global_attn_every_n_layers", default=3)
            types = ["sliding_attention" if i % every else "full_attention"
                     for i in range(self.n_layers)]
        self.kinds = types
        half = config.integer("local_attention", low=2, default=128) // 2
        self.windows = [half + 1 if kind == "sliding_attention" else None for kind in types]
        self.scalings = rope_scalings(config, self.head_dim)
        dynamic = [s.factor for s in self.scalings.values() if s.kind == "dynamic"]
        if dynamic:  # dynamic NTK grows its base past max_position_embeddings, to factor times
            self.max_positions = int(max(dynamic) * self.max_positions)
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "model."))

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """LayerNorm, with no bias unless norm_bias."""
        b = norm.b if norm.b is not None else np.zeros((), dtype=x.dtype)
        return layer_norm(x, norm.w, b, self.eps)

    def embed(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """The word embeddings, then their norm."""
        ln = self.norm_at("ln_emb", dtype)
        assert ln is not None
        return self.normalise(self.tensor("wte", dtype, rows=ids), ln)  # (n, d)

    def load_attention(self, i: int, dtype: type = np.float32, **names: Any
                       ) -> AttentionWeights:
        """Layer i's attention; layer 0 has no norm before it."""
        if i > 0:
            return super().load_attention(i, dtype, **names)
        table = self.table
        self.table = {k: v for k, v in table.items() if not k.startswith("ln_attn")}
        try:
            return super().load_attention(i, dtype, **names)
        finally:
            self.table = table

    def rotation(self, n: int, i: int) -> Rotate:
        """RoPE for positions 0..n-1 as layer i's kind has it: its base, its rope type's speeds
        for n tokens and its factor on cos and sin."""
        inv_freq, factor = self.scalings[self.kinds[i]].frequencies(n)
        return rope(n, inv_freq, factor)

    def mask(self, n: int, i: int) -> np.ndarray | None:
        """A local layer hides the keys window or more places away, on either side."""
        window = self.window(i)
        if window is None or n <= window:
            return None
        distance = np.abs(np.arange(n)[None, :] - np.arange(n)[:, None])  # (n, n)
        return distance >= window

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """RoPE with the layer's base and, in a local layer, its window on both sides."""
        return Variant(rotate=self.rotation(n, i), mask=self.mask(n, i), window=self.window(i),
                       window_both_sides=True)

    def lm_head(self) -> LMHead:
        """head.dense, its activation and head.norm, then the decoder (tied) and its bias;
        uncapped_logits puts the model's final_norm first."""
        names = ("head.dense.weight", "decoder.bias" if self.decoder_bias else None)
        if "head.dense.weight" not in self.checkpoint:
            raise self.no_lm_head(names[0])
        read, d, v = self.checkpoint.read, self.d_model, self.vocab_size
        b_norm = read("head.norm.bias", (d,)) if "final_norm_b" in self.table else None
        return LMHead(Norm(read("head.norm.weight", (d,)), b_norm),
                      w=self.head_weight(d) if "decoder.weight" not in self.checkpoint
                      else read("decoder.weight", (v, d)),
                      b=read("decoder.bias", (v,)) if self.decoder_bias else None,
                      w_in=read("head.dense.weight", (d, d)).T,
                      b_in=read("head.dense.bias", (d,)) if self.classifier_bias else None,
                      act=self.head_act)

    def tied_head(self) -> bool:
        return True  # ModernBertForMaskedLM stores its decoder as the word embeddings

    def uncapped_logits(self, h: np.ndarray, head: LMHead | None = None) -> np.ndarray:
        """The model's final_norm, then the masked-LM head."""
        final = self.norm_at("final_norm", h.dtype.type)
        assert final is not None
        return super().uncapped_logits(self.normalise(h, final), head)

    @classmethod
    def predicts(cls) -> tuple[str, ...]:
        return cls.model_types
