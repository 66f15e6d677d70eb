"""The sections `attn explain --show` can pick, in the order they are printed."""

SECTIONS = ("tokens", "x", "w", "qkv", "scores", "scaled", "softmax", "bars", "output", "joined")
# a real model's default: its X and W matrices are d_model wide, too wide to read by default
MODEL_DEFAULT = ("tokens", "scores", "scaled", "softmax", "bars", "output")
