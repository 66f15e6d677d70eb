"""GPT-J: a parallel decoder whose RoPE turns neighbouring dimensions, on part of each head.

As transformers' modeling_gptj does it:

  - RoPE turns the first rotary_dim dimensions of each query and key (GPT-J-6B: 64 of 256),
    in neighbouring pairs (2i, 2i + 1), each by position · 10000^(-2i/rotary_dim): the
    interleaved layout of the original GPT-J (rotate_every_two), not GPT-NeoX's halves;
  - one ln_1 feeds both the attention and the MLP, added to the stream at once (a parallel
    block): h + out_proj(attn(ln_1(h))) + mlp(ln_1(h));
  - q, k, v and out_proj have no bias; the MLP's fc_in and fc_out do;
  - the LM head (predict) is ln_f, then lm_head with its own bias, untied;
  - no rope scaling: transformers' GPT-J reads none (rope_scaling in config.json changes
    nothing there), so none is read here either.
"""

from __future__ import annotations

from dataclasses import replace

from attncli.attention import Rotate
from attncli.models.base import Model, T, Table
from attncli.models.blocks import LMHead, Parallel
from attncli.models.config import Config
from attncli.models.layers import activation
from attncli.models.rope import interleaved_rope, plain_frequencies

H = "h.{i}."
TABLE: Table = {
    "wte": ("wte.weight", ("vocab", "d")),
    "ln_attn": (H + "ln_1.weight", ("d",)),
    "ln_attn_b": (H + "ln_1.bias", ("d",)),
    **{f"w_{x}": (f"{H}attn.{x}_proj.weight", ("d", "d"), T) for x in "qkv"},
    "w_o": (H + "attn.out_proj.weight", ("d", "d"), T),
    "ln_mlp": (H + "ln_1.weight", ("d",)),  # the same norm: a parallel block
    "ln_mlp_b": (H + "ln_1.bias", ("d",)),
    "w_up": (H + "mlp.fc_in.weight", ("ff", "d"), T),
    "b_up": (H + "mlp.fc_in.bias", ("ff",)),
    "w_down": (H + "mlp.fc_out.weight", ("d", "ff"), T),
    "b_down": (H + "mlp.fc_out.bias", ("d",)),
    "final_norm": ("ln_f.weight", ("d",)),
    "final_norm_b": ("ln_f.bias", ("d",)),
}


class GPTJ(Model):
    """gptj (GPT-J-6B and its fine-tunes)."""

    model_types = ("gptj",)
    table = TABLE
    block = Parallel
    causal = True
    order = "rope"
    tied_by_default = False  # GPTJConfig's default

    def configure(self, config: Config) -> None:
        """Dimensions and the rotated share of each head from a GPTJConfig."""
        self.read_sizes(config, layers=("n_layer",), heads=("n_head",), width=("n_embd",),
                        ff=())
        self.d_ff = config.integer("n_inner", default=4 * self.d_model)
        self.max_positions = config.integer("n_positions")
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "activation_function", default="gelu_new")
        self.rotary_dim = config.integer("rotary_dim", low=2, high=self.head_dim, default=64)
        config.check(self.rotary_dim % 2 == 0 and self.rotary_dim <= self.head_dim,
                     f"'rotary_dim' {self.rotary_dim}: RoPE turns pairs of a head's "
                     f"{self.head_dim} dimensions, an even number of them")
        self.inv_freq = plain_frequencies(10000.0, self.rotary_dim)  # (rotary_dim / 2,)
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "transformer."))

    def rotation(self, n: int, i: int) -> Rotate:
        """GPT-J's interleaved RoPE for positions 0..n-1."""
        return interleaved_rope(n, self.inv_freq)

    def lm_head(self) -> LMHead:
        """ln_f, lm_head.weight and its bias."""
        head = super().lm_head()
        return replace(head, b=self.checkpoint.read("lm_head.bias", (self.vocab_size,)))
