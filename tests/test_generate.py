"""attn generate: greedy parity with transformers, sampling, JSON Lines, Ctrl-C, rendering."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, invoke, ok, refused, render_text

from attncli.generate import (
    Generator,
    Sampler,
    choose,
    generate,
    sampling_probabilities,
)
from attncli.models import load_model
from attncli.models.cache import Decoder

REFERENCES = Path(__file__).parent / "fixtures" / "generate"
GENERATED = sorted(p.stem for p in REFERENCES.glob("*.npz"))
SCHEMA = json.loads((Path(__file__).parent.parent / "attncli" / "explain.schema.json")
                    .read_text())
PROMPT = "The animal didn't cross the street because it was tired"
GPT2 = str(FIXTURES / "gpt2-lm")


def test_every_reference_fixture_is_checked() -> None:
    assert set(GENERATED) == {"gpt2-lm", "llama-lm", "qwen2-lm", "gemma2-lm", "phi3-lm"}


@pytest.mark.parametrize("name", GENERATED)
def test_greedy_ids_equal_transformers_generate(name: str) -> None:
    ref = np.load(REFERENCES / f"{name}.npz")
    model = load_model(str(FIXTURES / name))
    gen = generate(model, str(ref["prompt"]), len(ref["ids"]), eos=())
    n = len(ref["prompt_ids"])
    assert [t.id for t in gen.tokens[:n]] == ref["prompt_ids"].tolist()
    assert [s.token.id for s in gen.steps] == ref["ids"].tolist()
    # and each step's probability is the softmax of transformers' logits there
    for s, scores in zip(gen.steps, ref["scores"], strict=True):
        e = np.exp(scores.astype(np.float64) - scores.max())
        assert s.probability == pytest.approx(e[s.token.id] / e.sum(), abs=1e-5)


@pytest.mark.parametrize("name", ["gpt2-lm", "gemma2-lm"])
@pytest.mark.parametrize("float64", [False, True])
def test_the_rows_shown_equal_one_full_pass(name: str, float64: bool) -> None:
    """Every row recorded during generation is the same row of one full forward pass over
    the final sequence (gemma2-lm: a sliding window of 4 over 30 tokens)."""
    model = load_model(str(FIXTURES / name))
    run = Generator(model, PROMPT, head=(1, 2), eos=())
    if float64:
        run.decoder = Decoder(model, np.float64)
        run.decoder.head = model.lm_head()
    steps = list(run.run(12))
    ids = [t.id for t in run.generation.tokens]
    _, weights = model.forward(ids, float64=float64)
    for s in steps:
        [look] = s.heads
        expected = weights[1][2, s.query, :s.query + 1]
        assert np.abs(look.row - expected).max() <= (1e-9 if float64 else 1e-5)


def test_sampling_is_reproducible_by_seed() -> None:
    model = load_model(GPT2)

    def ids(seed: int) -> list[int]:
        gen = generate(model, PROMPT, 12, sampler=Sampler(temperature=1.5, seed=seed), eos=())
        return [s.token.id for s in gen.steps]

    assert ids(7) == ids(7)
    assert ids(7) != ids(8)
    greedy = [s.token.id for s in generate(model, PROMPT, 12, eos=()).steps]
    assert ids(7) != greedy


def test_sampling_probabilities_by_hand() -> None:
    logits = np.log(np.array([0.1, 0.4, 0.2, 0.3]))
    p = sampling_probabilities(logits, Sampler(temperature=1.0))
    assert p == pytest.approx([0.1, 0.4, 0.2, 0.3])
    p = sampling_probabilities(logits, Sampler(temperature=1.0, top_k=2))  # 0.4 and 0.3
    assert p == pytest.approx([0, 4 / 7, 0, 3 / 7])
    p = sampling_probabilities(logits, Sampler(temperature=1.0, top_p=0.6))  # 0.4 + 0.3
    assert p == pytest.approx([0, 4 / 7, 0, 3 / 7])
    p = sampling_probabilities(logits, Sampler(temperature=1.0, top_p=0.75))  # + 0.2
    assert p == pytest.approx([0, 4 / 9, 2 / 9, 3 / 9])
    hot = sampling_probabilities(np.array([0.0, np.log(4.0)]), Sampler(temperature=2.0))
    assert hot == pytest.approx([1 / 3, 2 / 3])  # 4 ** (1 / 2) = 2
    rng = np.random.default_rng(0)
    assert choose(logits, Sampler(), rng) == (1, None)
    drawn = {choose(logits, Sampler(temperature=1.0, top_k=1), rng)[0] for _ in range(20)}
    assert drawn == {1}


def test_json_lines_stream_in_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    out = ok(invoke("generate", PROMPT, "--model", GPT2, "-n", "4", "--json"))
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["kind"] for d in lines] == ["prompt", "step", "step", "step", "step", "end"]
    validator = jsonschema.Draft202012Validator(SCHEMA)  # its refs resolve in the whole file
    for d in lines:
        assert list(validator.descend(d, SCHEMA["$defs"]["generate_line"])) == []
    assert list(validator.descend({**lines[1], "kind": "end"},
                                  SCHEMA["$defs"]["generate_line"])) != []
    prompt, *steps, end = lines
    n = len(prompt["tokens"])
    assert [s["query"] for s in steps] == [n - 1, n, n + 1, n + 2]
    assert end["ids"][n:] == [s["id"] for s in steps]
    for s in steps:
        assert s["heads"] and all(len(h["row"]) == s["query"] + 1 for h in s["heads"])
        assert s["top"][0]["probability"] >= s["probability"]
        assert end["text"][s["start"]:s["end"]] is not None


def test_ctrl_c_keeps_what_was_generated(monkeypatch) -> None:
    step = Decoder.step
    calls = []

    def interrupted(self, ids, **kw):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return step(self, ids, **kw)

    monkeypatch.setattr(Decoder, "step", interrupted)
    result = invoke("generate", PROMPT, "--model", GPT2, "-n", "10", "--json")
    assert result.exit_code == 130 and "Traceback" not in result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["kind"] for d in lines] == ["prompt", "step", "step", "step", "end"]
    assert lines[-1]["stopped"] == "interrupted" and lines[-1]["steps"] == 3
    calls.clear()
    result = invoke("generate", PROMPT, "--model", GPT2, "-n", "10")
    assert result.exit_code == 130
    assert "3 tokens generated, stopped by Ctrl-C" in result.stdout


def test_rendering_at_a_fixed_width() -> None:
    out = ok(invoke("generate", PROMPT, "--model", GPT2, "-n", "2", width=100))
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert lines[0].startswith("attn generate  ") and "greedy" in lines[0]
    at = lines.index("Prompt: " + PROMPT)
    assert lines[at + 1].split()[:2] == ["1", "␣o"] and "p 38.38%  id 279" in lines[at + 1]
    assert "points above its baseline" in out
    assert "2 tokens generated, stopped after the tokens asked for." in out
    narrow = ok(invoke("generate", PROMPT, "--model", GPT2, "-n", "3", width=80)).splitlines()
    heads = [i for i, line in enumerate(narrow) if line.startswith("    layer ")]
    assert heads and all(len(line) <= 80 for line in narrow)
    # a head's line wraps under its own start, never back to the margin
    after = [narrow[i + 1] for i in heads]
    assert all(line.startswith("    ") or line == "" or re.match(r"  [ \d]\d .*  id \d+$", line)
               for line in after), after
    one = ok(invoke("generate", "The animal", "--model", GPT2, "-n", "1", "--layer", "1",
                    "--head", "0"))
    lines = one.splitlines()
    at = lines.index("“animal” looks at, in layer 1 head 0, self head:")
    assert [line.split()[0] for line in lines[at + 1:at + 3]] == ["The", "animal"]
    assert lines[at + 1].endswith(" 2.6%") and lines[at + 2].endswith(" 97.4%")


def test_a_generation_stops_at_eos_and_at_max_tokens() -> None:
    model = load_model(GPT2)
    first = generate(model, PROMPT, 3, eos=()).steps[0].token.id
    gen = generate(model, PROMPT, 5, eos=(first,))
    assert gen.stopped == "eos" and len(gen.steps) == 1 and gen.steps[0].eos
    n = len(model.tokens(PROMPT))
    gen = generate(model, PROMPT, 10, max_tokens=n + 2, eos=())
    assert gen.stopped == "max_tokens" and len(gen.steps) == 2
    rendered = render_text(__import__("attncli.render.generate", fromlist=["footer"])
                           .footer(gen))
    assert "stopped at the token limit" in rendered


@pytest.mark.parametrize("args,says", [
    (["--model", str(FIXTURES / "bert")], "is an encoder (bert)"),
    (["--model", str(FIXTURES / "t5")], "encoder-decoder"),
    (["--model", str(FIXTURES / "llama")], "no LM head"),
    (["--model", GPT2, "--temperature", "0"], "temperature must be above 0"),
    (["--model", GPT2, "--top-p", "1.5"], "top-p must be above 0 and at most 1"),
    (["--model", GPT2, "--top-k", "0"], "top-k must be at least 1"),
    (["--model", GPT2, "--layer", "1"], "--layer and --head go together"),
    (["--model", GPT2, "--layer", "9", "--head", "0"], "layer 9 is out of range"),
    (["--model", GPT2, "--max-tokens", "3"], "3"),
    ([], "needs --model"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    refused(invoke("generate", PROMPT, *args), says)
