"""The view of `attn weights show`: what a weights file holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text

from attncli.render.widgets import Flow, Matrix, names, spaced
from attncli.safe_text import visible

if TYPE_CHECKING:
    from attncli.weights import WeightSet


def weight_set(ws: WeightSet, *, precision: int = 2) -> Group:
    """What a weights file holds: its description, embeddings table and each head's matrices."""
    dims = list(ws.dims) if ws.dims else names("d", ws.d_model)
    # W_Q's columns q0, q1, … and W_K's k0, k1, …, as explain labels them (or the file's names)
    qn = list(ws.qk_dims) if ws.qk_dims else names("q", ws.d_k)
    kn = list(ws.qk_dims) if ws.qk_dims else names("k", ws.d_k)
    vd = list(ws.v_dims) if ws.v_dims else names("v", ws.d_v)
    parts: list[RenderableType] = [Text.assemble(
        (visible(ws.source), "bold"),
        f"  d_model {ws.d_model} · d_k {ws.d_k} · d_v {ws.d_v} · {len(ws.heads)} "
        f"head{'s' if len(ws.heads) > 1 else ''}",
    )]
    if ws.description:
        parts.append(Text(visible(ws.description), style="italic"))
    if ws.embeddings:
        words = list(ws.embeddings)
        parts.append(Matrix(f"Embeddings ({len(words)}×{ws.d_model})", words, dims,
                            np.stack([ws.embeddings[w] for w in words]), precision))
    else:
        parts.append(Text("No embeddings table: tokens get seeded embeddings.", style="yellow"))
    for h, hw in enumerate(ws.heads):
        if len(ws.heads) > 1:
            parts.append(Rule(Text(f"Head {h} (of {len(ws.heads)}: 0 to {len(ws.heads) - 1})",
                                   style="bold magenta")))
        parts.append(Flow([
            Matrix(f"W_Q ({ws.d_model}×{ws.d_k})", dims, qn, hw.w_q, precision),
            Matrix(f"W_K ({ws.d_model}×{ws.d_k})", dims, kn, hw.w_k, precision),
            Matrix(f"W_V ({ws.d_model}×{ws.d_v})", dims, vd, hw.w_v, precision),
        ]))
    if ws.w_o is not None:
        cols = [f"h{h}.{v}" for h in range(len(ws.heads)) for v in vd]
        parts.append(Rule(Text("Joining the heads", style="bold magenta")))
        parts.append(Matrix(f"W_O ({ws.w_o.shape[0]}×{ws.w_o.shape[1]})", cols, dims, ws.w_o,
                            precision))
        if ws.b_o is not None:
            parts.append(Matrix(f"b_O (1×{ws.d_model})", ["bias"], dims, ws.b_o[None, :],
                                precision))
    return spaced(parts)
