"""Make the tiny model fixtures in tests/fixtures/models/, with reference attentions.

For each family in SPECS (bert, roberta, xlm-roberta, distilbert, electra, gpt2, opt,
gpt_neox, llama, qwen2, qwen3, mistral, phi3, olmo2, gemma, gemma2, gemma3_text, and the RoPE
scaling fixtures llama-linear, llama-llama3, llama-dynamic, llama-yarn, phi3-longrope and
phi3-longrope-short, the encoder-decoder t5: see make_seq2seq, and the older config.json
forms t5-v1_1, mt5, bert-decoder and roberta-decoder, and umt5, and the T5s with their LM
heads t5-lm and t5-v1_1-lm, and the BART-like encoder-decoders bart, mbart, marian and
pegasus, also made by make_seq2seq) this builds a
tiny, randomly initialised Hugging Face model (2 or 3 layers, hidden size 32, 4 heads,
initializer_range=0.4 unless a spec says why not, eager attention), with seeded noise on its
biases and norm weights, and a tiny
tokenizer trained here with the `tokenizers` library on a small built-in corpus, and writes

    <out>/<name>/config.json        the real config.json, from save_pretrained
    <out>/<name>/model.safetensors  (gpt2: two shards + model.safetensors.index.json)
    <out>/<name>/tokenizer.json
    <out>/<name>/reference.npz      text, input_ids, attentions, attentions64, hidden_in
                                    (no pickle)

transformers initialises every bias to 0 and every norm weight to 1, so a loader that skipped
them would still match. Before saving, every bias (Linear, Conv1D, LayerNorm) therefore gets
seeded noise N(0, 0.2) and every LayerNorm/RMSNorm weight 1 + N(0, 0.2); llama is made with
attention_bias=True (q, k, v and o biases) and qwen2 has its q, k, v biases. The decoders that
can slide do: mistral with sliding_window=4 in both layers, qwen2 with use_sliding_window,
sliding_window=4 and max_window_layers=1 (layer 0 full, layer 1 sliding). The sentence is
longer than twice any window (11 to 19 tokens), so a window changes the reference.

`attentions` is model(input_ids, output_attentions=True).attentions stacked to
(num_layers, num_heads, n, n), computed in float32 by transformers from the weights loaded
back from the files just written (llama is stored as bfloat16 and qwen2 as float16: the
reference is for those stored numbers upcast to float32); `attentions64` the same with the model
loaded in float64 (for `attn --float64`). `hidden_in[i]` is the hidden state
entering layer i, (num_layers, n, hidden), from output_hidden_states. `input_ids` are what
tokenizer.json gives for `text` with padding and truncation switched off.

Usage:

    pip install torch==2.13.0 transformers      # only for this script; the tests need neither
    python scripts/make_model_fixtures.py [--out tests/fixtures/models] [NAME ...]

NAME builds only those fixtures (e.g. `t5-v1_1 mt5`); without one, all of them. With
`--roles` it only writes roles.npz (head role scores, see make_roles) for ROLE_FIXTURES.

    python scripts/make_model_fixtures.py --norms [NAME ...]

only adds norms.npz (input_ids, norms, value_norms: the norm-based measure of Kobayashi et
al. 2020, worked out from transformers' own value projection, W_O and attentions; see
make_norms) beside the existing reference of bert, llama and mistral, or of those named.

    python scripts/make_model_fixtures.py --pins [NAME ...]

only adds pins.npz beside the existing reference of every fixture in PIN_FIXTURES (each
family, the RoPE scaling variants, gpt2-layer-scale, t5, mt5 and umt5), or of those named; a
full build writes it too. It holds what the screens show, as transformers computes it, for
reference.npz's input_ids, caught inside transformers' eager_attention_forward (see
make_pins): float32 q (layers, heads, n, d) after bias, q/k norm and RoPE; k and v (layers,
kv_heads, n, d); scores = q·kᵀ before the scaling; scaling (layers,) float64; logits, the
softmax's input (scaled, gemma2's softcap, t5's position_bias, then the mask, where a hidden
key gets -3.4e38); and for t5, mt5 and umt5 position_bias, and the same keys with decoder_ and
cross_ for the decoder's self- and cross-attention.

    python scripts/make_model_fixtures.py --generate [NAME ...]

only writes tests/fixtures/generate/<name>.npz for GENERATE_FIXTURES (gpt2-lm, llama-lm,
qwen2-lm, gemma2-lm, phi3-lm), or those named: transformers' greedy generate with its cache,
20 new tokens and each step's logits (see make_generate).

    python scripts/make_model_fixtures.py --effects [NAME ...]

only writes tests/fixtures/effects/<name>.npz for EFFECT_FIXTURES (gpt2-lm, llama-lm,
qwen2-lm, gemma2-lm, bert-mlm), or those named: the logits with each head knocked out (zero
and mean), two heads at once, and for gpt2-lm and llama-lm each head patched from a clean
run into a corrupted one (see make_effects, whose docstring says exactly what each key holds).

It is deterministic: torch is seeded per fixture and reference.npz (norms.npz, pins.npz) is
written with fixed zip timestamps, so running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched: everything is built here
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402

try:
    import torch
    import transformers
    from safetensors import safe_open
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
except ImportError as exc:  # pragma: no cover - a hint for whoever runs it
    sys.exit(f"{exc}: this script needs `pip install torch==2.13.0 transformers` "
             "(the package and its tests do not)")

TEXT = "The animal didn't cross the street because it was tired"
INIT_RANGE = 0.4
SEED = 1234
NOISE = 0.2  # the spread of the noise on biases (around 0) and norm weights (around 1)
WINDOW = 4  # mistral's and qwen2's sliding window: far shorter than TEXT in tokens

CORPUS = [
    "The animal didn't cross the street because it was tired",
    "The animal didn't cross the street because it was too wide",
    "The animal was tired",
    "I love AI",
    "I saw the bank near the river",
    "I went to the bank to deposit my money",
    "The river bank was covered in grass",
    "The cat sat on the mat",
    "The dog chased the cat across the street",
    "A bird flew over the river",
    "She said that it was raining",
    "He didn't know why the animal stopped",
    "The street was quiet because it was late",
    "We love the river near the old bridge",
    "The tired dog slept near the door",
    "Attention lets each token look at every other token",
    "Self-attention weighs the words of a sentence",
    "The query meets the key and the value is mixed",
    "Transformers read the whole sentence at once",
    "It was the best of times, it was the worst of times",
    "The quick brown fox jumps over the lazy dog",
    "Hello there, how are you today?",
    "Hi! I said hi to the animal, and it said hi back",
    "One two three four five six seven eight nine ten",
    "The model looks back at the words before it",
    "Why did the chicken cross the road?",
    "My money is in the bank, not under the bed",
    "The children crossed the street with their teacher",
    "Numbers like 42 and 3.14 appear in text too",
    "The animal ran because it was scared",
    "Every head attends to something different",
    "Because it was tired, the animal lay down",
    "I saw a small animal near the street",
]

# ---- tokenizers --------------------------------------------------------------------------


def wordpiece(vocab_size: int) -> Tokenizer:
    """A BERT-style uncased WordPiece tokenizer: [CLS] $A [SEP].

    WordPieceTrainer alone is not deterministic (tokenizers 0.23): it creates the "##x"
    continuation pieces in hash-map order, and their ids break ties between merges. So the
    "##x" pieces are handed to the trainer first, in sorted order, as special tokens (which fixes
    their ids), and the tokenizer is then rebuilt from the trained vocabulary with only the five
    real special tokens.
    """
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True,
                                            handle_chinese_chars=True, strip_accents=None)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    chars = sorted({c for line in CORPUS
                    for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line))
                    for c in word})
    trained = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trained.normalizer, trained.pre_tokenizer = normalizer, pre_tokenizer
    trained.train_from_iterator(CORPUS, trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=special + ["##" + c for c in chars],
        continuing_subword_prefix="##", show_progress=False))

    vocab = trained.get_vocab(with_added_tokens=True)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]",
                                     continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    tok.add_special_tokens(special)
    assert [tok.token_to_id(t) for t in special] == list(range(len(special)))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def byte_level_bpe(vocab_size: int, special: list[str], add_prefix_space: bool) -> Tokenizer:
    """A GPT-2-style byte-level BPE tokenizer (no post-processor: callers add one)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    assert [tok.token_to_id(t) for t in special] == list(range(len(special)))
    return tok


def metaspace_bpe(vocab_size: int) -> Tokenizer:
    """A sentencepiece-style (Llama-2/Mistral) BPE with ▁ for spaces and <unk>: <s> $A."""
    special = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, show_progress=False))
    assert [tok.token_to_id(t) for t in special] == [0, 1, 2]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)])
    return tok


# ---- models ------------------------------------------------------------------------------

COMMON = {"initializer_range": INIT_RANGE, "attn_implementation": "eager"}
SMALL = {"hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2,
         "intermediate_size": 64, "max_position_embeddings": 64}


def spec_bert() -> dict:
    tok = wordpiece(250)
    tok.enable_padding(length=128, pad_id=0, pad_token="[PAD]")  # as some real files have
    tok.enable_truncation(max_length=128)
    config = transformers.BertConfig(vocab_size=tok.get_vocab_size(), type_vocab_size=2,
                                     pad_token_id=0, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.BertModel,
            "dtype": torch.float32}


def spec_roberta() -> dict:
    tok = byte_level_bpe(320, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], add_prefix_space=False)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0),
                                                      trim_offsets=True, add_prefix_space=False)
    config = transformers.RobertaConfig(
        vocab_size=tok.get_vocab_size(), type_vocab_size=1, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, **{**SMALL, "max_position_embeddings": 64 + 2}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.RobertaModel,
            "dtype": torch.float32}


def spec_distilbert() -> dict:
    tok = wordpiece(250)
    config = transformers.DistilBertConfig(
        vocab_size=tok.get_vocab_size(), dim=32, n_heads=4, n_layers=2, hidden_dim=64,
        max_position_embeddings=64, pad_token_id=0, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.DistilBertModel,
            "dtype": torch.float32}


def spec_gpt2() -> dict:
    tok = byte_level_bpe(320, ["<|endoftext|>"], add_prefix_space=False)
    eot = tok.token_to_id("<|endoftext|>")
    config = transformers.GPT2Config(
        vocab_size=tok.get_vocab_size(), n_embd=32, n_head=4, n_layer=2, n_positions=64,
        bos_token_id=eot, eos_token_id=eot, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.GPT2Model,
            "dtype": torch.float32, "max_shard_size": "100KB"}


def spec_llama() -> dict:
    # Llama-3 style: byte-level BPE, BOS added by the post-processor.
    tok = byte_level_bpe(320, ["<s>", "</s>"], add_prefix_space=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 0)])
    config = transformers.LlamaConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, rope_theta=10000.0,
        attention_bias=True, bos_token_id=0, eos_token_id=1, pad_token_id=None,
        **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.LlamaModel,
            "dtype": torch.bfloat16}


def spec_qwen2() -> dict:
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = byte_level_bpe(320, special, add_prefix_space=False)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)  # adds no token, like Qwen2
    config = transformers.Qwen2Config(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, rope_theta=1000000.0,
        bos_token_id=0, eos_token_id=0, use_sliding_window=True, sliding_window=WINDOW,
        max_window_layers=1, **SMALL, **COMMON)  # layer 0: full attention; layer 1: sliding
    return {"tokenizer": tok, "config": config, "cls": transformers.Qwen2Model,
            "dtype": torch.float16}


def spec_mistral() -> dict:
    # Mistral-7B-v0.1 style: sentencepiece-like ▁ BPE with <unk>, BOS by the post-processor.
    tok = metaspace_bpe(250)
    config = transformers.MistralConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=1, sliding_window=WINDOW,
        rope_theta=10000.0, bos_token_id=1, eos_token_id=2, pad_token_id=None,
        **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.MistralModel,
            "dtype": torch.float32}


# ---- qwen3 and the Gemmas (one block: spec functions, registered after SPECS) ----
# qwen3 is qwen2's fixture with q/k norms (noisy too) and head_dim 8, stored as bfloat16.
# Gemma's RMSNorms multiply by (1 + weight) and transformers initialises the weights to 0; the
# noise puts them at 1 + N(0, 0.2), i.e. an effective 2 + N(0, 0.2): still a norm weight that
# a loader must read. gemma's head_dim (16) is set apart from hidden / heads (8). gemma2 scales
# by query_pre_attn_scalar 16^-0.5 (not 8^-0.5) and soft-caps at 10, below its largest scaled
# scores; gemma3_text scales by 32^-0.5 and turns its sliding layers with a RoPE base of 10,
# its full layer with 10 000. Both have 3 layers: sliding, full, sliding (window 4). Gemma's
# embeddings are multiplied by sqrt(32) and its norms by about 2, so gemma and gemma2 use a
# smaller initializer_range (0.15, 0.2): with 0.4, float32 rounding alone (ours vs torch's
# summation order, both float32) reaches 1e-5 in the last layer.


def gemma_tokenizer() -> Tokenizer:
    return metaspace_bpe(250)  # <unk> 0, <s> 1 (BOS, added), </s> 2


def spec_qwen3() -> dict:
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = byte_level_bpe(320, special, add_prefix_space=False)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)  # adds no token, like Qwen3
    config = transformers.Qwen3Config(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, head_dim=8,
        rope_theta=1000000.0, bos_token_id=0, eos_token_id=0, use_sliding_window=True,
        sliding_window=WINDOW, max_window_layers=1, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Qwen3Model,
            "dtype": torch.bfloat16}


