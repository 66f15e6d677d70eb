"""Generating text one token at a time over the key/value cache, and where each step looked.

Each step feeds the newest token through the model (models/cache.py: only its q, k and v are
worked out; the keys and values of the earlier tokens come from the cache), then picks the
next token from the last position's logits: greedily (the largest logit; ties, the lower
id), or by sampling from softmax(logits / temperature), kept to the top_k largest and to the
smallest set whose probabilities reach top_p, with numpy's default_rng(seed).

Where it looked is the row of the query that chose the token (the last token so far) over
every token so far, in the heads shown: one head asked for, or by default the few heads
whose link from that query rises furthest above its baseline (heads.py's specificity, by
MEANING_ABOVE at least), among
the links that look at the words rather than by position or at a sink (heads.link_kind),
each named by its role where roles.py gives one. A causal model's earlier rows never change,
so each head's whole matrix is the prompt's rows and one new row a step: the baselines and
roles are worked out over it. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import numpy as np

from attncli.errors import AttnError
from attncli.explain import MAX_TOKENS, check_token_count
from attncli.heads import (
    MEANING_ABOVE,
    POSITIONAL,
    baselines,
    link_kind,
    pattern,
    sink_candidates,
    word_ids,
)
from attncli.models.base import Model
from attncli.models.cache import Decoder, mask_rows
from attncli.predict import Candidate, softmax, top_k
from attncli.roles import role_scores
from attncli.sinks import attention_sink
from attncli.tokens import Token

SHOWN = 3  # heads shown a step by default


@dataclass(frozen=True)
class Sampler:
    """How the next token is picked: greedy (temperature None) or sampled."""

    temperature: float | None = None  # above 0: sample from softmax(logits / temperature)
    top_k: int | None = None  # keep only the k largest logits
    top_p: float | None = None  # keep the smallest set of tokens whose probabilities reach p
    seed: int | None = None  # numpy default_rng's seed (None: fresh entropy)

    @property
    def greedy(self) -> bool:
        return self.temperature is None


def check_sampler(sampler: Sampler) -> None:
    """Refuse a temperature at or below 0, top_k below 1 and top_p outside (0, 1]."""
    if sampler.temperature is not None and not sampler.temperature > 0:
        raise AttnError(f"the temperature must be above 0, got {sampler.temperature:g} "
                        "(leave it out for greedy decoding)")
    if sampler.top_k is not None and sampler.top_k < 1:
        raise AttnError(f"top-k must be at least 1, got {sampler.top_k}")
    if sampler.top_p is not None and not 0 < sampler.top_p <= 1:
        raise AttnError(f"top-p must be above 0 and at most 1, got {sampler.top_p:g}")


def sampling_probabilities(logits: np.ndarray, sampler: Sampler) -> np.ndarray:
    """(vocab,) float64: what a sampler draws from; 0 for the tokens top_k and top_p drop."""
    assert sampler.temperature is not None
    scaled = logits.astype(np.float64) / sampler.temperature  # (vocab,)
    if sampler.top_k is not None and sampler.top_k < scaled.size:
        kth = np.partition(scaled, scaled.size - sampler.top_k)[scaled.size - sampler.top_k]
        scaled = np.where(scaled >= kth, scaled, -np.inf)
    p = np.exp(scaled - scaled.max())
    p /= p.sum()
    if sampler.top_p is not None and sampler.top_p < 1:
        order = np.lexsort((np.arange(p.size), -p))  # most likely first; ties, lower id
        before = np.cumsum(p[order]) - p[order]  # probability of the tokens ahead of each
        dropped = order[before >= sampler.top_p]  # the set reached top_p without them
        p[dropped] = 0.0
        p /= p.sum()
    return p


def choose(logits: np.ndarray, sampler: Sampler, rng: np.random.Generator
           ) -> tuple[int, float | None]:
    """The next token's id, and the probability it was drawn with (None when greedy)."""
    if sampler.greedy:
        return int(np.argmax(logits)), None
    p = sampling_probabilities(logits, sampler)
    at = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"))
    at = int(np.flatnonzero(p)[-1]) if at >= p.size or p[at] == 0 else at
    return at, float(p[at])


@dataclass(frozen=True)
class Looked:
    """One head's row at one step: the query that chose the token over every token so far."""

    layer: int
    head: int
    row: np.ndarray  # (m,) weights over the tokens so far
    key: int | None  # its most specific content link (None: the head was asked for)
    weight: float | None
    baseline: float | None  # what key gets on average from every query that may see it
    kind: str  # heads.KINDS: what this row does
    role: str | None  # the head's strongest role over the matrix so far (roles.ROLES)

    @property
    def specificity(self) -> float | None:
        return None if self.weight is None or self.baseline is None \
            else self.weight - self.baseline


