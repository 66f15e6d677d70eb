"""Real Hugging Face checkpoints, run in numpy up to the chosen layer.

    model = load_model("path/to/dir")          # or "org/name" from the local HF cache
    ids = [t.id for t in model.tokens(text)]
    for hs in model.attention(ids, layers=[5], heads=[11]):
        hs.steps.weights                        # (n, n), the same Steps the toy mode shows

One small module per architecture family; config.json's model_type picks it.
Nothing here imports torch, and no pickle is ever opened.
"""

from __future__ import annotations

import contextlib
import importlib

from attncli.errors import AttnError
from attncli.models.base import HeadSteps, Hooks, Model
from attncli.models.checkpoint import TOKENIZER, Checkpoint, read_config
from attncli.models.config import Config
from attncli.models.hub import resolve
from attncli.tokens import parse_tokenizer, read_tokenizer
from attncli.tokens_ahead import WORTH_IT, Elsewhere, take

__all__ = ["FAMILIES", "HeadSteps", "Hooks", "Model", "encoder_decoders", "load_model",
           "predicting"]

# config.json model_type -> (module, class): one module per architecture family
FAMILIES: dict[str, tuple[str, str]] = {
    "bert": ("attncli.models.bert", "Bert"),
    "roberta": ("attncli.models.bert", "Bert"),
    "distilbert": ("attncli.models.distilbert", "DistilBert"),
    "gpt2": ("attncli.models.gpt2", "GPT2"),
    "xlm-roberta": ("attncli.models.bert", "Bert"),
    "electra": ("attncli.models.electra", "Electra"),
    "opt": ("attncli.models.opt", "OPT"),
    "gpt_neox": ("attncli.models.gpt_neox", "GPTNeoX"),
    "phi3": ("attncli.models.phi3", "Phi3"),
    "olmo2": ("attncli.models.olmo2", "Olmo2"),
    "llama": ("attncli.models.llama", "Llama"),
    "qwen2": ("attncli.models.llama", "Llama"),
    "qwen3": ("attncli.models.qwen3", "Qwen3"),
    "gemma": ("attncli.models.gemma", "Gemma"),
    "gemma2": ("attncli.models.gemma2", "Gemma2"),
    "gemma3_text": ("attncli.models.gemma3", "Gemma3Text"),
    "mistral": ("attncli.models.llama", "Llama"),
    "t5": ("attncli.models.t5", "T5"),
    "mt5": ("attncli.models.t5", "MT5"),
    "umt5": ("attncli.models.t5", "UMT5"),
    # decoders of issue 28
    "phi": ("attncli.models.phi", "Phi"),
    "gpt_neo": ("attncli.models.gpt_neo", "GPTNeo"),
    "gptj": ("attncli.models.gptj", "GPTJ"),
    "gpt_bigcode": ("attncli.models.gpt_bigcode", "GPTBigCode"),
    "starcoder2": ("attncli.models.starcoder2", "Starcoder2"),
    "olmo": ("attncli.models.olmo", "Olmo"),
    # more decoders of issue 28 (i28-more)
    "stablelm": ("attncli.models.stablelm", "StableLm"),
    "cohere": ("attncli.models.cohere", "Cohere"),
    "smollm3": ("attncli.models.smollm3", "SmolLM3"),
    "falcon": ("attncli.models.falcon", "Falcon"),
    "gemma3": ("attncli.models.gemma3", "Gemma3"),
    "granite": ("attncli.models.granite", "Granite"),
    "helium": ("attncli.models.helium", "Helium"),
    # mixtures of experts (issue 28)
    "mixtral": ("attncli.models.mixtral", "Mixtral"),
    "qwen2_moe": ("attncli.models.qwen2_moe", "Qwen2Moe"),
    "qwen3_moe": ("attncli.models.qwen3_moe", "Qwen3Moe"),
    # encoder families and ALiBi (issue 28)
    "mpnet": ("attncli.models.mpnet", "MPNet"),
    "camembert": ("attncli.models.bert", "Bert"),
    "albert": ("attncli.models.albert", "Albert"),
    "modernbert": ("attncli.models.modernbert", "ModernBert"),
    "deberta-v2": ("attncli.models.deberta_v2", "DebertaV2"),
    "bloom": ("attncli.models.bloom", "Bloom"),
    "mpt": ("attncli.models.mpt", "MPT"),
    # BART-like encoder-decoders (issue 28)
    "bart": ("attncli.models.bart", "Bart"),
    "mbart": ("attncli.models.bart", "MBart"),
    "marian": ("attncli.models.bart", "Marian"),
    "pegasus": ("attncli.models.bart", "Pegasus"),
}