def spec_gemma() -> dict:
    tok = gemma_tokenizer()
    config = transformers.GemmaConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, head_dim=16,
        rope_theta=10000.0, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        **SMALL, **{**COMMON, "initializer_range": 0.15})
    return {"tokenizer": tok, "config": config, "cls": transformers.GemmaModel,
            "dtype": torch.float32}


def spec_gemma2() -> dict:
    tok = gemma_tokenizer()
    config = transformers.Gemma2Config(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, head_dim=8,
        query_pre_attn_scalar=16, attn_logit_softcapping=10.0,
        sliding_window=WINDOW, rope_theta=10000.0, bos_token_id=1, eos_token_id=2,
        pad_token_id=0, **{**SMALL, "num_hidden_layers": 3}, **{**COMMON, "initializer_range": 0.2})
    # layer_types: sliding, full, sliding
    return {"tokenizer": tok, "config": config, "cls": transformers.Gemma2Model,
            "dtype": torch.bfloat16}


def spec_gemma3_text() -> dict:
    tok = gemma_tokenizer()
    config = transformers.Gemma3TextConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=1, head_dim=8,
        query_pre_attn_scalar=32, sliding_window=WINDOW,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10.0},
                         "full_attention": {"rope_type": "default", "rope_theta": 10000.0}},
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
        **{**SMALL, "num_hidden_layers": 3}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Gemma3TextModel,
            "dtype": torch.float32}


# ---- more families: xlm-roberta, electra, opt, gpt_neox, phi3, olmo2 ----------------------


def spec_xlm_roberta() -> dict:
    # RoBERTa's architecture under its own model_type; <s> <pad> </s> <unk> as in XLM-R.
    tok = byte_level_bpe(320, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], add_prefix_space=False)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0),
                                                      trim_offsets=True, add_prefix_space=False)
    config = transformers.XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(), type_vocab_size=1, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, **{**SMALL, "max_position_embeddings": 64 + 2}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.XLMRobertaModel,
            "dtype": torch.float32}


def spec_electra() -> dict:
    # embedding_size 16 < hidden_size 32: the embeddings go through embeddings_project.
    tok = wordpiece(250)
    config = transformers.ElectraConfig(vocab_size=tok.get_vocab_size(), embedding_size=16,
                                        type_vocab_size=2, pad_token_id=0, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.ElectraModel,
            "dtype": torch.float32}


def spec_opt() -> dict:
    # OPT's tokenizer puts </s> (id 2) before the text. Pre-norm (do_layer_norm_before, as in
    # every OPT but opt-350m) with word_embed_proj_dim 16 < hidden_size 32 (as in opt-350m), so
    # project_in is exercised too.
    tok = byte_level_bpe(320, ["<s>", "<pad>", "</s>", "<unk>"], add_prefix_space=False)
    tok.post_processor = processors.TemplateProcessing(
        single="</s> $A", pair="</s> $A </s> $B:1", special_tokens=[("</s>", 2)])
    config = transformers.OPTConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_attention_heads=4,
        num_hidden_layers=2, ffn_dim=64, max_position_embeddings=64, word_embed_proj_dim=16,
        do_layer_norm_before=True, pad_token_id=1, bos_token_id=2, eos_token_id=2,
        init_std=INIT_RANGE, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.OPTModel,
            "dtype": torch.float32}


def spec_gpt_neox() -> dict:
    # Pythia style: parallel residual, partial rotary (half of each 8-wide head), no BOS.
    tok = byte_level_bpe(320, ["<|endoftext|>", "<|padding|>"], add_prefix_space=False)
    config = transformers.GPTNeoXConfig(
        vocab_size=tok.get_vocab_size(), rotary_pct=0.5, rotary_emb_base=10000,
        use_parallel_residual=True, bos_token_id=0, eos_token_id=0, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.GPTNeoXModel,
            "dtype": torch.float32}


def spec_phi3() -> dict:
    # Phi-3 style: sentencepiece-like BPE with <s>; fused qkv_proj and gate_up_proj; grouped
    # query heads; half of each 8-wide head rotated; sliding_window 4 in every layer.
    tok = metaspace_bpe(250)
    config = transformers.Phi3Config(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, sliding_window=WINDOW,
        partial_rotary_factor=0.5, rope_theta=10000.0, original_max_position_embeddings=64,
        bos_token_id=1, eos_token_id=2, pad_token_id=None, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Phi3Model,
            "dtype": torch.float32}


def spec_olmo2() -> dict:
    # OLMo-2 style: norms after each block, q_norm/k_norm over the full projection width,
    # grouped query heads, GPT-NeoX-like byte-level BPE with no BOS. q and k normalised make
    # attention flat; with this vocabulary (400) 31% of rows peak above 0.5, as check() wants.
    tok = byte_level_bpe(400, ["<|endoftext|>", "<|padding|>"], add_prefix_space=False)
    config = transformers.Olmo2Config(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, rope_theta=10000.0,
        pad_token_id=1, bos_token_id=None, eos_token_id=0, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Olmo2Model,
            "dtype": torch.float32}


# ---- RoPE scaling (one block: spec functions, registered after SPECS) ----
# llama's fixture with each scaling type transformers knows, and phi3's with longrope. Each is
# set so that the scaling changes the reference for TEXT (about 12 tokens): dynamic grows its
# base only past max_position_embeddings, so that is 8; yarn's ramp between extrapolated and
# interpolated speeds is partial with original 64 (speeds [1, 1/2 blend, /4, /4] for head_dim
# 8); llama3's wavelengths [6, 63, 628, 6283] are kept, blended, slowed, slowed with original
# 64; phi3-longrope's original_max_position_embeddings 8 is shorter than TEXT, so long_factor is
# used (and cos and sin are scaled by sqrt(1 + ln 8 / ln 8)), phi3-longrope-short's 32 is not.


# rope scalings the scaled fixtures share (each spreads them into its own parameters)
DYNAMIC = {"rope_type": "dynamic", "factor": 4.0}
YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}
LONGROPE = {"rope_type": "longrope", "short_factor": [1.0, 1.5, 2.0, 3.0],
            "long_factor": [2.0, 4.0, 6.0, 8.0], "original_max_position_embeddings": 8}


def llama_scaled(rope: dict, **overrides) -> dict:
    spec = spec_llama()
    config = spec["config"].to_dict()
    for key in ("architectures", "transformers_version", "dtype", "torch_dtype", "model_type",
                "rope_theta", "rope_scaling"):
        config.pop(key, None)
    config.update(overrides)
    config["rope_parameters"] = {"rope_theta": 10000.0, **rope}
    spec["config"] = transformers.LlamaConfig(**config, attn_implementation="eager")
    return spec


def spec_llama_linear() -> dict:
    return llama_scaled({"rope_type": "linear", "factor": 4.0})


def spec_gpt2_layer_scale() -> dict:
    # GPT-2 whose step 4 also divides by the layer's number (Mistral's Stanford GPT-2s)
    spec = spec_gpt2()
    spec["config"].scale_attn_by_inverse_layer_idx = True
    spec.pop("max_shard_size", None)  # one file is enough here
    return spec


def spec_llama_dynamic() -> dict:
    return llama_scaled(DYNAMIC, max_position_embeddings=8)


def spec_llama_yarn() -> dict:
    return llama_scaled(YARN, max_position_embeddings=256)


def spec_llama_llama3() -> dict:
    return llama_scaled({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64})


def phi3_longrope(original: int) -> dict:
    tok = metaspace_bpe(250)
    config = transformers.Phi3Config(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, sliding_window=WINDOW,
        partial_rotary_factor=0.5, original_max_position_embeddings=original,
        rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                         "short_factor": [1.0, 1.5], "long_factor": [2.0, 6.0]},
        bos_token_id=1, eos_token_id=2, pad_token_id=None, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Phi3Model,
            "dtype": torch.float32}


def spec_phi3_longrope() -> dict:
    return phi3_longrope(8)


def spec_phi3_longrope_short() -> dict:
    return phi3_longrope(32)


# ---- LM heads for `attn predict` (one block: spec functions, registered after SPECS) ----
# Each is its family's fixture with the head transformers puts on top: gpt2-lm (GPT2LMHeadModel,
# lm_head tied to wte, so only the embeddings are stored), llama-lm (LlamaForCausalLM with an
# untied lm_head.weight), qwen2-lm (Qwen2ForCausalLM with tie_word_embeddings), bert-mlm
# (BertForMaskedLM: cls.predictions.transform + a decoder tied to the word embeddings + bias)
# and roberta-mlm (RobertaForMaskedLM: lm_head.dense, layer_norm, tied decoder + bias). The
# masked LMs' sentence has a mask token where "street" was. reference.npz also holds `logits`:
# the last position's (vocab,) for a decoder, every position's (n, vocab) for a masked LM.


def spec_gpt2_lm() -> dict:
    spec = spec_gpt2()
    spec.pop("max_shard_size", None)
    return {**spec, "cls": transformers.GPT2LMHeadModel, "logits": True}


def spec_llama_lm() -> dict:
    spec = spec_llama()
    spec["config"].tie_word_embeddings = False
    return {**spec, "cls": transformers.LlamaForCausalLM, "logits": True}


def spec_qwen2_lm() -> dict:
    spec = spec_qwen2()
    spec["config"].tie_word_embeddings = True
    return {**spec, "cls": transformers.Qwen2ForCausalLM, "logits": True}


def spec_phi3_lm() -> dict:
    spec = spec_phi3()
    spec["config"].tie_word_embeddings = False
    return {**spec, "cls": transformers.Phi3ForCausalLM, "logits": True}


def spec_olmo2_lm() -> dict:
    spec = spec_olmo2()
    spec["config"].tie_word_embeddings = False
    return {**spec, "cls": transformers.Olmo2ForCausalLM, "logits": True}


def spec_gemma2_lm() -> dict:
    # tied, as every Gemma is, and final_logit_softcapping 3 (Gemma 2's is 30): with this
    # fixture's logits of a few units, a cap of 30 would hardly bend them
    spec = spec_gemma2()
    spec["config"].tie_word_embeddings = True
    spec["config"].final_logit_softcapping = 3.0
    return {**spec, "cls": transformers.Gemma2ForCausalLM, "logits": True}


def spec_bert_mlm() -> dict:
    spec = spec_bert()
    return {**spec, "cls": transformers.BertForMaskedLM, "logits": True,
            "text": TEXT.replace("street", "[MASK]")}


def spec_roberta_mlm() -> dict:
    spec = spec_roberta()
    from tokenizers import AddedToken

    spec["tokenizer"].add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    return {**spec, "cls": transformers.RobertaForMaskedLM, "logits": True,
            "text": TEXT.replace(" street", " <mask>")}


# ---- more LM heads (one block: spec functions, registered after SPECS) ----
# gpt_neox-lm (GPTNeoXForCausalLM: final_layer_norm, untied lm_head), opt-lm (OPTForCausalLM:
# final_layer_norm, project_out back to word_embed_proj_dim 16, lm_head tied to the 16-wide
# embeddings), distilbert-mlm (DistilBertForMaskedLM: vocab_transform, gelu,
# vocab_layer_norm, tied vocab_projector + bias), electra-mlm (ElectraForMaskedLM:
# generator_predictions 32 -> 16, gelu, LayerNorm, tied generator_lm_head + bias) and
# xlm-roberta-mlm (XLMRobertaForMaskedLM, as roberta-mlm). Their reference.npz holds logits.


def spec_gpt_neox_lm() -> dict:
    spec = spec_gpt_neox()
    assert spec["config"].tie_word_embeddings is False
    return {**spec, "cls": transformers.GPTNeoXForCausalLM, "logits": True}


def spec_opt_lm() -> dict:
    spec = spec_opt()
    assert spec["config"].tie_word_embeddings and spec["config"].word_embed_proj_dim == 16
    return {**spec, "cls": transformers.OPTForCausalLM, "logits": True}


def spec_distilbert_mlm() -> dict:
    spec = spec_distilbert()
    return {**spec, "cls": transformers.DistilBertForMaskedLM, "logits": True,
            "text": TEXT.replace("street", "[MASK]")}


def spec_electra_mlm() -> dict:
    spec = spec_electra()
    return {**spec, "cls": transformers.ElectraForMaskedLM, "logits": True,
            "text": TEXT.replace("street", "[MASK]")}


def spec_xlm_roberta_mlm() -> dict:
    spec = spec_xlm_roberta()
    from tokenizers import AddedToken

    spec["tokenizer"].add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    return {**spec, "cls": transformers.XLMRobertaForMaskedLM, "logits": True,
            "text": TEXT.replace(" street", " <mask>")}


# ---- more decoders (issue 28; one block: spec functions, registered after SPECS) ----
# Each is its family's …ForCausalLM, so one fixture checks every head and the LM head (its
# reference.npz holds the last position's logits). Small: byte-level BPE of 320, 2 layers,
# hidden 32, 4 heads, weights stored as bfloat16, heads tied to the embeddings (an untied head
# is read as every family reads it). phi: partial RoPE (half of each 8-wide head),
# qk_layernorm, grouped query heads, the head's own bias. gpt_neo: a global then a local layer
# (window 4, far shorter than TEXT), scores never scaled (so initializer_range 0.2: with 0.4
# every row puts its weight on one key). gptj: interleaved RoPE on the first 4 of 8
# dimensions, a parallel block with one norm, the head's bias. gpt_bigcode: multi-query (one
# key/value head), learned positions.


def decoder_tokenizer() -> Tokenizer:
    return byte_level_bpe(320, ["<|endoftext|>"], add_prefix_space=False)