@dataclass(frozen=True)
class Step:
    """One generated token."""

    index: int  # from 0
    query: int  # the position whose row chose it: the last token so far
    token: Token  # its vocabulary name, id and where its text sits in Generation.text
    probability: float  # the model's softmax probability of it
    sampled: float | None  # the probability it was drawn with (sampling only)
    top: list[Candidate]  # the most likely tokens at this step
    heads: list[Looked]
    eos: bool  # the model's end-of-sequence token: generating stops here


@dataclass
class Generation:
    """A prompt and what was generated from it, step by step."""

    prompt: str
    model: str
    model_type: str
    tokens: list[Token]  # the prompt's, then each generated token's
    text: str  # the prompt, then the generated text
    steps: list[Step] = field(default_factory=list)
    stopped: str = "n"  # "eos", "n", "max_tokens" or "interrupted"


def pick_head(model: Model, layer: int, head: int) -> tuple[int, int]:
    """A layer and head the model has."""
    from attncli.models.base import check_range

    return (check_range([layer], model.n_layers, "layer", model.name)[0],
            check_range([head], model.n_heads, "head", model.name)[0])


class Generator:
    """The state of one generation: the decoder, each head's matrix so far, the tokens."""

    def __init__(self, model: Model, prompt: str, *, sampler: Sampler = Sampler(),
                 head: tuple[int, int] | None = None, top: int = 5, shown: int = SHOWN,
                 max_tokens: int = MAX_TOKENS, eos: Collection[int] | None = None) -> None:
        check_sampler(sampler)
        self.model = model
        self.decoder = Decoder(model)  # refuses encoders and T5
        self.decoder.head = model.lm_head()  # a family or checkpoint without one: refused now
        self.head = None if head is None else pick_head(model, *head)
        self.sampler, self.top, self.shown, self.max_tokens = sampler, top, shown, max_tokens
        self.eos = set(model.eos_ids if eos is None else eos)
        self.rng = np.random.default_rng(sampler.seed)
        tokens = model.tokens(prompt)
        check_token_count(tokens, max_tokens, weigh=False)
        self.generation = Generation(prompt, model.name, model.model_type, list(tokens), prompt)
        self.prompt_ids = [t.id for t in tokens]
        self.matrices: list[np.ndarray] = []  # per layer (n_heads, m, m), the rows so far
        self.pending: list[int] = list(self.prompt_ids)  # fed at the next step

    def run(self, n: int) -> Iterator[Step]:
        """Up to n steps, each yielded as soon as it is made; stops at EOS or max_tokens.
        Ctrl-C (KeyboardInterrupt) ends the run between steps with what was made."""
        gen = self.generation
        try:
            for _ in range(n):
                if len(gen.tokens) >= min(self.max_tokens, self.model.max_positions or
                                          self.max_tokens):
                    gen.stopped = "max_tokens"
                    return
                step = self.step()
                yield step
                if step.eos:
                    gen.stopped = "eos"
                    return
            gen.stopped = "n"
        except KeyboardInterrupt:
            gen.stopped = "interrupted"

    def step(self) -> Step:
        """Feed the pending tokens, pick the next one, record where it looked."""
        keep: list[np.ndarray] = []
        h = self.decoder.step(self.pending, keep=keep)
        logits = self.decoder.logits(h[-1:])[0].astype(np.float32)  # (vocab,)
        if not np.isfinite(logits).all():
            raise AttnError(f"{self.model.name}: the logits overflow in float32")
        self.grow(keep)
        chosen, sampled = choose(logits, self.sampler, self.rng)
        probability = float(softmax(logits)[chosen])
        gen = self.generation
        query = len(gen.tokens) - 1
        looked = self.looked(query)
        token = self.append(chosen)
        step = Step(len(gen.steps), query, token, probability, sampled,
                    top_k(self.model, logits, self.top), looked, chosen in self.eos)
        gen.steps.append(step)
        self.pending = [chosen]
        return step

    def grow(self, keep: list[np.ndarray]) -> None:
        """Add the step's rows (n_heads, t, m) of each layer to the matrices so far."""
        for layer, w in enumerate(keep):
            t, m = w.shape[-2], w.shape[-1]
            if len(self.matrices) <= layer or t == m:  # the prefill (or a refill): every row
                if len(self.matrices) <= layer:
                    self.matrices.append(w.astype(np.float64))
                else:
                    self.matrices[layer] = w.astype(np.float64)
                continue
            old = self.matrices[layer]  # (H, m - t, m - t): the old rows stay as they were
            grown = np.zeros((old.shape[0], m, m))
            grown[:, :m - t, :m - t] = old
            grown[:, m - t:, :] = w
            self.matrices[layer] = grown

    def append(self, chosen: int) -> Token:
        """The chosen token as a Token whose text is appended to the generation's text."""
        gen, tok = self.generation, self.model.tokenizer
        ids = [t.id for t in gen.tokens] + [chosen]
        prompt_part = tok.decode(self.prompt_ids, skip_special_tokens=True)
        whole = tok.decode(ids, skip_special_tokens=True)
        tail = whole[len(prompt_part):] if whole.startswith(prompt_part) else whole
        before = len(gen.text) - len(gen.prompt)  # generated characters so far
        piece = tail[before:] if len(tail) >= before else ""
        start = len(gen.text)
        gen.text += piece
        token = Token(tok.id_to_token(chosen) or f"<id {chosen}>", chosen, start, len(gen.text))
        gen.tokens.append(token)
        return token

    def looked(self, query: int) -> list[Looked]:
        """The heads shown for the query's row: the one asked for, or the most specific."""
        gen, model = self.generation, self.model
        m = query + 1
        if self.head is not None:
            layer, head = self.head
            w = self.matrices[layer][head]
            return [self.describe(layer, head, w, query, None)]
        tokens = gen.tokens[:m]
        real = np.array([t.end > t.start for t in tokens])  # not BOS or another special
        words = word_ids(gen.text, tokens)
        candidates: list[tuple[float, int, int, int]] = []  # (-specificity, layer, head, key)
        for layer, mats in enumerate(self.matrices):
            mask = mask_rows(0, m, model.window(layer))
            for head in range(model.n_heads):
                w = mats[head]  # (m, m)
                base = baselines(w, mask)  # (m,)
                apart = real & (words != words[query]) & (np.arange(m) != query)
                if mask is not None:
                    apart &= ~mask[query]
                if not apart.any() or not real[query]:
                    continue
                spec = np.where(apart, w[query] - base, -np.inf)
                key = int(np.argmax(spec))
                if spec[key] < MEANING_ABOVE:  # not above its baseline enough to say much
                    continue
                candidates.append((-float(spec[key]), layer, head, key))
        out: list[Looked] = []
        for _, layer, head, key in sorted(candidates):
            found = self.describe(layer, head, self.matrices[layer][head], query, key)
            if found.kind == "content":
                out.append(found)
            if len(out) == self.shown:
                break
        return out

    def describe(self, layer: int, head: int, w: np.ndarray, query: int, key: int | None
                 ) -> Looked:
        """One head's row from query, what it does (link_kind) and the head's role."""
        gen, m = self.generation, query + 1
        tokens = gen.tokens[:m]
        mask = mask_rows(0, m, self.model.window(layer))
        name, score = pattern(w)
        sink = attention_sink(w, tokens, mask)
        if sink is not None and sink.share >= score - 1e-12:
            name = "sink"
        roles = role_scores(w, tokens, gen.text, mask)
        role = None if roles.role == "mixed" else roles.role
        kind = link_kind(w[query], query, sink_candidates(tokens), name, head_role=role)
        if name in POSITIONAL and kind != "positional":  # as link_kind: a positional head
            kind = "positional"
        base = None if key is None else float(baselines(w, mask)[key])
        return Looked(layer, head, w[query].copy(), key,
                      None if key is None else float(w[query, key]), base, kind, role)