# model_types attncli knows of and does not run, each with the reason it gives
NOT_RUN: dict[str, str] = {
    "deepseek_v2": "its multi-head latent attention (keys and values made from a compressed "
                   "latent) has no steps in attncli yet",
    "deepseek_v3": "its multi-head latent attention (keys and values made from a compressed "
                   "latent) has no steps in attncli yet",
    "gpt_oss": "its experts are stored in MXFP4, a 4-bit format attncli does not read",
    "llama4": "Llama 4's chunked attention and its position-free layers' temperature have no "
              "steps in attncli yet",
    "llama4_text": "Llama 4's chunked attention and its position-free layers' temperature have "
                   "no steps in attncli yet",
}


def family(model_type: str) -> type[Model]:
    """The class that runs model_type (a key of FAMILIES)."""
    module, cls = FAMILIES[model_type]
    found: type[Model] = getattr(importlib.import_module(module), cls)
    return found


def encoder_decoders() -> list[str]:
    """The model_types with a decoder to read a target (their family has for_target)."""
    return sorted(t for t in FAMILIES if family(t).for_target is not Model.for_target)


def predicting() -> list[str]:
    """The model_types whose LM head predict runs, as their families say (Model.predicts)."""
    return sorted(t for t in FAMILIES if t in family(t).predicts())


def load_model(spec: str, revision: str | None = None) -> Model:
    """Open a checkpoint directory or cached repo id (at revision, if given); tensors are read
    later, layer by layer."""
    directory = resolve(spec, revision)
    config = read_config(directory)
    where = str(directory / "config.json")
    try:
        model_type = Config(config, where).choice("model_type", options=sorted(FAMILIES))
    except AttnError:  # a type known and decided against says why
        named = None
        with contextlib.suppress(AttnError):
            named = Config(config, where).optional_choice("model_type", options=sorted(NOT_RUN))
        if named is not None:
            raise AttnError(f"{where}: model_type {named!r} is not supported: "
                            f"{NOT_RUN[named]}") from None
        raise
    tokenizer_path = directory / TOKENIZER
    if not tokenizer_path.is_file():
        raise AttnError(f"{tokenizer_path}: missing (a model directory needs {TOKENIZER})")
    data = read_tokenizer(tokenizer_path)
    try:
        checkpoint = Checkpoint.open(directory)
    except AttnError:  # a bad tokenizer.json is named first, as when it was parsed first
        parse_tokenizer(data, tokenizer_path)
        raise
    # parsing a large tokenizer.json holds the interpreter (its library never lets go of it),
    # so no thread can read weights meanwhile; the kernel can: the first layers' pages are
    # asked for now and read from disk, if not yet cached, while the tokenizer is parsed.
    # A small one parses too fast to hide any reading, and the hint costs time of its own
    if len(data) >= WORTH_IT:
        checkpoint.will_need()
    ahead = take(tokenizer_path)  # parsed in a second process since attn started, if at all
    tokenizer = (Elsewhere(ahead, data, tokenizer_path) if ahead
                 else parse_tokenizer(data, tokenizer_path))
    name = spec  # as the user gave it: a path or a repo id
    return family(model_type)(name, config, checkpoint, tokenizer, directory)
