"""config.json's fields are read once, through attncli/models/config.py's checking readers, when
a model is opened (issue 21): the readers by hand, the cases the hostile suite found, and
that nothing reads config.json after the model is open."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, edit_config, invoke, ok, refused

import attncli.models as models
from attncli.errors import AttnError
from attncli.models import load_model
from attncli.models.config import Config, Field

TEXT = "The animal was tired"
MODELS = Path(models.__file__).parent


# ---- the readers ----


def test_each_reader_returns_the_value_of_its_type() -> None:
    config = Config({"n": 12, "whole": 2048.0, "eps": 1e-5, "flag": True, "act": "gelu",
                     "rope": {"factor": 2}, "factors": [1, 2.5], "types": ["a", "b"],
                     "names": ["X"], "absent": None})
    assert config.integer("n") == 12
    assert config.integer("whole") == 2048 and isinstance(config.integer("whole"), int)
    assert config.integer("absent", "n") == 12  # the first key set: an older name
    assert config.integer("absent", default=7) == 7
    assert config.optional_integer("absent") is None
    assert config.number("eps", low=0, above=True) == 1e-5
    assert config.number("n") == 12.0 and isinstance(config.number("n"), float)
    assert config.boolean("flag", default=False) is True
    assert config.boolean("absent", default=False) is False
    assert config.choice("act", options=("gelu", "relu")) == "gelu"
    assert config.section("rope").number("factor", low=1) == 2.0
    assert config.numbers("factors", length=2, low=0, high=3) == [1.0, 2.5]
    assert config.choices("types", options=("a", "b"), length=2) == ["a", "b"]
    assert config.strings("names") == ["X"]


@pytest.mark.parametrize(("read", "message"), [
    (lambda c: c.number("eps", low=0, above=True, high=1),
     "config.json: 'eps' must be a number above 0 and at most 1, got -1"),
    (lambda c: c.integer("heads"),
     "config.json: 'heads' must be a whole number from 1 to 2,147,483,647, got 0"),
    (lambda c: c.integer("big"),
     "config.json: 'big' must be a whole number from 1 to 2,147,483,647, "
     "got 18446744073709551616"),
    (lambda c: c.integer("flag"),
     "config.json: 'flag' must be a whole number from 1 to 2,147,483,647, got true"),
    (lambda c: c.number("word", low=0), "config.json: 'word' must be a number of at least 0, "
                                        'got "NaN"'),
    (lambda c: c.number("list"), "config.json: 'list' must be a number, got [1]"),
    (lambda c: c.boolean("word", default=True), "config.json: 'word' must be true or false, "
                                                'got "NaN"'),
    (lambda c: c.choice("heads", options=("a", "b")),
     "config.json: 'heads' must be one of 'a', 'b', got 0"),
    (lambda c: c.integer("absent"), "config.json: no 'absent'"),
    (lambda c: c.section("rope").number("factor", low=1),
     "config.json: 'rope.factor' must be a number of at least 1, got 0.5"),
    (lambda c: c.section("word"), "config.json: 'word' must be an object, got \"NaN\""),
    (lambda c: c.numbers("list", length=2, low=0, high=1),
     "config.json: 'list' must be a list of 2 numbers, each from 0 to 1, got [1]"),
])
def test_each_reader_refuses_naming_the_field_and_the_value(read, message: str) -> None:
    config = Config({"eps": -1, "heads": 0, "big": 2**64, "flag": True, "word": "NaN",
                     "list": [1], "rope": {"factor": 0.5}})
    with pytest.raises(AttnError) as err:
        read(config)
    assert str(err.value) == message


def test_a_long_value_is_cut_to_one_short_line() -> None:
    with pytest.raises(AttnError) as err:
        Config({"layer_types": ["x\n"] * 100}).choices("layer_types", options=("a",), length=2)
    line = str(err.value)
    assert "\n" not in line and line.endswith('..."') is False and line.endswith("...")
    assert len(line) < 200


def test_the_readers_record_each_field_once_with_its_bounds() -> None:
    config = Config({"rope_parameters": {"factor": 2.0}})
    config.number("eps", low=0, above=True, high=1, default=1e-6)
    config.number("eps", low=0, above=True, high=1, default=1e-6)
    config.section("rope_parameters").number("factor", low=1, high=1e3)
    assert config.fields == [
        Field(("eps",), "number", low=0, high=1, above=True),
        Field(("rope_parameters",), "section"),
        Field(("rope_parameters", "factor"), "number", low=1, high=1e3),
    ]


# ---- the cases the hostile suite found: refused when opened, naming the field ----


@pytest.mark.parametrize(("name", "changes", "words"), [
    ("gemma2", {"query_pre_attn_scalar": -1}, ("'query_pre_attn_scalar'", "got -1")),
    ("gemma2", {"query_pre_attn_scalar": 0}, ("'query_pre_attn_scalar'", "got 0")),
    ("gemma3_text", {"query_pre_attn_scalar": -32}, ("'query_pre_attn_scalar'",)),
    ("gemma2", {"attn_logit_softcapping": 0}, ("'attn_logit_softcapping'", "got 0")),
    ("gemma2", {"attn_logit_softcapping": 1e-300}, ("'attn_logit_softcapping'", "got 1e-300")),
    ("gemma2", {"final_logit_softcapping": "x"}, ("'final_logit_softcapping'", 'got "x"')),
    ("gemma2", {"final_logit_softcapping": 0}, ("'final_logit_softcapping'", "got 0")),
    ("qwen3", {"sliding_window": "4"}, ("'sliding_window' must be a whole number",)),
    ("phi3", {"sliding_window": [4]}, ("'sliding_window'", "got [4]")),
    ("mistral", {"sliding_window": "x"}, ("'sliding_window'", 'got "x"')),
    ("qwen2", {"layer_types": "sliding_attention"}, ("'layer_types' must be a list of 2",)),
    ("qwen2", {"layer_types": ["sliding_attention", 4]}, ("'layer_types'",)),
    ("gemma2", {"sliding_window": 0}, ("'sliding_window'", "got 0")),
    ("t5", {"decoder_start_token_id": -1}, ("'decoder_start_token_id' must be a whole number "
                                            "from 0 to",)),
    ("t5", {"decoder_start_token_id": 2**32}, ("'decoder_start_token_id'", "got 4294967296")),
    # t5's 8 buckets: the decoder's first 4 distances are exact, the log buckets start there
    ("t5", {"relative_attention_max_distance": 4},
     ("'relative_attention_max_distance' must be a whole number from 5 to",)),
    ("t5", {"relative_attention_num_buckets": 2},
     ("'relative_attention_num_buckets' must be a whole number from 4 to",)),
    ("t5", {"relative_attention_num_buckets": -8}, ("'relative_attention_num_buckets'",)),
    ("roberta", {"pad_token_id": -1}, ("'pad_token_id' must be a whole number from 0 to",)),
    ("roberta", {"pad_token_id": 65},
     ("'max_position_embeddings' 66 leaves no position after 'pad_token_id' 65",)),
    ("xlm-roberta", {"pad_token_id": 2**64}, ("'pad_token_id'",)),
    ("llama", {"rms_norm_eps": -1e-6}, ("'rms_norm_eps' must be a number above 0", "-1e-06")),
    ("bert", {"layer_norm_eps": -1}, ("'layer_norm_eps' must be a number above 0",)),
    ("t5", {"layer_norm_epsilon": 0}, ("'layer_norm_epsilon'",)),
    ("llama", {"rope_parameters": {"rope_type": "default", "rope_theta": 1e39}},
     ("'rope_parameters.rope_theta' must be a number above 1 and at most 1e+15",)),
    ("llama-linear", {"rope_parameters": {"rope_type": "linear", "factor": 0}},
     ("'rope_parameters.factor' must be a number from 1 to 1000, got 0",)),
    ("llama-linear", {"rope_parameters": {"rope_type": "linear", "factor": 1e39}},
     ("'rope_parameters.factor'",)),
    ("phi3-longrope", {"rope_parameters": {"rope_type": "longrope", "short_factor": [1, 1],
                                           "long_factor": [1e39, 1]}},
     ("'rope_parameters.long_factor' must be a list of 2 numbers",)),
    ("llama", {"num_key_value_heads": 3},
     ("'num_attention_heads' 4 does not split into 'num_key_value_heads' 3 groups",)),
])
def test_a_value_that_failed_at_run_time_is_refused_when_opened(
        name: str, changes: dict, words: tuple[str, ...], tmp_path: Path) -> None:
    d = Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    edit_config(d, **changes)
    with pytest.raises(AttnError) as err:
        load_model(str(d))  # when opened: nothing runs first
    for word in words:
        assert word in str(err.value), (word, str(err.value))
    assert str(d / "config.json") in str(err.value)
    line = refused(invoke("explain", TEXT, "--model", str(d), "--json"), *words)
    assert line.startswith(f"attn: error: {d / 'config.json'}: ")


def test_the_real_configs_forms_still_load(tmp_path: Path) -> None:
    # as Hugging Face writes them: floats for whole numbers, null for what is not set
    d = Path(shutil.copytree(FIXTURES / "qwen2", tmp_path / "qwen2"))
    edit_config(d, max_position_embeddings=32768.0, sliding_window=None, head_dim=None,
                use_sliding_window=False, max_window_layers=None, rope_scaling=None,
                tie_word_embeddings=False, architectures=["Qwen2ForCausalLM"])
    model = load_model(str(d))
    assert model.max_positions == 32768 and model.windows == [None, None]
    ok(invoke("explain", TEXT, "--model", str(d), "--json"))


# ---- nothing reads config.json after the model is open ----


class Watched(dict):
    """A config.json object that records each key read, and refuses reads once closed."""

    def __init__(self, raw: dict[str, Any], log: list[str], closed: list[bool]) -> None:
        super().__init__({k: Watched(v, log, closed) if isinstance(v, dict) else v
                          for k, v in raw.items()})
        self.log, self.closed = log, closed

    def _read(self, key: object) -> None:
        if self.closed[0]:
            raise AssertionError(f"config.json's {key!r} read after the model was opened")
        self.log.append(str(key))

    def get(self, key: object, default: Any = None) -> Any:
        self._read(key)
        return super().get(key, default)

    def __getitem__(self, key: object) -> Any:
        self._read(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._read(key)
        return super().__contains__(key)


@pytest.mark.parametrize("name", ["bert-mlm", "roberta-mlm", "distilbert", "electra", "gpt2-lm",
                                  "opt", "gpt_neox", "llama-lm", "llama-yarn", "qwen2-lm",
                                  "qwen3", "mistral", "phi3-lm", "phi3-longrope", "olmo2-lm",
                                  "gemma", "gemma2-lm", "gemma3_text", "t5", "umt5"])
def test_no_field_is_read_after_the_model_is_opened(name: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    closed = [False]
    read_config = models.read_config
    monkeypatch.setattr(models, "read_config",
                        lambda directory: Watched(read_config(directory), log, closed))
    model = load_model(str(FIXTURES / name))
    assert "model_type" in log and len(set(log)) >= 8  # the reads happened, when opened
    closed[0] = True
    tokens = model.tokens("The animal was tired")
    ids = [t.id for t in tokens]
    model.run(ids, range(model.n_layers), range(model.n_heads), join=True)
    if name in ("t5", "umt5"):
        decoder = model.for_target(tokens, "cross")
        decoder.run([t.id for t in decoder.target_tokens("a tired animal")], [0], [0], join=True)
    else:
        h, _ = model.forward(ids)
        if name.endswith(("-lm", "-mlm")):
            model.logits(h)


def test_no_family_reads_the_config_dict_outside_the_readers() -> None:
    # the readers (config.py) are the one place a config.json value is taken from the dict
    reads = re.compile(r"config\.get\(|config\[|self\.config\b|\._raw\b")
    found = [f"{path.name}:{i}: {line.strip()}"
             for path in sorted(MODELS.glob("*.py")) if path.name != "config.py"
             for i, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
    assert found == []


def test_every_family_lists_the_fields_it_read() -> None:
    model = load_model(str(FIXTURES / "gemma2-lm"))
    names = {field.name for field in model.fields}
    assert {"query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping",
            "sliding_window", "layer_types", "rope_parameters.rope_theta",
            "rms_norm_eps"} <= names
    assert json.loads((FIXTURES / "gemma2-lm" / "config.json").read_text())["model_type"] == \
        model.model_type
