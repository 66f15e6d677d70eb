"""BERT, RoBERTa and XLM-RoBERTa: post-norm encoders with learned absolute positions.

The attention input x of layer i is the previous layer's output (for layer 0,
the embeddings after their LayerNorm): BERT normalises after each block. With is_decoder
(BertLMHeadModel, RobertaForCausalLM) every layer is masked causally, as in transformers.

Weight map, checkpoint name (after an optional "bert." / "roberta." prefix) ->
ours. nn.Linear stores its weight (out, in); we keep (in, out) so that a layer
reads x @ w, hence the .T on every dense weight (T below).

    embeddings.word_embeddings.weight           (vocab, d)    wte, only the rows the text uses
    embeddings.position_embeddings.weight       (n_pos, d)    wpe, likewise
    embeddings.token_type_embeddings.weight     (types, d)    row 0: one segment
    embeddings.LayerNorm.{weight,bias}          (d,)          ln_emb (or .gamma, .beta: old BERT)
    encoder.layer.{i}.attention.self.query      (d, d) T, (d,)   w_q, b_q
    encoder.layer.{i}.attention.self.key        (d, d) T, (d,)   w_k, b_k
    encoder.layer.{i}.attention.self.value      (d, d) T, (d,)   w_v, b_v
    encoder.layer.{i}.attention.output.dense    (d, d) T, (d,)   w_o, b_o
    encoder.layer.{i}.attention.output.LayerNorm          (d,)   ln_1
    encoder.layer.{i}.intermediate.dense        (ff, d) T, (ff,) w_fc, b_fc
    encoder.layer.{i}.output.dense              (d, ff) T, (d,)  w_proj, b_proj
    encoder.layer.{i}.output.LayerNorm                    (d,)   ln_2

The masked-LM heads (attn predict), without the prefix:

    bert:    cls.predictions.transform.dense (d, d) T, (d,); hidden_act;
             cls.predictions.transform.LayerNorm (d,); cls.predictions.decoder.weight
             (vocab, d), or the word embeddings (tied); cls.predictions.bias (vocab,)
    roberta: lm_head.dense (d, d) T, (d,); gelu; lm_head.layer_norm (d,);
             lm_head.decoder.weight (vocab, d) or the word embeddings; lm_head.bias (vocab,)
"""

from __future__ import annotations

import numpy as np

from attncli.models.base import Layer, Model, split_heads
from attncli.models.config import MAX_LAYERS, Config
from attncli.models.layers import activation, add_fresh, gelu, layer_norm, linear


