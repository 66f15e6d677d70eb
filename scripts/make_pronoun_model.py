"""Write a one-layer GPT-2 whose weights, designed by hand, tell the lesson's pronoun story.

"The animal didn't cross the street because it was" ... tired? The model is not trained:
every number is set here, on named dimensions, as sample_weights/animal-street.json does for
the toy mode. It has two heads, built to answer two different questions:

- head 0, a positional head: every word looks at the word just before it, whatever that word
  is, and copies its word class (noun, verb, ...) into the PREV dimensions. The LM head reads
  nothing there, so the copy reaches the prediction only through the final norm.
- head 1, a linking head: pronouns and verbs look for the living noun of the sentence. A
  pronoun looks hard (LINK_PRONOUN), a verb less (LINK_VERB); 'animal' offers 'noun' and
  'alive', 'street' only 'noun'. Its value carries whether the noun is alive or lifeless
  into the ABOUT dimensions, which the LM head reads: about something alive, 'tired'; about
  something lifeless, 'wide'.

So at 'was', head 0 puts most of its weight on 'it' (the word before), and head 1 less of its
weight on 'animal'. The weights say head 0; what the prediction depends on is head 1. The
numbers (how much weight, how large the change when a head is knocked out) are worked out
by attncli when it runs, never written here: `attn heads TEXT --model
sample_weights/pronoun-lm --effect`.

The residual stream has 34 named numbers (DIMS):

    CLASS  det noun verb pronoun adj other   the word's class, one of them 1
    KIND   alive lifeless neither           nouns are alive or lifeless, other words neither
    POS    pos0 … pos16                     the position, one of them 1
    PREV   prev det … prev other            written by head 0: the class of the word before
    ABOUT  about alive, about lifeless      written by head 1: what the living-noun link found

Every embedding (token plus position) has exactly three ones, so ln_1, with its weight
√(variance + ε) and its bias the mean of such a vector, gives it back unchanged (as
scripts/make_induction_model.py does). Each head has 17 dimensions:

- head 0: the query of position p reads POS p as coordinate p, the key of position j reads
  POS j as coordinate j + 1, times PREV_SHARP: q·k is PREV_SHARP where j = p − 1, else 0.
  Its value reads CLASS; c_proj writes it into PREV.
- head 1: query coordinates 'noun' and 'alive', read from CLASS pronoun and verb; key
  coordinates 'noun' and 'alive', read from CLASS noun and KIND alive. Its value reads KIND
  alive and lifeless; c_proj writes them into ABOUT.

The MLP is zero. The LM head (untied, lm_head.weight) reads CLASS verb (after a verb, an
adjective: ADJ_AFTER_VERB for 'tired' and, a little more, for 'wide') and ABOUT (ABOUT_WORD:
'tired' from about alive, 'wide' from about lifeless); every other word's row is zero. Each
row has its mean over the 34 numbers taken off, so the final norm's mean subtraction leaves
the logits as they are; its scale (ln_f's weight, FINAL_SCALE) sets how sharp they are.

The tokenizer is word-level (lowercased, split on whitespace and punctuation: didn't is
didn ' t) and adds <bos> before every text. Output: config.json, model.safetensors (float32),
tokenizer.json, a few KB. Deterministic: the same bytes every run. Needs numpy, safetensors
and tokenizers only.

Usage: python scripts/make_pronoun_model.py [--out sample_weights/pronoun-lm]
Then copy the folder into attncli/sample_weights/ (tests/test_sample_weights.py checks the
two are the same, and tests/test_pronoun_model.py that this script writes them).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel

CLASSES = ["det", "noun", "verb", "pronoun", "adj", "other"]
KINDS = ["alive", "lifeless", "neither"]
P = 17  # positions
DIMS = (CLASSES + KINDS + [f"pos{p}" for p in range(P)] + [f"prev {c}" for c in CLASSES]
        + ["about alive", "about lifeless"])
D = len(DIMS)  # 34
HEADS, HD = 2, D // 2  # 2 heads of 17
CLASS, KIND, POS, PREV, ABOUT = 0, 6, 9, 9 + P, 9 + P + 6

# word -> (class, kind)
WORDS = {
    "the": ("det", "neither"), "a": ("det", "neither"),
    "animal": ("noun", "alive"), "cat": ("noun", "alive"), "dog": ("noun", "alive"),
    "street": ("noun", "lifeless"), "road": ("noun", "lifeless"), "river": ("noun", "lifeless"),
    "didn": ("verb", "neither"), "cross": ("verb", "neither"), "was": ("verb", "neither"),
    "is": ("verb", "neither"),
    "it": ("pronoun", "neither"),
    "tired": ("adj", "neither"), "wide": ("adj", "neither"),
    "because": ("other", "neither"), "'": ("other", "neither"), "t": ("other", "neither"),
}
SPECIALS = {"<bos>": ("other", "neither"), "<unk>": ("other", "neither")}
VOCAB = list(SPECIALS) + list(WORDS)
V = len(VOCAB)

PREV_SHARP = 4.0 * math.sqrt(HD)  # head 0's q·k on the word before: a score of 4 after ÷ √17
LINK_NOUN, LINK_ALIVE = 4.0, 8.0  # head 1: how much a pronoun looks for 'noun' and 'alive'
VERB_SHARE = 0.7  # a verb looks for the same, this much as hard
ADJ_AFTER_VERB = 2.0  # the LM head: 'tired' and 'wide' after a verb
WIDE_LEAN = 0.3  # and 'wide' a little more: without the link, the street wins
ABOUT_WORD = 2.5  # 'tired' from about alive, 'wide' from about lifeless
FINAL_SCALE = 1.5  # ln_f's weight
EPS = 1e-5
TEXT = "The animal didn't cross the street because it was"


def features(word: str) -> np.ndarray:
    """A word's CLASS and KIND part of the stream: two ones."""
    cls, kind = {**SPECIALS, **WORDS}[word]
    x = np.zeros(D, np.float32)
    x[CLASS + CLASSES.index(cls)] = 1.0
    x[KIND + KINDS.index(kind)] = 1.0
    return x