def generate(model: Model, prompt: str, n: int, **options: object) -> Generation:
    """Every step at once (Generator's options): the Generation, however it stopped."""
    gen = Generator(model, prompt, **options)  # type: ignore[arg-type]
    for _ in gen.run(n):
        pass
    return gen.generation


GENERATE_SCHEMA = "attncli.generate/1"


def prompt_to_dict(gen: Generation, sampler: Sampler) -> dict[str, object]:
    """The first JSON Lines object: the prompt's tokens, which the rows' indices count from."""
    return {"schema": GENERATE_SCHEMA, "kind": "prompt", "text": gen.prompt,
            "model": gen.model, "model_type": gen.model_type,
            "tokens": [{"text": t.text, "id": t.id, "start": t.start, "end": t.end}
                       for t in gen.tokens],
            "greedy": sampler.greedy, "temperature": sampler.temperature,
            "top_k": sampler.top_k, "top_p": sampler.top_p, "seed": sampler.seed}


def step_to_dict(s: Step) -> dict[str, object]:
    """One JSON Lines object per step."""
    t = s.token
    return {"schema": GENERATE_SCHEMA, "kind": "step", "step": s.index, "query": s.query,
            "position": s.query + 1, "token": t.text, "id": t.id, "start": t.start, "end": t.end,
            "probability": s.probability, "sampled_probability": s.sampled, "eos": s.eos,
            "top": [{"token": c.token, "id": c.id, "probability": c.probability,
                     "logit": c.logit} for c in s.top],
            "heads": [{"layer": h.layer, "head": h.head, "key": h.key, "weight": h.weight,
                       "baseline": h.baseline, "kind": h.kind, "role": h.role,
                       "row": h.row} for h in s.heads]}


def end_to_dict(gen: Generation) -> dict[str, object]:
    """The last JSON Lines object: how the run stopped, and the whole text."""
    return {"schema": GENERATE_SCHEMA, "kind": "end", "stopped": gen.stopped,
            "steps": len(gen.steps), "text": gen.text,
            "ids": [t.id for t in gen.tokens]}