def spec_phi() -> dict:
    tok = decoder_tokenizer()
    config = transformers.PhiConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, qk_layernorm=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                         "partial_rotary_factor": 0.5},
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.PhiForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


def spec_gpt_neo() -> dict:
    tok = decoder_tokenizer()
    config = transformers.GPTNeoConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_heads=4, num_layers=2,
        intermediate_size=64, max_position_embeddings=64, window_size=WINDOW,
        attention_types=[[["global", "local"], 1]], bos_token_id=0, eos_token_id=0,
        **{**COMMON, "initializer_range": 0.2})
    return {"tokenizer": tok, "config": config, "cls": transformers.GPTNeoForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


def spec_gptj() -> dict:
    tok = decoder_tokenizer()
    config = transformers.GPTJConfig(
        vocab_size=tok.get_vocab_size(), n_embd=32, n_head=4, n_layer=2, n_inner=64,
        n_positions=64, rotary_dim=4, tie_word_embeddings=True, bos_token_id=0,
        eos_token_id=0, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.GPTJForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


def spec_gpt_bigcode() -> dict:
    tok = decoder_tokenizer()
    config = transformers.GPTBigCodeConfig(
        vocab_size=tok.get_vocab_size(), n_embd=32, n_head=4, n_layer=2, n_inner=64,
        n_positions=64, multi_query=True, bos_token_id=0, eos_token_id=0, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.GPTBigCodeForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


def spec_starcoder2() -> dict:
    # LayerNorms with biases, every projection biased, sliding_window 4 in every layer
    tok = decoder_tokenizer()
    config = transformers.Starcoder2Config(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, sliding_window=WINDOW,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, use_bias=True,
        bos_token_id=0, eos_token_id=0, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Starcoder2ForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


def spec_olmo() -> dict:
    # LayerNorms with no parameters (nothing to put noise on), q/k/v/o biases (attention_bias)
    tok = decoder_tokenizer()
    config = transformers.OlmoConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, attention_bias=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True, pad_token_id=None, bos_token_id=0, eos_token_id=0,
        **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.OlmoForCausalLM,
            "dtype": torch.bfloat16, "logits": True}

# ---- mixtures of experts (issue 28; one block: spec functions, registered after SPECS) ----
# Each a …ForCausalLM stored as bfloat16, as the decoders above, with few tiny experts (4 of
# them, 2 a token) so that a fixture stays small; reference.npz also holds router_logits
# (sparse layers, n, experts), transformers' own router output, so a test can see that
# different tokens take different experts. mixtral: top-2 renormalised, a window of 4 in every
# layer. qwen2_moe: no renormalising (norm_topk_prob false, as Qwen1.5-MoE), a gated shared
# expert, layer 1 dense (mlp_only_layers). qwen3_moe: q/k norms, renormalised (as
# Qwen3-30B-A3B).
MOE = {"vocab_size": 320, "num_key_value_heads": 2, "num_experts_per_tok": 2,
       "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
       "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0}
EAGER_EXPERTS = {"experts_implementation": "eager"}  # a loop over experts, float64 too


def spec_mixtral() -> dict:
    tok = decoder_tokenizer()
    config = transformers.MixtralConfig(
        **{**MOE, "vocab_size": tok.get_vocab_size()}, num_local_experts=4,
        sliding_window=WINDOW, **{**SMALL, "intermediate_size": 16}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.MixtralForCausalLM,
            "dtype": torch.bfloat16, "logits": True, "routes": True, "load": EAGER_EXPERTS}


def spec_qwen2_moe() -> dict:
    tok = decoder_tokenizer()
    config = transformers.Qwen2MoeConfig(
        **{**MOE, "vocab_size": tok.get_vocab_size()}, num_experts=4, moe_intermediate_size=8,
        shared_expert_intermediate_size=16, norm_topk_prob=False, mlp_only_layers=[1],
        **{**SMALL, "num_hidden_layers": 3, "intermediate_size": 16}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Qwen2MoeForCausalLM,
            "dtype": torch.bfloat16, "logits": True, "routes": True, "load": EAGER_EXPERTS}


def spec_qwen3_moe() -> dict:
    tok = decoder_tokenizer()
    config = transformers.Qwen3MoeConfig(
        **{**MOE, "vocab_size": tok.get_vocab_size()}, num_experts=4, moe_intermediate_size=8,
        norm_topk_prob=True, head_dim=8, **{**SMALL, "intermediate_size": 16}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Qwen3MoeForCausalLM,
            "dtype": torch.bfloat16, "logits": True, "routes": True, "load": EAGER_EXPERTS}

SPECS = {"bert": spec_bert, "roberta": spec_roberta, "distilbert": spec_distilbert,
         "gpt2": spec_gpt2, "llama": spec_llama, "qwen2": spec_qwen2, "mistral": spec_mistral}
DECODERS = {"gpt2", "llama", "qwen2", "mistral"}
SPECS["xlm-roberta"] = spec_xlm_roberta
SPECS["electra"] = spec_electra
SPECS["opt"] = spec_opt
SPECS["gpt_neox"] = spec_gpt_neox
SPECS["phi3"] = spec_phi3
SPECS["olmo2"] = spec_olmo2
DECODERS |= {"opt", "gpt_neox", "phi3", "olmo2"}
SPECS["qwen3"] = spec_qwen3
SPECS["gemma"] = spec_gemma
SPECS["gemma2"] = spec_gemma2
SPECS["gemma3_text"] = spec_gemma3_text
DECODERS |= {"qwen3", "gemma", "gemma2", "gemma3_text"}
SPECS["llama-linear"] = spec_llama_linear
SPECS["llama-dynamic"] = spec_llama_dynamic
SPECS["gpt2-layer-scale"] = spec_gpt2_layer_scale
DECODERS |= {"gpt2-layer-scale"}
SPECS["llama-yarn"] = spec_llama_yarn
SPECS["llama-llama3"] = spec_llama_llama3
SPECS["phi3-longrope"] = spec_phi3_longrope
SPECS["phi3-longrope-short"] = spec_phi3_longrope_short
DECODERS |= {"llama-linear", "llama-dynamic", "llama-yarn", "llama-llama3", "phi3-longrope",
             "phi3-longrope-short"}
SPECS["gpt2-lm"] = spec_gpt2_lm
SPECS["llama-lm"] = spec_llama_lm
SPECS["qwen2-lm"] = spec_qwen2_lm
SPECS["bert-mlm"] = spec_bert_mlm
SPECS["roberta-mlm"] = spec_roberta_mlm
SPECS["phi3-lm"] = spec_phi3_lm
SPECS["olmo2-lm"] = spec_olmo2_lm
SPECS["gemma2-lm"] = spec_gemma2_lm
DECODERS |= {"gpt2-lm", "llama-lm", "qwen2-lm", "phi3-lm", "olmo2-lm", "gemma2-lm"}
SPECS["gpt_neox-lm"] = spec_gpt_neox_lm
SPECS["opt-lm"] = spec_opt_lm
SPECS["distilbert-mlm"] = spec_distilbert_mlm
SPECS["electra-mlm"] = spec_electra_mlm
SPECS["xlm-roberta-mlm"] = spec_xlm_roberta_mlm
DECODERS |= {"gpt_neox-lm", "opt-lm"}
SPECS["phi"] = spec_phi
SPECS["gpt_neo"] = spec_gpt_neo
SPECS["gptj"] = spec_gptj
SPECS["gpt_bigcode"] = spec_gpt_bigcode
SPECS["starcoder2"] = spec_starcoder2
SPECS["olmo"] = spec_olmo
DECODERS |= {"phi", "gpt_neo", "gptj", "gpt_bigcode", "starcoder2", "olmo"}
SPECS["mixtral"] = spec_mixtral
SPECS["qwen2_moe"] = spec_qwen2_moe
SPECS["qwen3_moe"] = spec_qwen3_moe
DECODERS |= {"mixtral", "qwen2_moe", "qwen3_moe"}

# ---- still more decoders (issue 28, i28-more; one block: specs and their registration) ----
# As the block above: each its family's …ForCausalLM in bfloat16, reference.npz with the last
# position's logits. stablelm: LayerNorms with biases, partial RoPE (half of each head), q/k/v
# biases, each head's own q and k LayerNorm (qk_layernorm; its weights × 2.5, as the norms
# otherwise leave every score small and every row flat).


def sharpen_qk_norms(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(part in name for part in ("q_layernorm", "k_layernorm", "q_norm", "k_norm")):
                p.mul_(2.5)


def spec_stablelm() -> dict:
    tok = decoder_tokenizer()
    config = transformers.StableLmConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, use_qkv_bias=True,
        qk_layernorm=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                            "partial_rotary_factor": 0.5},
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, **SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.StableLmForCausalLM,
            "dtype": torch.bfloat16, "logits": True, "tweak": sharpen_qk_norms}


# cohere: bias-free LayerNorms, a parallel block, interleaved RoPE, use_qk_norm (a weight row
# per head, × 2.5 as stablelm's), q/k/v/o biases, logit_scale 0.25 (not its default, so that a
# missing scale shows).


def spec_cohere() -> dict:
    tok = decoder_tokenizer()
    config = transformers.CohereConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, use_qk_norm=True,
        attention_bias=True, logit_scale=0.25,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        pad_token_id=None, bos_token_id=0, eos_token_id=0,
        **{**SMALL, "intermediate_size": 32}, **COMMON)  # a narrower MLP: under 120 KB
    return {"tokenizer": tok, "config": config, "cls": transformers.CohereForCausalLM,
            "dtype": torch.bfloat16, "logits": True, "tweak": sharpen_qk_norms}


# smollm3: layer 0 turns q and k by RoPE, layer 1 does not (no_rope_layers [1, 0]) and slides
# (use_sliding_window, window 4: layer_types puts the window on the NoPE layers), q/k/v/o
# biases.


def spec_smollm3() -> dict:
    tok = decoder_tokenizer()
    config = transformers.SmolLM3Config(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, no_rope_layers=[1, 0],
        use_sliding_window=True, sliding_window=WINDOW, attention_bias=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        pad_token_id=None, bos_token_id=0, eos_token_id=0,
        **{**SMALL, "intermediate_size": 32},  # a narrower MLP: under 120 KB
        **{**COMMON, "initializer_range": 0.3})  # 0.4: rows so sharp that float32 shows
    return {"tokenizer": tok, "config": config, "cls": transformers.SmolLM3ForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


# helium: Llama's layers with interleaved RoPE and float32 RMSNorms; attention and MLP biases,
# rope_theta and rms_norm_eps set away from their defaults (so a wrong default shows); tied
# embeddings keep it under 120 KB.


def spec_helium() -> dict:
    tok = decoder_tokenizer()
    config = transformers.HeliumConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, head_dim=8,
        attention_bias=True, mlp_bias=True, rms_norm_eps=1e-5, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 5000.0},
        pad_token_id=None, bos_token_id=0, eos_token_id=0,
        **{**SMALL, "intermediate_size": 32}, **COMMON)  # a narrower MLP: under 120 KB
    return {"tokenizer": tok, "config": config, "cls": transformers.HeliumForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


# falcon: new_decoder_architecture (Falcon-40B/180B/11B): 2 key/value groups of 2 query heads
# in the fused projection, ln_attn and ln_mlp in a parallel block, biases (bias). falcon-mq
# (Falcon-7B's layout): multi_query (one key/value head after every query head), one
# input_layernorm for a parallel block, no biases but the norms'.


def spec_falcon() -> dict:
    tok = decoder_tokenizer()
    config = transformers.FalconConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_attention_heads=4,
        num_hidden_layers=2, ffn_hidden_size=64, max_position_embeddings=64,
        new_decoder_architecture=True, num_kv_heads=2, bias=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=0, eos_token_id=0, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.FalconForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


def spec_falcon_mq() -> dict:
    spec = spec_falcon()
    config = spec["config"].to_dict()
    for key in ("architectures", "transformers_version", "dtype", "torch_dtype", "model_type",
                "num_ln_in_parallel_attn"):
        config.pop(key, None)
    config.update(new_decoder_architecture=False, multi_query=True, parallel_attn=True,
                  bias=False, num_kv_heads=None)
    spec["config"] = transformers.FalconConfig(**config, attn_implementation="eager")
    return spec


# gemma3: the multimodal config (Gemma3ForConditionalGeneration, as Gemma 3 4B/12B/27B), its
# text_config gemma3_text's with linear RoPE scaling (factor 8) on the full layer as Gemma 3 4B
# has it, and a tiny vision tower (one layer, width 8, 16-pixel images) whose tensors the text
# model never reads. TEXT has no image in it: its reference is the language model's.


def spec_gemma3() -> dict:
    tok = gemma_tokenizer()
    text = transformers.Gemma3TextConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=1, head_dim=8,
        query_pre_attn_scalar=32, sliding_window=WINDOW,
        layer_types=["sliding_attention", "full_attention"],
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10.0},
                         "full_attention": {"rope_type": "linear", "factor": 8.0,
                                            "rope_theta": 10000.0}},
        bos_token_id=1, eos_token_id=2, pad_token_id=0, **SMALL, **COMMON)
    vision = {"hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": 16, "patch_size": 8}
    config = transformers.Gemma3Config(text_config=text.to_dict(), vision_config=vision,
                                       mm_tokens_per_image=4, **COMMON)
    return {"tokenizer": tok, "config": config,
            "cls": transformers.Gemma3ForConditionalGeneration, "dtype": torch.bfloat16,
            "logits": True}


# granite: its four multipliers, each far from 1 so that a missing one shows (embeddings × 3,
# scores × 0.5 instead of ÷ √8, each part × 0.6 before it is added, logits ÷ 4), q/k/v/o
# biases, the head tied (under 120 KB).


