"""attncli: see self-attention work, step by step, with its numbers, in the terminal."""

__version__ = "0.1.0"
