"""The sections `attn explain --show` can pick, in the order they are printed."""

SECTIONS = ("tokens", "x", "w", "qkv", "scores", "scaled", "softmax", "bars", "output")