def spec_granite() -> dict:
    tok = decoder_tokenizer()
    config = transformers.GraniteConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=2, attention_bias=True,
        embedding_multiplier=3.0, attention_multiplier=0.5, residual_multiplier=0.6,
        logits_scaling=4.0, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True, pad_token_id=None, bos_token_id=0, eos_token_id=0,
        **{**SMALL, "intermediate_size": 32}, **{**COMMON, "initializer_range": 0.2})
    return {"tokenizer": tok, "config": config, "cls": transformers.GraniteForCausalLM,
            "dtype": torch.bfloat16, "logits": True}


# RoPE scalings on gpt_neox and gemma3_text (issue 28, item 4), each base model in bfloat16
# with no LM head. gpt_neox-yarn, -dynamic and -longrope: Pythia's layout (RoPE on half of
# each head) with each type, set as llama's are (dynamic: max_position_embeddings 8, so that
# TEXT grows the base; longrope: original 8, so its long factors and its factor on cos and
# sin apply). gemma3_text-scaled: yarn on the sliding layer, dynamic on the full one;
# gemma3_text-longrope: longrope on the full layer, the sliding one plain.


def neox_scaled(rope: dict, **overrides: object) -> dict:
    tok = byte_level_bpe(320, ["<|endoftext|>", "<|padding|>"], add_prefix_space=False)
    sizes = {**SMALL, **overrides}
    config = transformers.GPTNeoXConfig(
        vocab_size=tok.get_vocab_size(), use_parallel_residual=True, bos_token_id=0,
        eos_token_id=0, rope_parameters={"rope_theta": 10000.0, "partial_rotary_factor": 0.5,
                                         **rope}, **sizes, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.GPTNeoXModel,
            "dtype": torch.bfloat16}


def spec_gpt_neox_yarn() -> dict:
    return neox_scaled(YARN, max_position_embeddings=256)


def spec_gpt_neox_dynamic() -> dict:
    return neox_scaled(DYNAMIC, max_position_embeddings=8)


def spec_gpt_neox_longrope() -> dict:
    return neox_scaled({"rope_type": "longrope", "short_factor": [1.0, 1.5],
                        "long_factor": [2.0, 6.0], "original_max_position_embeddings": 8})


def gemma3_scaled(sliding: dict, full: dict, **overrides: object) -> dict:
    tok = gemma_tokenizer()
    config = transformers.Gemma3TextConfig(
        vocab_size=tok.get_vocab_size(), num_key_value_heads=1, head_dim=8,
        query_pre_attn_scalar=32, sliding_window=WINDOW,
        layer_types=["sliding_attention", "full_attention"],
        rope_parameters={"sliding_attention": {"rope_theta": 10.0, **sliding},
                         "full_attention": {"rope_theta": 10000.0, **full}},
        bos_token_id=1, eos_token_id=2, pad_token_id=0, **{**SMALL, **overrides}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.Gemma3TextModel,
            "dtype": torch.bfloat16}


def spec_gemma3_text_scaled() -> dict:
    return gemma3_scaled(YARN, DYNAMIC, max_position_embeddings=8)


def spec_gemma3_text_longrope() -> dict:
    return gemma3_scaled({"rope_type": "default"}, LONGROPE)


ROPE_SCALED = {"gpt_neox-yarn": spec_gpt_neox_yarn, "gpt_neox-dynamic": spec_gpt_neox_dynamic,
               "gpt_neox-longrope": spec_gpt_neox_longrope,
               "gemma3_text-scaled": spec_gemma3_text_scaled,
               "gemma3_text-longrope": spec_gemma3_text_longrope}
SPECS.update(ROPE_SCALED)
DECODERS |= set(ROPE_SCALED)


MORE_DECODERS = {"stablelm": spec_stablelm, "cohere": spec_cohere, "smollm3": spec_smollm3,
                 "falcon": spec_falcon, "falcon-mq": spec_falcon_mq, "gemma3": spec_gemma3,
                 "granite": spec_granite, "helium": spec_helium}
SPECS.update(MORE_DECODERS)
DECODERS |= set(MORE_DECODERS)

# ---- t5: an encoder-decoder (one block: spec, tokenizer, its own make) ----
# The source is TEXT, the target its German translation. relative_attention_num_buckets 8 and
# max_distance 12 put both the exact and the logarithmic buckets (and the last, clamped one)
# inside TEXT's 13 tokens, for the encoder (4 buckets a side, 2 exact) and the decoder (8, 4
# exact). The decoder has 3 blocks to the encoder's 2, so a mix-up of the two counts fails.

T5_SHARPEN = 3.0  # every query weight × this: peaked rows, as a trained model has them; a
# larger initializer_factor instead grows every layer's output, and transformers' float32
# islands in its float64 run (the norms' mean square) then differ from attn's by over 1e-6
T5_TARGET = "Das Tier überquerte die Straße nicht, weil es müde war"
T5_CORPUS = [*CORPUS, T5_TARGET, "Das Tier war müde", "Ich liebe die Straße",
             "Die Katze saß auf der Matte", "Es war spät, weil die Straße ruhig war"]


def unigram(vocab_size: int, special: tuple[str, ...] = ("<pad>", "</s>", "<unk>"),
            single: str = "$A </s>") -> Tokenizer:
    """A sentencepiece-style (T5) Unigram tokenizer: <pad> </s> <unk>, then $A </s> (or the
    special tokens given, first, and their template: every special token in it is one of
    them)."""
    special = list(special)
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(T5_CORPUS, trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=special, unk_token="<unk>", show_progress=False))
    # The trainer's scores differ in their last bits from run to run (it sums in parallel), and
    # the characters it adds last get -8.3879, -8.3880, … in a different order each time:
    # rebuilt from the scores rounded to 2 decimals, in a fixed order, the file is the same.
    trained = json.loads(tok.to_str())["model"]["vocab"]  # [[piece, score], …], specials first
    rest = sorted(((piece, round(score, 2)) for piece, score in trained[len(special):]),
                  key=lambda entry: (-entry[1], entry[0]))
    pre_tokenizer, decoder = tok.pre_tokenizer, tok.decoder
    tok = Tokenizer(models.Unigram([(piece, 0.0) for piece in special] + rest,
                                   unk_id=special.index("<unk>")))
    tok.pre_tokenizer, tok.decoder = pre_tokenizer, decoder
    assert [tok.token_to_id(t) for t in special] == list(range(len(special)))
    used = [t for t in single.split() if t != "$A"]
    tok.post_processor = processors.TemplateProcessing(
        single=single, pair=f"{single} $B </s>",
        special_tokens=[(t, special.index(t)) for t in dict.fromkeys([*used, "</s>"])])
    return tok


def spec_t5() -> dict:
    tok = unigram(300)
    config = transformers.T5Config(
        vocab_size=tok.get_vocab_size(), d_model=32, d_kv=8, d_ff=64, num_layers=2,
        num_decoder_layers=3, num_heads=4, relative_attention_num_buckets=8,
        relative_attention_max_distance=12, feed_forward_proj="gated-gelu",
        tie_word_embeddings=False, initializer_factor=1.0, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, attn_implementation="eager")
    return {"tokenizer": tok, "config": config, "cls": transformers.T5ForConditionalGeneration,
            "dtype": torch.float32, "seq2seq": True, "target": T5_TARGET}


SPECS["t5"] = spec_t5

# ---- the older config.json forms people have (one block: specs registered here) ----
# t5-v1_1 is the t5 fixture with the config.json of google/t5-v1_1-* and T0:
# feed_forward_proj "gated-gelu" without the dense_act_fn and is_gated_act that
# save_pretrained now writes (transformers reads gelu_new, the tanh approximation, from
# "gated-gelu"), without relative_attention_max_distance (T5Config's default, 128, applies)
# and with an untied LM head. mt5 is the same under model_type mt5 (MT5ForConditionalGeneration),
# in mt5-small's form; umt5 too, in umt5-small's form, with a bias table in every block.
# bert-decoder and roberta-decoder have is_decoder: true (BertLMHeadModel,
# RobertaForCausalLM): transformers masks them causally; their reference also holds the last
# position's logits.

OLD_T5_FORM = ("dense_act_fn", "is_gated_act", "relative_attention_max_distance")
OLD_T5_TARGET = "Das Tier war müde"  # shorter than T5_TARGET: a smaller reference


def spec_t5_v1_1() -> dict:
    spec = spec_t5()
    config = spec["config"].to_dict()
    for key in ("architectures", "transformers_version", "dtype", "model_type", "dense_act_fn",
                "is_gated_act", "scale_decoder_outputs", "tie_word_embeddings"):
        config.pop(key, None)
    config["relative_attention_max_distance"] = 128  # the default, which config.json leaves out
    config.update(d_ff=32, num_decoder_layers=2)  # smaller than t5's: a smaller file
    spec["config"] = transformers.T5Config(**config, tie_word_embeddings=False)
    return {**spec, "drop": OLD_T5_FORM, "target": OLD_T5_TARGET}


def spec_mt5() -> dict:
    spec = spec_t5_v1_1()
    config = spec["config"].to_dict()
    for key in ("architectures", "transformers_version", "dtype", "model_type", "dense_act_fn",
                "is_gated_act", "scale_decoder_outputs", "tie_word_embeddings"):
        config.pop(key, None)
    spec["config"] = transformers.MT5Config(**config, tie_word_embeddings=False)
    return {**spec, "cls": transformers.MT5ForConditionalGeneration}


def spec_bert_decoder() -> dict:
    spec = spec_bert()
    spec["config"].is_decoder = True
    return {**spec, "cls": transformers.BertLMHeadModel, "logits": True}


def spec_roberta_decoder() -> dict:
    spec = spec_roberta()
    spec["config"].is_decoder = True
    return {**spec, "cls": transformers.RobertaForCausalLM, "logits": True}


def spec_umt5() -> dict:
    # umt5-small's form (dense_act_fn and is_gated_act written out): a bias table per block
    spec = spec_mt5()
    config = spec["config"].to_dict()
    for key in ("architectures", "transformers_version", "dtype", "model_type",
                "scale_decoder_outputs", "tie_word_embeddings"):
        config.pop(key, None)
    spec["config"] = transformers.UMT5Config(**config, tie_word_embeddings=False)
    return {**spec, "cls": transformers.UMT5ForConditionalGeneration, "drop": ()}


SPECS["t5-v1_1"] = spec_t5_v1_1
SPECS["mt5"] = spec_mt5
SPECS["umt5"] = spec_umt5
SPECS["bert-decoder"] = spec_bert_decoder
SPECS["roberta-decoder"] = spec_roberta_decoder
DECODERS |= {"bert-decoder", "roberta-decoder"}

# ---- t5 with its LM head (one block: specs registered here) ----
# The reference's logits are every decoder position's, teacher-forced: row i is the
# prediction after the start token and the target's first i tokens (row 0: `--target ""`, the
# last row: `--target T5_LM_TARGET`). t5-lm is original t5 (t5-small's config.json: a relu MLP,
# tie_word_embeddings true and no scale_decoder_outputs), so transformers scales the decoder's
# output by d_model ** -0.5 before the shared embeddings. t5-v1_1-lm is t5-v1_1's form, untied:
# its own lm_head.weight (seeded, N(0, 1) as T5 initialises it) and tie_word_embeddings false,
# so transformers neither ties (the two differ in the file) nor scales.

T5_LM_TARGET = "Das Tier war"


def spec_t5_lm() -> dict:
    spec = spec_t5()
    config = spec["config"].to_dict()
    for key in ("architectures", "transformers_version", "dtype", "model_type", "dense_act_fn",
                "is_gated_act", "scale_decoder_outputs", "tie_word_embeddings"):
        config.pop(key, None)
    config.update(d_ff=32, num_decoder_layers=2, feed_forward_proj="relu")
    spec["config"] = transformers.T5Config(**config, tie_word_embeddings=True)
    return {**spec, "drop": ("scale_decoder_outputs",), "target": T5_LM_TARGET}


def spec_t5_v1_1_lm() -> dict:
    spec = spec_t5_lm()
    config = spec["config"].to_dict()
    for key in ("architectures", "transformers_version", "dtype", "model_type", "dense_act_fn",
                "is_gated_act", "scale_decoder_outputs", "tie_word_embeddings"):
        config.pop(key, None)
    config.update(feed_forward_proj="gated-gelu")
    spec["config"] = transformers.T5Config(**config, tie_word_embeddings=False)
    return {**spec, "untie": True, "set": {"tie_word_embeddings": False}}


SPECS["t5-lm"] = spec_t5_lm
SPECS["t5-v1_1-lm"] = spec_t5_v1_1_lm


# ---- bart, mbart, marian, pegasus: BART-like encoder-decoders (issue 28; one block) ----
# Each is a ...ForConditionalGeneration (its reference.npz holds every decoder position's
# logits), about 180 KB: hidden 16, 4 heads, 2 encoder and 3 decoder layers (a mix-up of the
# two counts fails), a narrow MLP, the short source SHORT and target BART_TARGET (a summary).
# The four differ where the families do: bart (post-norm, learned positions read 2 rows on,
# layernorm_embedding), mbart (pre-norm, final LayerNorms on both stacks), marian (post-norm,
# sinusoidal positions, a silu MLP) and pegasus (pre-norm, sinusoidal, final LayerNorms,
# relu). Every one scales its embeddings and has a noisy final_logits_bias (a buffer
# transformers makes zero), so that leaving either out fails. The queries are sharpened less
# than T5's (the embeddings' scale already makes rows peak): sharper ones put transformers'
# own float32 more than 1e-5 from its float64.

