"""Make tests/fixtures/rope_rotations.npz: transformers' RoPE rotation for every RoPE family
under a yarn and a dynamic scaling, for tests/test_rope_families.py.

For each family's fixture in tests/fixtures/models/ (FIXTURES below) and each scaling in
SCALINGS, in transformers 5's form (rope_parameters; per layer kind for gemma3_text, gemma3
and modernbert) and in the older one (rope_scaling beside the family's own base keys), this
edits the fixture's config.json, builds the model from it with transformers and runs its
rotary embedding over positions 0..N-1. It stores, under `<name>.<scaling>.<form>`:

    .edit      the changes to config.json, as JSON (see edit)
    .<layer>   for the first layer of each kind (one layer where all share one RoPE), what
               the family's apply_rotary_pos_emb makes of the identity at the positions KEPT:
               (head_dim, len(KEPT), head_dim) float32, row j at position p the turned unit
               vector e_j (the dimensions past a partial rotary_dim pass through)
    .refused   instead, transformers' error where it refuses the config (Phi-3: longrope only)

GPT-J has no scaling in transformers: `gptj.ignored` is true when its sin and cos table is
the same with each scaling as without, which the script checks.

    python scripts/make_rope_rotations.py     # torch and transformers, as make_model_fixtures
"""

from __future__ import annotations

import copy
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import transformers

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests" / "fixtures" / "models"
OUT = ROOT / "tests" / "fixtures" / "rope_rotations.npz"
N = 20  # positions: past max_position_embeddings 8, so that dynamic grows its base
KEPT = [1, 6, 13, 19]  # the positions stored (all N are computed)
FIXTURES = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3",
            "phi", "phi3", "gpt_neox", "stablelm", "cohere", "falcon", "olmo", "olmo2",
            "starcoder2", "smollm3", "granite", "mixtral", "qwen2_moe", "qwen3_moe",
            "modernbert-mlm", "helium"]
SCALINGS = {  # rope parameters, other config.json changes
    "yarn": ({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8}, {}),
    "dynamic": ({"rope_type": "dynamic", "factor": 4.0}, {"max_position_embeddings": 8}),
}
KINDS = ("full_attention", "sliding_attention")


def edited(name: str, rope: dict, extra: dict, form: str) -> dict:
    """The fixture's config.json with the scaling, in transformers 5's form or the older."""
    config = json.loads((MODELS / name / "config.json").read_text())
    text = config.get("text_config", config)
    params = text.pop("rope_parameters")
    text.update(extra)
    if name == "mixtral":
        text["head_dim"] = 8  # transformers' yarn and dynamic fail on a null head_dim
    nested = "full_attention" in params
    if form == "new":
        text["rope_parameters"] = ({k: {**params[k], **rope} for k in KINDS} if nested
                                   else {**params, **rope})
        return config
    if name.startswith("modernbert"):
        text["global_rope_theta"] = params["full_attention"]["rope_theta"]
        text["local_rope_theta"] = params["sliding_attention"]["rope_theta"]
    elif nested:
        text["rope_theta"] = params["full_attention"]["rope_theta"]
        text["rope_local_base_freq"] = params["sliding_attention"]["rope_theta"]
    elif name == "gpt_neox":
        text["rotary_emb_base"] = params["rope_theta"]
        text["rotary_pct"] = params["partial_rotary_factor"]
    else:
        text["rope_theta"] = params["rope_theta"]
        if "partial_rotary_factor" in params:
            text["partial_rotary_factor"] = params["partial_rotary_factor"]
    text["rope_scaling"] = rope
    return config


def edit(name: str, config: dict) -> dict:
    """What edited changed in the fixture's config.json (in text_config, where there is one):
    {"drop": keys taken out, "set": keys given a value}."""
    base = json.loads((MODELS / name / "config.json").read_text())
    old, new = base.get("text_config", base), config.get("text_config", config)
    return {"drop": sorted(set(old) - set(new)),
            "set": {k: v for k, v in new.items() if k not in old or old[k] != v}}


def rotations(config: dict) -> dict[int, np.ndarray]:
    """Each layer's rotated identity, (head_dim, N, head_dim), as transformers turns q."""
    cfg = transformers.AutoConfig.for_model(**copy.deepcopy(config))  # it edits its input
    model = transformers.AutoModel.from_config(cfg)
    rotary = next(m for m in model.modules() if type(m).__name__.endswith("RotaryEmbedding"))
    apply = sys.modules[type(rotary).__module__].apply_rotary_pos_emb
    text = cfg.get_text_config()
    hd = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    kinds = getattr(text, "layer_types", None)
    out = {}
    for i in range(text.num_hidden_layers):
        if i and (kinds is None or kinds[i] in kinds[:i]):
            continue  # the same RoPE as a layer before it
        kw = {"layer_type": kinds[i]} if isinstance(rotary.rope_type, dict) else {}
        cos, sin = rotary(torch.zeros(1, N, hd), torch.arange(N)[None], **kw)
        rd = cos.shape[-1]
        eye = torch.eye(hd)[None, :, None, :].expand(1, hd, N, hd).clone()
        turned, _ = apply(eye[..., :rd], eye[..., :rd], cos, sin)
        full = torch.cat([turned, eye[..., rd:]], dim=-1)[0].numpy().astype(np.float32)
        out[i] = full[:, KEPT]
    return out


def gptj_ignores() -> bool:
    """Whether GPT-J's rotation is the same with each scaling as without."""
    config = json.loads((MODELS / "gptj" / "config.json").read_text())

    def table(cfg: dict) -> torch.Tensor:
        cfg = transformers.AutoConfig.for_model(**copy.deepcopy(cfg))
        model = transformers.AutoModel.from_config(cfg)
        rotary = next(m for m in model.modules() if type(m).__name__.endswith("RotaryEmbedding"))
        return next(t for t in rotary.buffers())

    plain = table(config)  # (positions, rotary_dim): sin and cos by position
    scaled = [table({**config, "rope_scaling": rope, **extra}) for rope, extra in SCALINGS.values()]
    return all(torch.equal(plain[:len(t)], t) for t in scaled)


def main() -> None:
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    arrays: dict[str, np.ndarray] = {}
    for name in FIXTURES:
        for scaling, (rope, extra) in SCALINGS.items():
            for form in ("new", "old"):
                config = edited(name, rope, extra, form)
                key = f"{name}.{scaling}.{form}"
                arrays[f"{key}.edit"] = np.array(json.dumps(edit(name, config)))
                try:
                    turned = rotations(config)
                except Exception as e:  # noqa: BLE001 (Phi-3 takes longrope only)
                    arrays[f"{key}.refused"] = np.array(str(e).splitlines()[-1])
                    continue
                for i, one in turned.items():
                    arrays[f"{key}.{i}"] = one
    ignored = gptj_ignores()
    assert ignored, "GPT-J's rotation changed with a scaling"
    arrays["gptj.ignored"] = np.array(ignored)
    np.savez_compressed(OUT, **arrays)
    print(f"{OUT.relative_to(ROOT)}: {len(arrays)} arrays, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
