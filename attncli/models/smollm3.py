"""SmolLM3: Llama's decoder in which some layers turn nothing by position (NoPE).

As transformers' modeling_smollm3 does it: no_rope_layers holds a 1 for each layer that
rotates its queries and keys (RoPE) and a 0 for one that does not; without it, every
no_rope_layer_interval-th layer (the 4th, 8th, …) goes without. A layer without RoPE has only
the causal mask to tell earlier tokens from later ones; its heads say so (Steps.no_position:
"no_position" in the JSON, a sentence in step 2). With use_sliding_window, the layers
layer_types calls sliding_attention see sliding_window keys back. The rest is llama.py's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attncli.attention import Rotate, Variant
from attncli.models.blocks import AttentionWeights
from attncli.models.config import Config
from attncli.models.layers import sliding_windows
from attncli.models.llama import Llama


class SmolLM3(Llama):
    """smollm3 (SmolLM3-3B)."""

    model_types = ("smollm3",)
    tied_by_default = True  # SmolLM3Config's default

    def configure(self, config: Config) -> None:
        """llama's, and which layers rotate (no_rope_layers, or no_rope_layer_interval)."""
        super().configure(config)
        flags = config.whole_numbers("no_rope_layers", low=0, high=1)
        if flags:
            config.check(len(flags) == self.n_layers, f"'no_rope_layers' has {len(flags)} "
                         f"entries for {self.n_layers} layers")
        else:
            interval = config.integer("no_rope_layer_interval", default=4)
            flags = [int((i + 1) % interval != 0) for i in range(self.n_layers)]
        self.rotates = [bool(f) for f in flags]

    def sliding(self, config: Config) -> list[int | None]:
        """layer_types' sliding layers, with use_sliding_window."""
        if not config.boolean("use_sliding_window", default=False):
            return [None] * self.n_layers
        return sliding_windows(config, self.n_layers)

    def rotation(self, n: int, i: int) -> Rotate | None:
        """RoPE in the layers that rotate; none in a NoPE layer."""
        return super().rotation(n, i) if self.rotates[i] else None

    def variant(self, n: int, i: int, attn: AttentionWeights, x: np.ndarray) -> Variant:
        """llama's, marked no_position in a layer without RoPE."""
        plain = super().variant(n, i, attn, x)
        return plain if self.rotates[i] else replace(plain, no_position=True)