BART_SMALL = {"d_model": 16, "encoder_layers": 2, "decoder_layers": 3,
              "encoder_attention_heads": 4, "decoder_attention_heads": 4,
              "encoder_ffn_dim": 16, "decoder_ffn_dim": 16, "max_position_embeddings": 24,
              "init_std": INIT_RANGE, "scale_embedding": True, "attn_implementation": "eager"}
BART_TARGET = "The animal was tired"
BART_SHARPEN = (".self_attn.q_proj.weight", ".encoder_attn.q_proj.weight")


def bart_like(tok: Tokenizer, config_cls: type, cls: type, **config: object) -> dict:
    config = config_cls(vocab_size=tok.get_vocab_size(), **{**BART_SMALL, **config})
    return {"tokenizer": tok, "config": config, "cls": cls, "dtype": torch.float32,
            "seq2seq": True, "text": SHORT, "target": BART_TARGET, "sharpen": BART_SHARPEN,
            "sharpen_by": 1.6,
            "logits_bias": True}


def spec_bart() -> dict:
    # roberta's byte-level BPE and <s> $A </s>, as facebook/bart-* have it
    tok = byte_level_bpe(320, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], add_prefix_space=False)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0),
                                                      trim_offsets=True, add_prefix_space=False)
    spec = bart_like(tok, transformers.BartConfig, transformers.BartForConditionalGeneration,
                     pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)
    # not sharpened at all: its post-norm decoder's q and scores, three layers in, are the
    # most sensitive of the four to float32's rounding
    return {**spec, "sharpen_by": 1.0}


def spec_mbart() -> dict:
    # mbart-large-50's form: <s> <pad> </s> <unk>, a language code before the text
    tok = unigram(150, ("<s>", "<pad>", "</s>", "<unk>", "en_XX"), "en_XX $A </s>")
    return bart_like(tok, transformers.MBartConfig, transformers.MBartForConditionalGeneration,
                     pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)


def spec_marian() -> dict:
    # opus-mt's form: </s> first, the decoder starting from <pad>
    tok = unigram(150, ("</s>", "<unk>", "<pad>"), "$A </s>")
    return bart_like(tok, transformers.MarianConfig, transformers.MarianMTModel,
                     activation_function="swish", pad_token_id=2, eos_token_id=0,
                     decoder_start_token_id=2)


