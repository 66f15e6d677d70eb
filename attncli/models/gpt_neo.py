"""GPT-Neo: GPT-2's pre-LayerNorm decoder with local layers, and scores that are never scaled.

As transformers' modeling_gpt_neo does it:

  - step 4 does not divide q·k by √d_k, nor multiply it by anything: the softmax takes the
    raw scores (the Variant's skip_scale, shown as its own step, "no scaling");
  - attention_layers (spelt out from attention_types when transformers saves the config)
    says which layers are local: a query there sees itself and the window_size - 1 keys
    before it (a sliding window); global layers see every earlier key;
  - learned positions are added to the token embeddings; q, k and v have no bias, out_proj
    has one; the MLP is c_fc, the activation, c_proj, all nn.Linear;
  - the LM head (predict) is ln_f, then lm_head, tied to wte.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Variant
from attncli.models.base import Model, T, Table
from attncli.models.blocks import AttentionWeights
from attncli.models.config import Config
from attncli.models.layers import activation

KINDS = ("global", "local")
H = "h.{i}."
TABLE: Table = {
    "wte": ("wte.weight", ("vocab", "d")),
    "wpe": ("wpe.weight", ("pos", "d")),
    "ln_attn": (H + "ln_1.weight", ("d",)),
    "ln_attn_b": (H + "ln_1.bias", ("d",)),
    **{f"w_{x}": (f"{H}attn.attention.{x}_proj.weight", ("d", "d"), T) for x in "qkv"},
    "w_o": (H + "attn.attention.out_proj.weight", ("d", "d"), T),
    "b_o": (H + "attn.attention.out_proj.bias", ("d",)),
    "ln_mlp": (H + "ln_2.weight", ("d",)),
    "ln_mlp_b": (H + "ln_2.bias", ("d",)),
    "w_up": (H + "mlp.c_fc.weight", ("ff", "d"), T),
    "b_up": (H + "mlp.c_fc.bias", ("ff",)),
    "w_down": (H + "mlp.c_proj.weight", ("d", "ff"), T),
    "b_down": (H + "mlp.c_proj.bias", ("d",)),
    "final_norm": ("ln_f.weight", ("d",)),
    "final_norm_b": ("ln_f.bias", ("d",)),
}


class GPTNeo(Model):
    """gpt_neo (GPT-Neo 125M, 1.3B, 2.7B; TinyStories)."""

    model_types = ("gpt_neo",)
    table = TABLE
    causal = True

    def configure(self, config: Config) -> None:
        """Dimensions, the local layers' window and the positions from a GPTNeoConfig."""
        self.read_sizes(config, layers=("num_layers",), heads=("num_heads",), ff=())
        self.d_ff = config.integer("intermediate_size", default=4 * self.d_model)
        self.n_positions = self.max_positions = config.integer("max_position_embeddings")
        self.eps = config.number("layer_norm_epsilon", low=0, above=True, high=1, default=1e-5)
        self.act = activation(config, "activation_function", default="gelu_new")
        window = config.integer("window_size", default=256)
        kinds = config.choices("attention_layers", options=KINDS, length=self.n_layers)
        # transformers saves attention_layers, spelt out from attention_types, in config.json
        config.check(kinds is not None, "no 'attention_layers' (each layer's kind: "
                     f"{' or '.join(KINDS)})")
        assert kinds is not None
        self.windows = [window if kind == "local" else None for kind in kinds]
        self.prefix = self.checkpoint.prefix(TABLE["wte"][0], ("", "transformer."))

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """The causal mask (a local layer's window), and no scaling of the scores."""
        return replace(super().variant(n, i, attn, x), skip_scale=True)
