"""Helium (Kyutai's helium-1): Llama's layers and tensor names, with two differences. RoPE
turns pairs of neighbouring dimensions together (2i with 2i + 1, as GPT-J and Cohere),
not the two halves of a head; and the RMSNorm is worked out in float32 whatever the run's
dtype (as HeliumRMSNorm), then given back in it. attention_bias puts biases on q, k and v
only, never on o_proj. Its config's defaults differ too: rope_theta 100000 and rms_norm_eps
1e-8.
"""

from __future__ import annotations

import numpy as np

from attncli.attention import Rotate
from attncli.models.blocks import Norm
from attncli.models.config import Config
from attncli.models.layers import rms_norm
from attncli.models.llama import Llama
from attncli.models.rope import RopeScaling, interleaved


class Helium(Llama):
    """helium."""

    model_types = ("helium",)
    slides = False  # HeliumConfig has no sliding window

    def configure(self, config: Config) -> None:
        super().configure(config)
        self.eps = config.number("rms_norm_eps", low=0, above=True, high=1, default=1e-8)
        self.table = {k: v for k, v in self.table.items() if k != "b_o"}

    def rope_scaling(self, config: Config) -> RopeScaling:
        return RopeScaling(config, self.head_dim, theta_default=100000.0)  # HeliumConfig's

    def rotation(self, n: int, i: int) -> Rotate:
        """Interleaved RoPE over the whole head, any rope type."""
        assert self.scaling is not None
        return interleaved(self.scaling, n)

    def normalise(self, x: np.ndarray, norm: Norm) -> np.ndarray:
        """RMSNorm in float32 whatever x is, back in x's dtype."""
        x32, w32 = x.astype(np.float32, copy=False), norm.w.astype(np.float32, copy=False)
        return rms_norm(x32, w32, self.eps).astype(x.dtype, copy=False)