def spec_pegasus() -> dict:
    tok = unigram(150)  # <pad> </s> <unk>, $A </s>, as google/pegasus-* number them
    return bart_like(tok, transformers.PegasusConfig,
                     transformers.PegasusForConditionalGeneration, activation_function="relu",
                     pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


BART_LIKE = ("bart", "mbart", "marian", "pegasus")
SPECS.update({"bart": spec_bart, "mbart": spec_mbart, "marian": spec_marian,
              "pegasus": spec_pegasus})


# ---- encoder families and ALiBi (issue 28; one block: spec functions, then SPECS) ----
# Each is one fixture with its LM head (its reference.npz holds logits), kept under 120 KB:
# a 150-piece vocabulary, hidden 32, 2 layers, a narrow MLP.
# mpnet-mlm (MPNetForMaskedLM): RoBERTa-style positions from padding_idx 1, and the shared
# relative-position bias table, whose buckets make the bias differ along every row.

ENCODER_SMALL = {**SMALL, "intermediate_size": 32, "max_position_embeddings": 24}
SHORT = "The tired animal didn't cross the street"  # 12 to 16 tokens: longer than any window


def masked(mask: str) -> str:
    return SHORT.replace("street", mask)


def spec_mpnet_mlm() -> dict:
    tok = wordpiece(150)
    config = transformers.MPNetConfig(vocab_size=tok.get_vocab_size(), **ENCODER_SMALL,
                                      **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.MPNetForMaskedLM,
            "dtype": torch.float32, "logits": True, "text": masked("[MASK]")}


def spec_camembert_mlm() -> dict:
    # RoBERTa's architecture under its own model_type: positions from pad_token_id + 1 (the
    # WordPiece vocabulary's [PAD], id 0, keeps the vocabulary within the size budget)
    tok = wordpiece(150)
    config = transformers.CamembertConfig(
        vocab_size=tok.get_vocab_size(), type_vocab_size=1, pad_token_id=0, bos_token_id=2,
        eos_token_id=3, **ENCODER_SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.CamembertForMaskedLM,
            "dtype": torch.float32, "logits": True, "text": masked("[MASK]")}


def spec_albert_mlm() -> dict:
    # embedding_size 16, mapped up to 32; 3 layers from 2 groups of weights: layers 0 and 1
    # share group 0 (int(i / 1.5)), layer 2 runs group 1; gelu_new, ALBERT's own default
    tok = wordpiece(150)
    config = transformers.AlbertConfig(
        vocab_size=tok.get_vocab_size(), embedding_size=16, num_hidden_groups=2,
        inner_group_num=1, type_vocab_size=2, pad_token_id=0,
        **{**ENCODER_SMALL, "num_hidden_layers": 3}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.AlbertForMaskedLM,
            "dtype": torch.float32, "logits": True, "text": masked("[MASK]")}


# bloom-lm and mpt-lm: ALiBi decoders, hidden 24 with 3 heads (a head count that is not a
# power of two takes both branches of each family's slope rule); their MLPs are 4 · hidden.
# mpt-lm sets attn_config.softmax_scale 0.5 (1 / √8 would be 0.354).


def spec_bloom_lm() -> dict:
    tok = metaspace_bpe(150)
    config = transformers.BloomConfig(vocab_size=tok.get_vocab_size(), hidden_size=24,
                                      n_head=3, n_layer=2, bos_token_id=1, eos_token_id=2,
                                      **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.BloomForCausalLM,
            "dtype": torch.float32, "logits": True, "text": SHORT}


def spec_mpt_lm() -> dict:
    tok = metaspace_bpe(150)
    config = transformers.MptConfig(vocab_size=tok.get_vocab_size(), d_model=24, n_heads=3,
                                    n_layers=2, max_seq_len=32,
                                    attn_config={"softmax_scale": 0.5}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.MptForCausalLM,
            "dtype": torch.float32, "logits": True, "text": SHORT}


# modernbert-mlm (ModernBertForMaskedLM): local_attention 4 (a local layer sees 2 tokens
# each side, far fewer than the sentence's), layer 0 global and layer 1 local, each with its
# RoPE base; attention_bias on (the fused Wqkv's bias split like its weight), norms without
# bias as in the released models.


def spec_modernbert_mlm() -> dict:
    tok = wordpiece(150)
    config = transformers.ModernBertConfig(
        vocab_size=tok.get_vocab_size(), local_attention=4, global_attn_every_n_layers=2,
        attention_bias=True, pad_token_id=0, cls_token_id=2, sep_token_id=3, bos_token_id=2,
        eos_token_id=3, **ENCODER_SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.ModernBertForMaskedLM,
            "dtype": torch.float32, "logits": True, "text": masked("[MASK]")}


# deberta-v2-mlm (DebertaV2ForMaskedLM, legacy head): DeBERTa-v3's settings (no position
# vectors, share_att_key, p2c and c2p, rel_embeddings LayerNorm-ed) with position_buckets 8,
# so that distances of 5 and more fall into log buckets within the sentence.


def spec_deberta_v2_mlm() -> dict:
    tok = wordpiece(150)
    config = transformers.DebertaV2Config(
        vocab_size=tok.get_vocab_size(), relative_attention=True, pos_att_type=["p2c", "c2p"],
        position_biased_input=False, share_att_key=True, norm_rel_ebd="layer_norm",
        position_buckets=8, max_relative_positions=-1, type_vocab_size=0, pad_token_id=0,
        **ENCODER_SMALL, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.DebertaV2ForMaskedLM,
            "dtype": torch.float32, "logits": True, "text": masked("[MASK]")}


SPECS["mpnet-mlm"] = spec_mpnet_mlm
SPECS["deberta-v2-mlm"] = spec_deberta_v2_mlm
SPECS["modernbert-mlm"] = spec_modernbert_mlm
SPECS["bloom-lm"] = spec_bloom_lm
SPECS["mpt-lm"] = spec_mpt_lm
DECODERS.update({"bloom-lm", "mpt-lm"})  # their logits: the last position's
SPECS["albert-mlm"] = spec_albert_mlm
SPECS["camembert-mlm"] = spec_camembert_mlm


# RoPE scalings on modernbert (issue 28, item 4), base models (ModernBertModel) in bfloat16.
# modernbert-scaled: yarn on the local layers, dynamic on the global ones, with
# max_position_embeddings 8 so that the sentence grows the dynamic base; modernbert-longrope:
# longrope (original 8: the long factors and the factor on cos and sin) on both kinds, so
# that an older config's rope_scaling, which ModernBertConfig applies to both, reads the same.


def modernbert_scaled(sliding: dict, full: dict, **overrides: object) -> dict:
    tok = wordpiece(150)
    config = transformers.ModernBertConfig(
        vocab_size=tok.get_vocab_size(), local_attention=4, global_attn_every_n_layers=2,
        attention_bias=True, pad_token_id=0, cls_token_id=2, sep_token_id=3, bos_token_id=2,
        eos_token_id=3,
        rope_parameters={"sliding_attention": {"rope_theta": 10.0, **sliding},
                         "full_attention": {"rope_theta": 10000.0, **full}},
        **{**ENCODER_SMALL, **overrides}, **COMMON)
    return {"tokenizer": tok, "config": config, "cls": transformers.ModernBertModel,
            "dtype": torch.bfloat16}


def spec_modernbert_scaled() -> dict:
    return modernbert_scaled(YARN, DYNAMIC, max_position_embeddings=8)


def spec_modernbert_longrope() -> dict:
    return modernbert_scaled(LONGROPE, LONGROPE)


SPECS["modernbert-scaled"] = spec_modernbert_scaled
SPECS["modernbert-longrope"] = spec_modernbert_longrope


def make_seq2seq(name: str, spec: dict, dest: Path) -> dict:
    """make(), for an encoder-decoder: the source and the teacher-forced target, and the
    encoder's, the decoder's and the cross-attention's weights in float32 and float64."""
    tok: Tokenizer = spec["tokenizer"]
    torch.manual_seed(SEED)
    model = spec["cls"](spec["config"]).eval()
    noisy = add_noise(model)
    assert noisy, f"{name}: no norm weight found"
    with torch.no_grad():  # sharper attention without a hotter residual stream (see T5_SHARPEN)
        for pname, param in model.named_parameters():
            if pname.endswith(spec.get("sharpen", (".SelfAttention.q.weight",
                                                    ".EncDecAttention.q.weight"))):
                param.mul_(spec.get("sharpen_by", T5_SHARPEN))
        if spec.get("logits_bias"):  # a buffer, zero as made: noise, as on the biases
            gen = torch.Generator().manual_seed(SEED + 2)
            bias = model.final_logits_bias
            bias.copy_(NOISE * torch.randn(bias.shape, generator=gen))
        if spec.get("untie"):  # a head of its own, not the shared embeddings
            gen = torch.Generator().manual_seed(SEED + 1)
            model.lm_head.weight = torch.nn.Parameter(
                torch.randn(model.lm_head.weight.shape, generator=gen))
    model.save_pretrained(str(dest))
    (dest / "generation_config.json").unlink(missing_ok=True)
    if spec.get("drop") or spec.get("set"):  # an older config.json: the reference is what
        config = json.loads((dest / "config.json").read_text())  # transformers reads in it
        for key in spec.get("drop", ()):
            del config[key]
        config.update(spec.get("set", {}))
        (dest / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    for f in dest.glob("*.safetensors"):
        f.chmod(0o644)
    tok.save(str(dest / "tokenizer.json"))
    runtime = Tokenizer.from_file(str(dest / "tokenizer.json"))
    text = spec.get("text", TEXT)
    ids = runtime.encode(text).ids
    labels = runtime.encode(spec["target"]).ids
    start = spec["config"].decoder_start_token_id
    decoder_ids = [start, *labels[:-1]]  # transformers' _shift_right of the labels
    found: dict[str, np.ndarray] = {}
    for dtype, suffix in ((torch.float32, ""), (torch.float64, "64")):
        loaded = spec["cls"].from_pretrained(str(dest), dtype=dtype,
                                             attn_implementation="eager").eval()
        with torch.no_grad():
            result = loaded(input_ids=torch.tensor([ids]),
                            decoder_input_ids=torch.tensor([decoder_ids]),
                            output_attentions=True, output_hidden_states=True)
        keep = np.float32 if dtype == torch.float32 else np.float64
        for key, got in (("attentions", result.encoder_attentions),
                         ("decoder_attentions", result.decoder_attentions),
                         ("cross_attentions", result.cross_attentions)):
            found[key + suffix] = np.ascontiguousarray(
                torch.stack([a[0] for a in got]).numpy(), dtype=keep)
        if dtype == torch.float32:
            found["logits"] = np.ascontiguousarray(result.logits[0].numpy(), dtype=np.float32)
            layers = len(result.encoder_attentions)
            found["hidden_in"] = np.ascontiguousarray(torch.stack(
                [h[0] for h in result.encoder_hidden_states[:layers]]).numpy(), dtype=np.float32)
    save_npz(dest / "reference.npz", {
        "text": np.array(text), "target": np.array(spec["target"]),
        "input_ids": np.asarray(ids, dtype=np.int64),
        "decoder_input_ids": np.asarray(decoder_ids, dtype=np.int64), **found})
    check(name, dest, ids, found["attentions"], dtype=spec["dtype"], text=text)
    cross = found["cross_attentions"]
    assert cross.shape[-2:] == (len(decoder_ids), len(ids)), cross.shape
    assert (np.triu(found["decoder_attentions"], k=1) == 0).all(), f"{name}: not causal"
    if name in PIN_FIXTURES:
        make_pins(name, dest)
    return {"vocab": tok.get_vocab_size(), "n": len(ids), "shape": found["attentions"].shape,
            "peaked": float((cross.max(-1) > 0.5).mean()), "noisy": len(noisy)}


# ---- noise -------------------------------------------------------------------------------


def is_norm(module: torch.nn.Module) -> bool:
    """LayerNorm, or any of the RMSNorms (LlamaRMSNorm, Qwen2RMSNorm, MistralRMSNorm, and T5's
    own, T5LayerNorm)."""
    return (isinstance(module, torch.nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")
            or type(module).__name__ in ("T5LayerNorm", "MT5LayerNorm", "UMT5LayerNorm",
                                         "CohereLayerNorm"))


def add_noise(model: torch.nn.Module) -> list[str]:
    """Seeded noise on every bias (N(0, NOISE)) and every norm weight (1 + N(0, NOISE)).

    Returns the parameter names it changed. The generator is seeded afresh for each model and
    the parameters are visited in their fixed named_parameters() order: deterministic.
    """
    gen = torch.Generator().manual_seed(SEED)
    norm_weights = {id(m.weight) for m in model.modules()
                    if is_norm(m) and getattr(m, "weight", None) is not None}
    changed = []
    with torch.no_grad():
        for pname, param in model.named_parameters():
            if pname.endswith("bias") or id(param) in norm_weights:
                centre = 0.0 if pname.endswith("bias") else 1.0
                param.copy_(centre + NOISE * torch.randn(param.shape, generator=gen))
                changed.append(pname)
    return changed


def is_bias(tensor: str) -> bool:
    """A bias by its checkpoint name (LayerNorm's too)."""
    return tensor.endswith(".bias")


def is_norm_weight(tensor: str) -> bool:
    """A LayerNorm/RMSNorm weight by its checkpoint name (LayerNorm, layer_norm, ln_1, norm)."""
    return tensor.endswith(".weight") and (
        "norm" in tensor.lower() or tensor.split(".")[-2].startswith("ln_"))


# ---- writing -----------------------------------------------------------------------------


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez, but with fixed zip timestamps so that equal arrays give equal bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def make(name: str, out: Path) -> dict:
    torch.manual_seed(SEED)
    spec = SPECS[name]()
    tok: Tokenizer = spec["tokenizer"]
    config = spec["config"]
    dest = out / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if spec.get("seq2seq"):
        return make_seq2seq(name, spec, dest)

    torch.manual_seed(SEED)
    model = spec["cls"](config).eval()
    noisy = add_noise(model)  # in float32, before the cast to the stored dtype
    assert noisy, f"{name}: no bias or norm weight found"
    if "tweak" in spec:  # a spec's change after the noise (sharper scores, say)
        spec["tweak"](model)
    model = model.to(spec["dtype"])
    # config.json (with its dtype) + model.safetensors, or for gpt2 (about 150 KB of float32)
    # model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json: layer 0 and the
    # embeddings in the first shard, layer 1 and ln_f in the second.
    model.save_pretrained(str(dest), max_shard_size=spec.get("max_shard_size", "50GB"))
    (dest / "generation_config.json").unlink(missing_ok=True)  # not needed, if written
    if "max_shard_size" in spec:
        index = json.loads((dest / "model.safetensors.index.json").read_text())
        assert sorted(set(index["weight_map"].values())) == [
            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], index
    for f in dest.glob("*.safetensors"):
        f.chmod(0o644)  # safetensors writes 0600
    tok.save(str(dest / "tokenizer.json"))

    # The ids: that file's tokenizer, with padding and truncation off, special tokens on.
    runtime = Tokenizer.from_file(str(dest / "tokenizer.json"))
    runtime.no_padding()
    runtime.no_truncation()
    text = spec.get("text", TEXT)  # a masked LM's sentence has a mask token in it
    ids = runtime.encode(text).ids

    # The reference: the weights read back from the files just written, in float32.
    loaded = spec["cls"].from_pretrained(str(dest), dtype=torch.float32,
                                         attn_implementation="eager",
                                         **spec.get("load", {})).eval()
    with torch.no_grad():
        input_ids = torch.tensor([ids], dtype=torch.long)
        result = loaded(input_ids=input_ids, output_attentions=True, output_hidden_states=True)
    attentions = torch.stack([a[0] for a in result.attentions]).to(torch.float32).numpy()
    n_layers = len(result.attentions)
    hidden_in = torch.stack([h[0] for h in result.hidden_states[:n_layers]]).numpy()

    # and the same stored weights run in float64 from the start, for `attn --float64`
    loaded64 = spec["cls"].from_pretrained(str(dest), dtype=torch.float64,
                                           attn_implementation="eager",
                                           **spec.get("load", {})).eval()
    with torch.no_grad():
        result64 = loaded64(input_ids=input_ids, output_attentions=True)
    attentions64 = torch.stack([a[0] for a in result64.attentions]).numpy()

    extra = {}
    if spec.get("logits"):  # the LM head's output: a decoder's last position, or every one
        logits = result.logits[0].to(torch.float32).numpy()  # (n, vocab)
        extra["logits"] = np.ascontiguousarray(
            logits[-1] if name in DECODERS else logits, dtype=np.float32)
    if spec.get("routes"):  # a mixture of experts: each sparse layer's router logits
        with torch.no_grad():
            routed = loaded(input_ids=input_ids, output_router_logits=True).router_logits
        extra["router_logits"] = np.ascontiguousarray(torch.stack(
            [r.reshape(len(ids), -1) for r in routed]).to(torch.float32).numpy())
    save_npz(dest / "reference.npz", {
        "text": np.array(text),
        "input_ids": np.asarray(ids, dtype=np.int64),
        "attentions": np.ascontiguousarray(attentions, dtype=np.float32),
        "attentions64": np.ascontiguousarray(attentions64, dtype=np.float64),
        "hidden_in": np.ascontiguousarray(hidden_in, dtype=np.float32),
        **extra,
    })
    check(name, dest, ids, attentions, dtype=spec["dtype"], text=text)
    if name in PIN_FIXTURES:
        make_pins(name, dest)
    return {"vocab": tok.get_vocab_size(), "n": len(ids), "shape": attentions.shape,
            "peaked": float((attentions.max(-1) > 0.5).mean()), "noisy": len(noisy)}


def check(name: str, dest: Path, ids: list[int], att: np.ndarray, dtype: torch.dtype,
          text: str = TEXT) -> None:
    """What the fixtures promise; fail loudly rather than commit a bad one."""
    config = json.loads((dest / "config.json").read_text())
    # a variant fixture (RoPE scaling, GPT-2 layer scale) is named after its family: llama-yarn
    family = name.split("-")[0] if name.startswith(
        ("llama-", "phi3-", "gpt2-", "qwen2-", "bert-", "roberta-", "olmo2-", "gemma2-", "t5-",
         "falcon-", "gpt_neox-", "gemma3_text-", "modernbert-")) \
        else name
    if name.endswith(("-lm", "-mlm")):  # a family's fixture with its LM head
        family = name.rsplit("-", 1)[0].removesuffix("-v1_1")
    assert config["model_type"] == family, config["model_type"]
    assert np.allclose(att.sum(-1), 1.0, atol=1e-5), f"{name}: rows do not sum to 1"
    if name in DECODERS:
        assert (np.triu(att, k=1) == 0).all(), f"{name}: not causal"
    peaked = float((att.max(-1) > 0.5).mean())
    assert peaked > 0.3, f"{name}: attention too uniform ({peaked:.2f} rows peak above 0.5)"
    files = sorted(p.name for p in dest.glob("*.safetensors"))
    noisy = []
    for fname in files:
        with safe_open(str(dest / fname), framework="pt") as f:
            for key in f.keys():
                t = f.get_tensor(key)
                assert t.dtype == dtype, f"{name}: {key} is {t.dtype}, not {dtype}"
                if is_bias(key) or is_norm_weight(key):
                    centre = 0.0 if is_bias(key) else 1.0
                    spread = float((t.float() - centre).std()) if t.numel() > 1 else 1.0
                    assert not bool((t == centre).all()) and spread > NOISE / 2, (
                        f"{name}: {key} has no noise")
                    noisy.append(key)
    assert any(is_norm_weight(k) for k in noisy) or name == "olmo", (  # olmo's norms: none
        f"{name}: no norm weight found")
    if name == "llama":  # attention_bias=True: q, k, v and o biases in every layer
        assert sum(".self_attn." in k and k.endswith(".bias") for k in noisy) == 2 * 4, noisy
    if name == "qwen2":  # q, k and v biases, no o bias
        assert sum(".self_attn." in k and k.endswith(".bias") for k in noisy) == 2 * 3, noisy
    # A sliding window must change the reference: the sentence is longer than twice the window,
    # a sliding layer gives exactly 0 to keys WINDOW or more back, a full layer does not.
    if name in ("mistral", "qwen2"):
        assert config["sliding_window"] == WINDOW and len(ids) > 2 * WINDOW, (name, len(ids))
        types = config.get("layer_types") or ["sliding_attention"] * att.shape[0]
        assert "sliding_attention" in types, types
        for layer, kind in enumerate(types):
            far = np.tril(np.ones(att.shape[-2:], dtype=bool), k=-WINDOW)
            if kind == "sliding_attention":
                assert (att[layer][:, far] == 0).all(), f"{name}: layer {layer} does not slide"
            else:
                assert (att[layer][:, far] > 0).all(), f"{name}: layer {layer} slides"
    with np.load(dest / "reference.npz", allow_pickle=False) as npz:
        assert npz["input_ids"].tolist() == ids and str(npz["text"]) == text


# The modules the norm-based reference reads, per model_type: the value projection (its
# output is x W_V + b_V, every key/value head side by side) and the output projection W_O.
NORM_MODULES = {
    "bert": ("encoder.layer.{i}.attention.self.value", "encoder.layer.{i}.attention.output.dense"),
    "llama": ("layers.{i}.self_attn.v_proj", "layers.{i}.self_attn.o_proj"),
    "mistral": ("layers.{i}.self_attn.v_proj", "layers.{i}.self_attn.o_proj"),
}
NORM_FIXTURES = ("bert", "llama", "mistral")  # an encoder, a GQA decoder, a sliding one


def make_norms(name: str, dest: Path) -> dict:
    """Write <dest>/norms.npz for an existing fixture: ‖α_ij f(x_j)‖ for every layer, head,
    query i and key j (Kobayashi et al. 2020), with f(x_j) = (x_j W_V + b_V) W_O^h, W_O^h the
    rows of W_O (columns of the Linear's weight) that take query head h's output. Worked out
    from transformers' own numbers: the value projection's output caught by a forward hook,
    the output projection's weight as loaded, the attentions from output_attentions; in
    float32. With grouped-query attention query head h reads key/value head
    h // (heads / kv_heads). Only reads the fixture's files; writes only norms.npz."""
    config = json.loads((dest / "config.json").read_text())
    value_name, out_name = NORM_MODULES[config["model_type"]]
    with np.load(dest / "reference.npz", allow_pickle=False) as npz:
        ids = npz["input_ids"].tolist()
    model = transformers.AutoModel.from_pretrained(str(dest), dtype=torch.float32,
                                                   attn_implementation="eager").eval()
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    layers = config["num_hidden_layers"]
    values: dict[int, torch.Tensor] = {}
    hooks = []
    for i in range(layers):
        module = model.get_submodule(value_name.format(i=i))
        hooks.append(module.register_forward_hook(
            lambda _m, _inp, out, i=i: values.__setitem__(i, out[0].detach())))
    with torch.no_grad():
        result = model(input_ids=torch.tensor([ids], dtype=torch.long), output_attentions=True)
    for hook in hooks:
        hook.remove()
    n = len(ids)
    norms = np.zeros((layers, heads, n, n), dtype=np.float32)
    value_norms = np.zeros((layers, heads, n), dtype=np.float32)
    with torch.no_grad():
        for i in range(layers):
            w_o = model.get_submodule(out_name.format(i=i)).weight  # (d_model, heads * head_dim)
            att = result.attentions[i][0]  # (heads, n, n)
            for h in range(heads):
                kv = h // (heads // kv_heads)
                v = values[i][:, kv * head_dim:(kv + 1) * head_dim]  # (n, head_dim)
                f = v @ w_o[:, h * head_dim:(h + 1) * head_dim].T  # (n, d_model)
                # ‖α_ij f(x_j)‖ for every pair, the product itself, not α_ij ‖f(x_j)‖
                weighted = att[h][:, :, None] * f[None, :, :]  # (n, n, d_model)
                norms[i, h] = torch.linalg.vector_norm(weighted, dim=-1).numpy()
                value_norms[i, h] = torch.linalg.vector_norm(f, dim=-1).numpy()
    save_npz(dest / "norms.npz", {"input_ids": np.asarray(ids, dtype=np.int64),
                                  "norms": norms, "value_norms": value_norms})
    return {"shape": norms.shape, "kv_heads": kv_heads}
# ---- roles.npz: head role scores from transformers' own attentions ----------------------
# For a few fixtures (an encoder, GQA decoders, sliding windows, T5's encoder) `--roles`
# writes <name>/roles.npz beside reference.npz: attncli's head role scores (README, "What each
# head does"), worked out here by plain loops over the definitions from the attentions that
# transformers computes in float64 for TEXT and for ROLE_REPEAT (whose repeated tokens give
# the duplicate-token score something to measure). It reads the fixture already written and
# rewrites nothing else. tests/test_roles_parity.py compares attncli's scores with them.

ROLE_FIXTURES = ("bert", "llama", "qwen2", "mistral", "t5")
ROLE_NAMES = ("previous", "next", "self", "first", "sep", "punct", "duplicate", "offset",
              "broad")
ROLE_REPEAT = "the cat saw the dog, and the dog saw the cat."


def role_scores_by_loops(att: list[list[float]], visible: list[list[bool]],
                         special: list[bool], punct: list[bool], ids: list[int]
                         ) -> tuple[list[float], int]:
    """The role scores of one head (ROLE_NAMES' order, NaN where undefined) and its best
    offset k (0 where none), straight from the definitions, one row at a time."""
    n = len(att)
    choice = [sum(visible[i]) >= 2 for i in range(n)]

    def mean(values: list[float]) -> float:
        return min(1.0, max(0.0, sum(values) / len(values))) if values else math.nan

    def on(keys: list[int]) -> float:
        if not keys:
            return math.nan
        return mean([sum(att[i][j] for j in keys if visible[i][j]) for i in range(n)
                     if choice[i] and any(visible[i][j] for j in keys)])

    previous = mean([att[i][i - 1] for i in range(1, n) if choice[i] and visible[i][i - 1]])
    following = mean([att[i][i + 1] for i in range(n - 1) if choice[i] and visible[i][i + 1]])
    itself = mean([att[i][i] for i in range(n) if choice[i]])
    first = on([0])
    sep = on([j for j in range(1, n) if special[j]])
    punctuation = on([j for j in range(n) if punct[j]])
    copies = []
    for i in range(n):
        earlier = [j for j in range(i) if ids[j] == ids[i] and visible[i][j]
                   and not special[i] and not special[j]]
        if choice[i] and earlier:
            copies.append(sum(att[i][j] for j in earlier))
    duplicate = mean(copies)
    rows = sum(choice)
    best_k, best = 0, math.nan
    for k in sorted(range(-(n - 1), n), key=lambda k: (abs(k), 0 if k < 0 else 1)):
        seen = [i for i in range(n) if k != 0 and choice[i] and 0 <= i + k < n
                and visible[i][i + k]]
        if k == 0 or 2 * len(seen) < rows or not seen:
            continue
        score = mean([att[i][i + k] for i in seen])
        if math.isnan(best) or score > best:
            best_k, best = k, score
    spread = []
    for i in range(n):
        if choice[i]:
            keys = [j for j in range(n) if visible[i][j]]
            entropy = -sum(att[i][j] * math.log(att[i][j]) for j in keys if att[i][j] > 0)
            spread.append(entropy / math.log(len(keys)))
    return [previous, following, itself, first, sep, punctuation, duplicate, best,
            mean(spread)], best_k


def make_roles(name: str, out: Path) -> None:
    """Write out/<name>/roles.npz (see ROLE_FIXTURES) from the fixture already in out/<name>."""
    import unicodedata

    dest = out / name
    config = json.loads((dest / "config.json").read_text())
    runtime = Tokenizer.from_file(str(dest / "tokenizer.json"))
    runtime.no_padding()
    runtime.no_truncation()
    cls = (transformers.T5ForConditionalGeneration if name == "t5"
           else transformers.AutoModel)
    model = cls.from_pretrained(str(dest), dtype=torch.float64,
                                attn_implementation="eager").eval()
    causal = name in DECODERS
    window = config.get("sliding_window") if config.get("use_sliding_window", True) else None
    types = config.get("layer_types") or (["sliding_attention"] * config["num_hidden_layers"]
                                          if window else None)
    texts, scores, offsets, token_ids = [TEXT, ROLE_REPEAT], [], [], []
    for text in texts:
        enc = runtime.encode(text)
        ids = enc.ids
        special = [bool(m) for m in enc.special_tokens_mask]
        punct = []
        for (start, end), is_special in zip(enc.offsets, special, strict=True):
            body = text[start:end].strip()
            punct.append(not is_special and bool(body) and all(
                unicodedata.category(ch).startswith("P") for ch in body))
        with torch.no_grad():
            run = model.get_encoder() if name == "t5" else model
            got = run(input_ids=torch.tensor([ids]), output_attentions=True).attentions
        att = torch.stack([a[0] for a in got]).numpy()  # (layers, heads, n, n)
        n = len(ids)
        per_text, k_text = [], []
        for layer in range(att.shape[0]):
            slides = window is not None and types is not None \
                and types[layer] == "sliding_attention"
            visible = [[(not causal or j <= i) and (not slides or abs(i - j) < window)
                        for j in range(n)] for i in range(n)]
            heads = [role_scores_by_loops(att[layer, h].tolist(), visible, special, punct, ids)
                     for h in range(att.shape[1])]
            per_text.append([s for s, _ in heads])
            k_text.append([k for _, k in heads])
        scores.append(per_text)
        offsets.append(k_text)
        token_ids.append(ids)
    save_npz(dest / "roles.npz", {
        "texts": np.array(texts), "roles": np.array(ROLE_NAMES),
        "scores": np.asarray(scores, dtype=np.float64),  # (texts, layers, heads, roles)
        "offset_k": np.asarray(offsets, dtype=np.int64),  # (texts, layers, heads)
        **{f"input_ids_{t}": np.asarray(ids, dtype=np.int64)
           for t, ids in enumerate(token_ids)}})
    print(f"{name:10s} roles.npz  {len(texts)} texts  scores "
          f"{np.asarray(scores).shape}")


# ---- pins: what the screens show, as transformers computes it ----------------------------
# Every family's attention module (transformers 5.24) hands its heads to a module-level
# eager_attention_forward(module, query, key, value, attention_mask, scaling=..., ...), which
# runs query @ key^T (torch.matmul), times scaling, (gemma2) softcap * tanh(. / softcap),
# (t5, mt5, umt5) + position_bias, + attention_mask, then softmax, then weights @ value. The
# capture swaps that function, in every loaded modeling module, for one that records its
# arguments and, while it runs, what torch.matmul returns and what softmax is given: the
# numbers transformers itself computed, not a second computation of them.

PIN_FIXTURES = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "gpt2",
                "gpt2-layer-scale", "opt", "gpt_neox", "llama", "llama-linear", "llama-dynamic",
                "llama-yarn", "llama-llama3", "mistral", "qwen2", "qwen3", "phi3",
                "phi3-longrope", "phi3-longrope-short", "olmo2", "gemma", "gemma2",
                "gemma3_text", "t5", "mt5", "umt5")
# issue 28's decoders (gpt_neo computes its attention without eager_attention_forward)
PIN_FIXTURES += ("phi", "gptj", "gpt_bigcode", "starcoder2", "olmo")
# i28-more; falcon computes its attention without eager_attention_forward (as gpt_neo)
PIN_FIXTURES += tuple(k for k in MORE_DECODERS if not k.startswith("falcon"))
PIN_FIXTURES += BART_LIKE


class Capture:
    """While active, every eager_attention_forward call is recorded in self.calls."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.originals: dict = {}

    def __enter__(self) -> Capture:
        for mod_name, mod in list(sys.modules.items()):
            if mod_name.startswith("transformers.models.") and hasattr(
                    mod, "eager_attention_forward"):
                self.originals[mod] = mod.eager_attention_forward
                mod.eager_attention_forward = self.wrap(mod.eager_attention_forward)
        return self

    def __exit__(self, *exc: object) -> None:
        for mod, original in self.originals.items():
            mod.eager_attention_forward = original

    def wrap(self, original):
        def eager(module, query, key, value, attention_mask, *args, **kwargs):
            matmuls: list[torch.Tensor] = []
            softmax_in: list[torch.Tensor] = []
            matmul, softmax = torch.matmul, torch.nn.functional.softmax

            def seen_matmul(a, b, *rest, **kw):
                out = matmul(a, b, *rest, **kw)
                matmuls.append(out)
                return out

            def seen_softmax(x, *rest, **kw):
                softmax_in.append(x)
                return softmax(x, *rest, **kw)

            torch.matmul, torch.nn.functional.softmax = seen_matmul, seen_softmax
            try:
                out = original(module, query, key, value, attention_mask, *args, **kwargs)
            finally:
                torch.matmul, torch.nn.functional.softmax = matmul, softmax
            # q @ k^T, then weights @ v; one softmax: nothing else may hide in between
            assert len(matmuls) == 2 and len(softmax_in) == 1, (len(matmuls), len(softmax_in))
            self.calls.append({"module": module, "q": query, "k": key, "v": value,
                               "scores": matmuls[0], "logits": softmax_in[0],
                               "weights": out[1], "scaling": kwargs["scaling"],
                               "position_bias": kwargs.get("position_bias")})
            return out
        return eager


def pin_stack(module_name: str) -> str:
    """The prefix of a call's arrays in pins.npz: "" (encoder or decoder-only self-attention),
    "decoder_" (an encoder-decoder's decoder self-attention) or "cross_"."""
    if ".EncDecAttention" in module_name or ".encoder_attn" in module_name:  # t5, bart
        return "cross_"
    return "decoder_" if module_name.startswith("decoder.block.") or \
        "decoder.layers." in module_name else ""


def make_pins(name: str, dest: Path) -> dict:
    """Write <dest>/pins.npz for an existing fixture: per layer, transformers' q, k, v, scores
    and logits, for reference.npz's input_ids (and decoder_input_ids), in float32.

    q (L, H, n, d): the query heads as eager_attention_forward receives them: projected, with
    their bias, q-norm and RoPE (opt: also times head_dim^-0.5, which opt applies to the query
    and then passes scaling 1.0). k, v (L, KV, m, d): the key and value heads, after RoPE, before
    repeat_kv (KV < H with grouped-query attention: query head h reads h // (H / KV)).
    scores (L, H, n, m): query @ key^T, before the scaling. scaling (L,) float64: the factor
    transformers then multiplies by. logits (L, H, n, m): the softmax's input, i.e. scores ×
    scaling, then gemma2's softcap, then t5's position_bias, then the attention mask (hidden keys
    get float32's lowest, -3.4e38). position_bias (L, H, n, m), t5, mt5, umt5 self-attention only.
    Only reads the fixture's files; writes only pins.npz."""
    config = json.loads((dest / "config.json").read_text())
    cls = getattr(transformers, config["architectures"][0])
    model = cls.from_pretrained(str(dest), dtype=torch.float32,
                                attn_implementation="eager").eval()
    with np.load(dest / "reference.npz", allow_pickle=False) as npz:
        ref = {key: npz[key] for key in npz.files}
    inputs = {"input_ids": torch.tensor([ref["input_ids"].tolist()], dtype=torch.long)}
    if "decoder_input_ids" in ref:
        inputs["decoder_input_ids"] = torch.tensor([ref["decoder_input_ids"].tolist()],
                                                   dtype=torch.long)
    with Capture() as capture, torch.no_grad():
        model(**inputs, output_attentions=True)
    names = {id(m): n for n, m in model.named_modules()}
    stacks: dict[str, list[dict]] = {}
    for call in capture.calls:
        stacks.setdefault(pin_stack(names[id(call["module"])]), []).append(call)
    attentions = {"": "attentions", "decoder_": "decoder_attentions",
                  "cross_": "cross_attentions"}
    pins: dict[str, np.ndarray] = {"input_ids": ref["input_ids"]}
    if "decoder_input_ids" in ref:
        pins["decoder_input_ids"] = ref["decoder_input_ids"]
    for prefix, calls in stacks.items():
        expected = ref[attentions[prefix]]
        assert len(calls) == len(expected), (name, prefix, len(calls), len(expected))

        def stacked(key: str, calls: list[dict] = calls) -> np.ndarray:
            return np.ascontiguousarray(
                torch.stack([c[key][0] for c in calls]).numpy(), dtype=np.float32)

        weights = stacked("weights")
        # the calls are the forward pass that gave the reference: the same weights, bit for bit
        assert np.array_equal(weights, expected), f"{name}: {prefix}weights differ"
        logits = stacked("logits")
        assert np.array_equal(torch.softmax(torch.from_numpy(logits), -1).numpy(), weights)
        for key in ("q", "k", "v", "scores"):
            pins[prefix + key] = stacked(key)
        pins[prefix + "scaling"] = np.array([c["scaling"] for c in calls], dtype=np.float64)
        pins[prefix + "logits"] = logits
        if prefix != "cross_" and calls[0]["position_bias"] is not None:
            pins[prefix + "position_bias"] = stacked("position_bias")
    save_npz(dest / "pins.npz", pins)
    return {"stacks": sorted(stacks), "q": pins["q"].shape, "k": pins["k"].shape,
            "bytes": (dest / "pins.npz").stat().st_size}


# ---- generate: transformers' greedy generation with its cache (issue 25) ----------------
# (what each key holds: make_generate's docstring)

GENERATE_FIXTURES = ("gpt2-lm", "llama-lm", "qwen2-lm", "gemma2-lm", "phi3-lm")
GENERATE_PROMPT = "The animal didn't cross the street because it was tired, and the dog"
GENERATE_STEPS = 20


def make_generate(name: str, src: Path, dest: Path) -> dict:
    """Write dest/<name>.npz, transformers' greedy generation, from the fixture in src (one
    of GENERATE_FIXTURES): the weights loaded in float32, eager attention,
    model.generate(prompt_ids, do_sample=False, max_new_tokens=20, use_cache=True) with EOS
    switched off (eos_token_id None), so exactly 20 tokens come out whatever they are; `eos`
    holds the config's EOS ids, so a test can see whether one of them was generated (and
    where a generator that stops at EOS would have stopped: `stop`, the index of the first
    EOS among ids, or 20 if none). Keys:
        prompt      str, GENERATE_PROMPT
        prompt_ids  int64 (n,), what the fixture's tokenizer.json gives the prompt (padding
                    and truncation off, special tokens on)
        ids         int64 (20,), the new token ids, in order
        scores      float32 (20, vocab), each step's logits (output_logits: raw, before any
                    logits processor; gemma2's final soft-cap is inside the model, so applied)
        eos         int64 (e,), the EOS ids of config.json;  stop: int64 scalar, as above
    The prompt is longer than twice every sliding window (4), so the steps attend past it.
    """
    config = json.loads((src / "config.json").read_text())
    cls = getattr(transformers, config["architectures"][0])
    model = cls.from_pretrained(str(src), dtype=torch.float32,
                                attn_implementation="eager").eval()
    runtime = Tokenizer.from_file(str(src / "tokenizer.json"))
    runtime.no_padding()
    runtime.no_truncation()
    prompt_ids = runtime.encode(GENERATE_PROMPT).ids
    window = config.get("sliding_window")
    assert window is None or len(prompt_ids) > 2 * window, (name, len(prompt_ids))
    assert len(prompt_ids) + GENERATE_STEPS <= config.get(
        "max_position_embeddings", config.get("n_positions", 0)), name
    eos = config.get("eos_token_id")
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    gen = transformers.GenerationConfig(
        do_sample=False, max_new_tokens=GENERATE_STEPS, min_new_tokens=0, use_cache=True,
        eos_token_id=None, pad_token_id=eos[0] if eos else 0, num_beams=1,
        output_logits=True, return_dict_in_generate=True)
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt_ids]), generation_config=gen)
    ids = out.sequences[0, len(prompt_ids):].numpy().astype(np.int64)
    scores = torch.stack([s[0] for s in out.logits]).numpy().astype(np.float32)
    assert ids.shape == (GENERATE_STEPS,), (name, ids.shape)
    assert (scores.argmax(-1) == ids).all(), f"{name}: not greedy"
    # the cache changes no number that matters: one full pass over the whole sequence
    with torch.no_grad():
        full = model(out.sequences).logits[0, len(prompt_ids) - 1:-1].numpy()
    assert np.abs(full - scores).max() < 1e-4, (name, np.abs(full - scores).max())
    stop = next((t for t, i in enumerate(ids.tolist()) if i in eos), GENERATE_STEPS)
    dest.mkdir(parents=True, exist_ok=True)
    save_npz(dest / f"{name}.npz", {
        "prompt": np.array(GENERATE_PROMPT),
        "prompt_ids": np.asarray(prompt_ids, dtype=np.int64), "ids": ids,
        "scores": np.ascontiguousarray(scores), "eos": np.asarray(eos, dtype=np.int64),
        "stop": np.int64(stop)})
    return {"n": len(prompt_ids), "stop": stop, "ids": ids.tolist(),
            "cached_vs_full": float(np.abs(full - scores).max()),
            "bytes": (dest / f"{name}.npz").stat().st_size}