class Bert(Model):
    """bert, roberta and xlm-roberta (RoBERTa's architecture under its own model_type, same
    weight names and "roberta." prefix); both RoBERTas number positions from padding_idx + 1."""

    model_types = ("bert", "roberta", "xlm-roberta")
    prefixes: tuple[str, ...] = ("", "bert.", "roberta.")  # before the tensor names, if any

    def configure(self, config: Config) -> None:
        """Dimensions from a BertConfig / RobertaConfig."""
        self.n_layers = config.integer("num_hidden_layers", high=MAX_LAYERS)
        self.n_heads = self.n_kv_heads = config.integer("num_attention_heads")
        self.d_model = config.integer("hidden_size")
        self.head_dim = split_heads(config, "hidden_size", self.d_model, "num_attention_heads",
                                    self.n_heads)
        self.d_ff = config.integer("intermediate_size")
        self.vocab_size = config.integer("vocab_size")
        self.n_positions = config.integer("max_position_embeddings")
        self.n_types = config.integer("type_vocab_size", default=2)
        self.eps = config.number("layer_norm_eps", low=0, above=True, high=1, default=1e-12)
        self.act = activation(config, "hidden_act", default="gelu")
        # is_decoder (BertLMHeadModel, RobertaForCausalLM, ElectraForCausalLM): each token sees
        # only itself and the tokens before it, as transformers masks it
        self.causal = config.boolean("is_decoder", default=False)
        config.check(not config.boolean("add_cross_attention", default=False),
                     "'add_cross_attention' is set: this is the decoder half of an "
                     "encoder-decoder pair, whose cross-attention over an encoder's output "
                     "attncli does not run")
        config.choice("position_embedding_type", options=("absolute",), default="absolute")
        # RoBERTa's position of token t is padding_idx + 1 + t: the first rows are never used,
        # and at least one must be left
        self.pad = (config.integer("pad_token_id", low=0, default=1)
                    if self.model_type in ("roberta", "xlm-roberta") else None)
        config.check(self.pad is None or self.pad + 2 <= self.n_positions,
                     f"'max_position_embeddings' {self.n_positions} leaves no position after "
                     f"'pad_token_id' {self.pad} (RoBERTa's positions start after it)")
        self.max_positions = self.n_positions - (0 if self.pad is None else self.pad + 1)
        self.prefix = self.checkpoint.prefix("embeddings.word_embeddings.weight", self.prefixes)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """(n,) position ids: 0..n-1, or RoBERTa's count of non-pad tokens + padding_idx."""
        if self.pad is None:
            return np.arange(len(ids))
        real = ids != self.pad  # (n,) padding keeps position padding_idx
        return np.cumsum(real) * real + self.pad

    def norm(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A LayerNorm's (weight, bias); checkpoints converted from TF BERT say gamma, beta."""
        old = name + ".gamma" in self.checkpoint and name + ".weight" not in self.checkpoint
        w, b = ("gamma", "beta") if old else ("weight", "bias")
        d = self.d_model
        return self.checkpoint.read(f"{name}.{w}", (d,)), self.checkpoint.read(f"{name}.{b}", (d,))

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Word + segment + position embeddings, then LayerNorm."""
        p, d, read = self.prefix + "embeddings.", self.d_model, self.checkpoint.read
        wte = read(p + "word_embeddings.weight", (self.vocab_size, d), rows=ids)  # (n, d)
        wpe = read(p + "position_embeddings.weight", (self.n_positions, d),
                   rows=self.positions(ids))  # (n, d)
        wtt = read(p + "token_type_embeddings.weight", (self.n_types, d), rows=np.zeros(1, int))
        h = wte + wtt + wpe  # (n, d), summed in the order transformers does
        return layer_norm(h, *self.norm(p + "LayerNorm"), self.eps)  # (n, d)

    def load_attention(self, i: int) -> Layer:
        """Layer i's q, k, v projections, weights transposed to (in, out)."""
        p, d, read = f"{self.prefix}encoder.layer.{i}.attention.self.", self.d_model, \
            self.checkpoint.read
        return {
            "w_q": read(p + "query.weight", (d, d)).T,  # (d, d)
            "b_q": read(p + "query.bias", (d,)),
            "w_k": read(p + "key.weight", (d, d)).T,  # (d, d)
            "b_k": read(p + "key.bias", (d,)),
            "w_v": read(p + "value.weight", (d, d)).T,  # (d, d)
            "b_v": read(p + "value.bias", (d,)),
        }

    def load_rest(self, i: int) -> Layer:
        """Layer i's output projection, norms and MLP, weights transposed to (in, out)."""
        p, d, ff = f"{self.prefix}encoder.layer.{i}.", self.d_model, self.d_ff
        read = self.checkpoint.read
        return {
            "w_o": read(p + "attention.output.dense.weight", (d, d)).T,  # (d, d)
            "b_o": read(p + "attention.output.dense.bias", (d,)),
            "ln_1": self.norm(p + "attention.output.LayerNorm"),  # (d,), (d,)
            "w_fc": read(p + "intermediate.dense.weight", (ff, d)).T,  # (d, ff)
            "b_fc": read(p + "intermediate.dense.bias", (ff,)),
            "w_proj": read(p + "output.dense.weight", (d, ff)).T,  # (ff, d)
            "b_proj": read(p + "output.dense.bias", (d,)),
            "ln_2": self.norm(p + "output.LayerNorm"),  # (d,), (d,)
        }

    def finish_layer(self, h: np.ndarray, attn: np.ndarray, rest: Layer) -> np.ndarray:
        """Output projection, residual, LayerNorm; MLP, residual, LayerNorm."""
        a = linear(attn, rest["w_o"], rest["b_o"])  # (n, d)
        h = layer_norm(add_fresh(a, h), *rest["ln_1"], self.eps)  # (n, d)
        m = linear(self.act(linear(h, rest["w_fc"], rest["b_fc"])),
                   rest["w_proj"], rest["b_proj"])  # (n, d)
        return layer_norm(add_fresh(m, h), *rest["ln_2"], self.eps)  # (n, d)

    def lm_head(self) -> Layer:
        """BertForMaskedLM's cls.predictions or RobertaForMaskedLM's lm_head: dense,
        activation, LayerNorm, then the decoder (tied to the word embeddings) and its bias."""
        heads = {"bert": ("cls.predictions.", "transform.dense", "transform.LayerNorm", self.act),
                 "roberta": ("lm_head.", "dense", "layer_norm", gelu)}
        if self.model_type not in heads:
            return super().lm_head()
        p, dense, norm, act = heads[self.model_type]
        d, v, read, ckpt = self.d_model, self.vocab_size, self.checkpoint.read, self.checkpoint
        if p + dense + ".weight" not in ckpt:
            raise self.no_lm_head(f"{p}{dense}.weight")
        decoder = (p + "decoder.weight" if p + "decoder.weight" in ckpt
                   else self.prefix + "embeddings.word_embeddings.weight")
        bias = p + "bias" if p + "bias" in ckpt else p + "decoder.bias"
        return {"w": read(p + dense + ".weight", (d, d)).T,  # (d, d)
                "b": read(p + dense + ".bias", (d,)), "act": act,
                "ln": self.norm(p + norm),  # (d,), (d,)
                "decoder": read(decoder, (v, d)),  # (vocab, d)
                "decoder_b": read(bias, (v,))}

    def logits(self, h: np.ndarray, head: Layer | None = None) -> np.ndarray:
        """dense, activation, LayerNorm, decoder + bias: (n, vocab)."""
        head = self.lm_head() if head is None else head
        x = layer_norm(head["act"](linear(h, head["w"], head["b"])), *head["ln"],
                       self.eps)  # (n, d)
        return x @ head["decoder"].T + head["decoder_b"]  # (n, vocab)