def tensors() -> dict[str, np.ndarray]:
    """Every tensor of the GPT2LMHeadModel checkpoint, lm_head.weight untied."""
    f32 = np.float32
    wte = np.stack([features(w) for w in VOCAB])  # (V, D)
    wpe = np.zeros((P, D), f32)
    wpe[np.arange(P), POS + np.arange(P)] = 1.0
    q, k, v = (np.zeros((D, D), f32) for _ in range(3))  # Conv1D: (in, out)
    w_o = np.zeros((D, D), f32)  # rows: the heads' joined output; columns: the stream
    # head 0 (columns 0–16): the word before
    q[POS + np.arange(P), np.arange(P)] = PREV_SHARP  # position p -> coordinate p
    k[POS + np.arange(P - 1), np.arange(1, P)] = 1.0  # position j -> coordinate j + 1
    v[CLASS + np.arange(6), np.arange(6)] = 1.0  # its class
    w_o[np.arange(6), PREV + np.arange(6)] = 1.0  # -> PREV
    # head 1 (columns 17–33): coordinate 0 'noun', 1 'alive'
    pronoun, verb = CLASS + CLASSES.index("pronoun"), CLASS + CLASSES.index("verb")
    q[pronoun, HD:HD + 2] = LINK_NOUN, LINK_ALIVE
    q[verb, HD:HD + 2] = VERB_SHARE * LINK_NOUN, VERB_SHARE * LINK_ALIVE
    k[CLASS + CLASSES.index("noun"), HD] = 1.0
    k[KIND + KINDS.index("alive"), HD + 1] = 1.0
    v[KIND + np.arange(2), HD + np.arange(2)] = 1.0  # alive, lifeless
    w_o[HD + np.arange(2), ABOUT + np.arange(2)] = 1.0  # -> ABOUT
    # the LM head
    lm = np.zeros((V, D), f32)
    tired, wide = VOCAB.index("tired"), VOCAB.index("wide")
    lm[tired, CLASS + CLASSES.index("verb")] = ADJ_AFTER_VERB
    lm[wide, CLASS + CLASSES.index("verb")] = ADJ_AFTER_VERB + WIDE_LEAN
    lm[tired, ABOUT] = lm[wide, ABOUT + 1] = ABOUT_WORD
    lm -= lm.mean(axis=1, keepdims=True)  # rows sum to 0: ln_f's mean does not move a logit
    mean = 3 / D  # an embedding: three ones
    ln_w = np.full(D, math.sqrt(mean - mean * mean + EPS), f32)
    return {
        "transformer.wte.weight": wte, "transformer.wpe.weight": wpe,
        "transformer.h.0.ln_1.weight": ln_w, "transformer.h.0.ln_1.bias": np.full(D, mean, f32),
        "transformer.h.0.attn.c_attn.weight": np.concatenate([q, k, v], axis=1),  # (D, 3D)
        "transformer.h.0.attn.c_attn.bias": np.zeros(3 * D, f32),
        "transformer.h.0.attn.c_proj.weight": w_o,
        "transformer.h.0.attn.c_proj.bias": np.zeros(D, f32),
        "transformer.h.0.ln_2.weight": np.ones(D, f32),
        "transformer.h.0.ln_2.bias": np.zeros(D, f32),
        "transformer.h.0.mlp.c_fc.weight": np.zeros((D, 4), f32),
        "transformer.h.0.mlp.c_fc.bias": np.zeros(4, f32),
        "transformer.h.0.mlp.c_proj.weight": np.zeros((4, D), f32),
        "transformer.h.0.mlp.c_proj.bias": np.zeros(D, f32),
        "transformer.ln_f.weight": np.full(D, FINAL_SCALE, f32),
        "transformer.ln_f.bias": np.zeros(D, f32),
        "lm_head.weight": lm.astype(f32),
    }


def config() -> dict:
    """A GPT2Config for the sizes above."""
    return {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.0, "bos_token_id": 0, "embd_pdrop": 0.0, "eos_token_id": 0,
        "layer_norm_epsilon": EPS, "model_type": "gpt2", "n_embd": D, "n_head": HEADS,
        "n_inner": 4, "n_layer": 1, "n_positions": P, "resid_pdrop": 0.0,
        "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
        "tie_word_embeddings": False, "vocab_size": V,
    }


def tokenizer() -> Tokenizer:
    """Word-level, lowercased, split on whitespace and punctuation; <bos> before each text."""
    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(list(SPECIALS))
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", 0)])
    return tok


def write(out: Path) -> list[Path]:
    """The three files, into out."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "config.json", out / "model.safetensors", out / "tokenizer.json"]
    files[0].write_text(json.dumps(config(), indent=2, sort_keys=True) + "\n")
    save_file(tensors(), str(files[1]), metadata={"format": "pt"})
    tokenizer().save(str(files[2]))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("sample_weights/pronoun-lm"))
    args = parser.parse_args()
    for path in write(args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