# ---- effects: heads knocked out and patched, by transformers (issue 24) ------------------
# (what each key holds: make_effects's docstring)

EFFECT_FIXTURES = ("gpt2-lm", "llama-lm", "qwen2-lm", "gemma2-lm", "bert-mlm")
EFFECT_PATCHED = ("gpt2-lm", "llama-lm")
EFFECT_TEXT = "The animal didn't cross the street because it was"
EFFECT_CORRUPT = "The street didn't cross the animal because it was"
EFFECT_MASKED = "The animal didn't cross the street because [MASK] was tired"
EFFECT_OUT = {"gpt2": "h.{i}.attn.c_proj", "llama": "layers.{i}.self_attn.o_proj",
              "qwen2": "layers.{i}.self_attn.o_proj", "gemma2": "layers.{i}.self_attn.o_proj",
              "bert": "encoder.layer.{i}.attention.output.dense"}


def make_effects(name: str, src: Path, dest: Path) -> dict:
    """Write dest/<name>.npz, transformers' logits with heads knocked out or patched, from the
    fixture in src (one of EFFECT_FIXTURES), loaded in float32 with eager attention. A head
    is changed by a forward pre-hook on its layer's attention output projection (gpt2
    attn.c_proj; llama, qwen2 and gemma2 self_attn.o_proj; bert attention.output.dense), which
    rewrites that head's slice of the projection's input, columns h*head_dim:(h+1)*head_dim
    (the heads' outputs side by side, before W_O and its bias), at every position, in that
    one layer only. Keys:
        text         str: a decoder's text (its next token is predicted at the last position)
                     or, for bert-mlm, a text with [MASK] (predicted at the mask)
        ids          int64 (n,): what the fixture's tokenizer.json gives text
        position     int64 scalar: the predicting position (n - 1, or the mask's index)
        heads        int64 (k, 2): every (layer, head) of the model, layer-major, k = L * H
        clean        float32 (vocab,): the logits at position, nothing changed
        ablated      float32 (k, vocab): the logits at position with heads[j]'s slice zeroed
        pair         int64 (2, 2): two heads in different layers;  pair_ablated float32
                     (vocab,): the logits with both slices zeroed in the same run
        mean_ablated float32 (k, vocab): heads[j]'s slice replaced, at every position, by its
                     mean over the text's positions in that same run (the clean run's mean: the
                     layers below are unchanged)
      gpt2-lm and llama-lm also (activation patching):
        corrupt      str, corrupt_ids int64 (n,): another text of the same token count
        corrupt_logits float32 (vocab,): the corrupted text's logits at position
        patched      float32 (k, vocab): the corrupted text's run with heads[j]'s slice
                     replaced by the clean run's slice (same layer, every position)
    The logits are the model's output (gemma2's final soft-cap applied). llama-lm has grouped
    query heads (4 query heads on 2 key/value heads): the slice is a query head's.
    """
    config = json.loads((src / "config.json").read_text())
    cls = getattr(transformers, config["architectures"][0])
    model = cls.from_pretrained(str(src), dtype=torch.float32,
                                attn_implementation="eager").eval()
    n_layers = config.get("num_hidden_layers", config.get("n_layer"))
    n_heads = config.get("num_attention_heads", config.get("n_head"))
    width = config.get("hidden_size", config.get("n_embd"))
    head_dim = config.get("head_dim") or width // n_heads
    if name == "llama-lm":
        assert config["num_key_value_heads"] < n_heads, "llama-lm must have grouped queries"
    outs = [model.base_model.get_submodule(EFFECT_OUT[config["model_type"]].format(i=i))
            for i in range(n_layers)]
    runtime = Tokenizer.from_file(str(src / "tokenizer.json"))
    runtime.no_padding()
    runtime.no_truncation()
    masked = config["model_type"] == "bert"
    text = EFFECT_MASKED if masked else EFFECT_TEXT
    ids = runtime.encode(text).ids
    position = ids.index(runtime.token_to_id("[MASK]")) if masked else len(ids) - 1

    def run(run_ids: list[int], edits: dict[int, object] | None = None,
            seen: dict[int, torch.Tensor] | None = None) -> np.ndarray:
        """The logits at position; edits[layer](x) rewrites that layer's W_O input x
        (1, n, H * hd) in place; seen[layer] gets a copy of it as it was."""
        hooks = []
        for layer, module in enumerate(outs):
            def pre(_module, args, layer=layer):
                x = args[0]
                if seen is not None:
                    seen[layer] = x.detach().clone()
                if edits and layer in edits:
                    x = x.clone()
                    edits[layer](x)
                    return (x, *args[1:])
                return None
            hooks.append(module.register_forward_pre_hook(pre))
        try:
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([run_ids])).logits[0, position]
        finally:
            for hook in hooks:
                hook.remove()
        return logits.numpy().astype(np.float32)

    def cols(head: int) -> slice:
        return slice(head * head_dim, (head + 1) * head_dim)

    def zero(head: int):
        def edit(x: torch.Tensor) -> None:
            x[..., cols(head)] = 0
        return edit

    def mean(head: int):
        def edit(x: torch.Tensor) -> None:
            x[..., cols(head)] = x[..., cols(head)].mean(dim=1, keepdim=True)
        return edit

    heads = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    clean_in: dict[int, torch.Tensor] = {}
    clean = run(ids, seen=clean_in)
    assert np.array_equal(run(ids, {}), clean)
    pair = [(0, 1), (n_layers - 1, 2)]
    found = {
        "text": np.array(text), "ids": np.asarray(ids, dtype=np.int64),
        "position": np.int64(position), "heads": np.asarray(heads, dtype=np.int64),
        "clean": clean,
        "ablated": np.stack([run(ids, {layer: zero(head)}) for layer, head in heads]),
        "pair": np.asarray(pair, dtype=np.int64),
        "pair_ablated": run(ids, {layer: zero(head) for layer, head in pair}),
        "mean_ablated": np.stack([run(ids, {layer: mean(head)}) for layer, head in heads]),
    }
    if name in EFFECT_PATCHED:
        corrupt_ids = runtime.encode(EFFECT_CORRUPT).ids
        assert len(corrupt_ids) == len(ids) and corrupt_ids != ids, (ids, corrupt_ids)

        def patch(layer: int, head: int):
            def edit(x: torch.Tensor) -> None:
                x[..., cols(head)] = clean_in[layer][..., cols(head)]
            return edit

        found.update({
            "corrupt": np.array(EFFECT_CORRUPT),
            "corrupt_ids": np.asarray(corrupt_ids, dtype=np.int64),
            "corrupt_logits": run(corrupt_ids),
            "patched": np.stack([run(corrupt_ids, {layer: patch(layer, head)})
                                 for layer, head in heads])})
        # patching every head of every layer at once gives back the clean run exactly
        every = {layer: (lambda x, layer=layer: x.copy_(clean_in[layer]))
                 for layer in range(n_layers)}
        assert np.abs(run(corrupt_ids, every) - clean).max() < 1e-5
    # each knock-out changes the prediction's logits: the hook reached the model
    moved = np.abs(found["ablated"] - clean).max(-1)
    assert (moved > 1e-3).all(), (name, moved)
    dest.mkdir(parents=True, exist_ok=True)
    save_npz(dest / f"{name}.npz", found)
    return {"n": len(ids), "k": len(heads), "moved": float(moved.min()),
            "bytes": (dest / f"{name}.npz").stat().st_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "tests/fixtures/models")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"only these fixtures, of {', '.join(SPECS)} (default: all)")
    parser.add_argument("--norms", action="store_true",
                        help="only write norms.npz (the norm-based reference) for existing "
                             f"fixtures: {', '.join(NORM_FIXTURES)} or those named")
    parser.add_argument("--roles", action="store_true",
                        help=f"only write roles.npz for {', '.join(ROLE_FIXTURES)} (or the NAMEs "
                             "among them), from the fixtures already written")
    parser.add_argument("--pins", action="store_true",
                        help="only write pins.npz (transformers' q, k, v, scores and logits) "
                             f"for existing fixtures: {', '.join(PIN_FIXTURES)} or those named")
    parser.add_argument("--generate", action="store_true",
                        help="only write ../generate/<name>.npz (transformers' greedy generate) "
                             f"for existing fixtures: {', '.join(GENERATE_FIXTURES)} or those "
                             "named")
    parser.add_argument("--effects", action="store_true",
                        help="only write ../effects/<name>.npz (heads knocked out and patched "
                             f"by transformers) for existing fixtures: {', '.join(EFFECT_FIXTURES)}"
                             " or those named")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SPECS]
    if unknown:
        parser.error(f"unknown fixture(s) {unknown}: choose from {list(SPECS)}")
    transformers.utils.logging.disable_progress_bar()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    if args.norms:
        for name in args.names or NORM_FIXTURES:
            info = make_norms(name, args.out / name)
            print(f"{name:10s} norms {info['shape']}  {info['kv_heads']} key/value heads")
        return 0
    if args.roles:
        for name in [n for n in args.names or ROLE_FIXTURES if n in ROLE_FIXTURES]:
            make_roles(name, args.out)
        return 0
    if args.generate:
        for name in args.names or GENERATE_FIXTURES:
            info = make_generate(name, args.out / name, args.out.parent / "generate")
            print(f"{name:10s} generate  prompt {info['n']} tokens  stop {info['stop']}  "
                  f"cached vs full {info['cached_vs_full']:.1e}  {info['bytes'] / 1024:.0f} KiB"
                  f"  {info['ids']}")
        return 0
    if args.effects:
        for name in args.names or EFFECT_FIXTURES:
            info = make_effects(name, args.out / name, args.out.parent / "effects")
            print(f"{name:10s} effects  {info['n']} tokens  {info['k']} heads  smallest change "
                  f"{info['moved']:.1e}  {info['bytes'] / 1024:.0f} KiB")
        return 0
    if args.pins:
        for name in args.names or PIN_FIXTURES:
            info = make_pins(name, args.out / name)
            print(f"{name:20s} pins {'/'.join(s or 'self' for s in info['stacks'])}  q "
                  f"{info['q']}  k {info['k']}  {info['bytes'] / 1024:.0f} KiB")
        return 0
    for name in args.names or list(SPECS):
        info = make(name, args.out)
        size = sum(p.stat().st_size for p in (args.out / name).iterdir())
        print(f"{name:10s} vocab {info['vocab']:3d}  {info['n']:2d} tokens  attentions "
              f"{info['shape']}  rows peaking > 0.5: {info['peaked']:.0%}  "
              f"{info['noisy']} noisy tensors  {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
