"""load_model asks the kernel for the first layers' pages before it parses a large tokenizer, and
a bad tokenizer.json is still the error it reports first."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from conftest import invoke, strict_json

import attncli.models as models
from attncli.cli import sources
from attncli.errors import AttnError
from attncli.models.checkpoint import Checkpoint

FIXTURES = Path(__file__).parent / "fixtures" / "models"
# the llama fixture's layer, in bfloat16 (2 bytes a number): two norms of 32, an MLP of
# 3 × 64 × 32, q and o of 32 × 32, k and v of 16 × 32, and biases on q (32), k, v (16) and o (32)
LAYER_BYTES = 2 * (2 * 32 + 3 * 64 * 32 + 2 * 32 * 32 + 2 * 16 * 32 + 32 + 16 + 16 + 32)


def test_the_first_layers_are_the_lowest_numbered_that_fit_the_budget() -> None:
    assert LAYER_BYTES == 18_752
    checkpoint = Checkpoint.open(FIXTURES / "llama")
    header, data_start = checkpoint.header(FIXTURES / "llama" / "model.safetensors")

    def spans(layer: int) -> set[tuple[Path, int, int]]:
        return {(FIXTURES / "llama" / "model.safetensors", data_start + info["data_offsets"][0],
                 data_start + info["data_offsets"][1])
                for name, info in header.items() if name.startswith(f"layers.{layer}.")}

    assert set(checkpoint.first_layers(LAYER_BYTES)) == spans(0)
    assert set(checkpoint.first_layers(LAYER_BYTES - 1)) < spans(0)  # one tensor short
    assert set(checkpoint.first_layers(2 * LAYER_BYTES)) == spans(0) | spans(1)
    assert checkpoint.first_layers(0) == []
    # neither the embeddings nor the final norm: they hold no layer number
    assert checkpoint.will_need() in (0, 2 * LAYER_BYTES)  # 0 where mmap cannot be advised


def test_load_model_asks_for_the_first_layers_before_it_parses_the_tokenizer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(models, "WORTH_IT", 1)  # the fixture's tokenizer counts as large
    will_need, parse = Checkpoint.will_need, models.parse_tokenizer
    monkeypatch.setattr(Checkpoint, "will_need",
                        lambda self, *a: calls.append("will_need") or will_need(self, *a))
    monkeypatch.setattr(models, "parse_tokenizer",
                        lambda *a: calls.append("parse") or parse(*a))
    models.load_model(str(FIXTURES / "llama"))
    assert calls == ["will_need", "parse"]


def test_a_small_tokenizer_is_parsed_without_asking(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(Checkpoint, "will_need", lambda self, *a: calls.append("will_need"))
    assert (FIXTURES / "llama" / "tokenizer.json").stat().st_size < models.WORTH_IT
    models.load_model(str(FIXTURES / "llama"))
    assert calls == []  # its parse is too short to hide reading the weights behind


def test_the_output_is_the_same_without_asking(monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("explain", "The animal was tired", "--model", str(FIXTURES / "qwen2"), "--layer",
            "all", "--head", "all", "--json")
    monkeypatch.setattr(models, "WORTH_IT", 1)  # asked, as for a large tokenizer
    sources._load_model.cache_clear()  # the CLI opens a path once per process
    asked = invoke(*args)
    monkeypatch.setattr(Checkpoint, "will_need", lambda self, *a: 0)
    sources._load_model.cache_clear()
    plain = invoke(*args)
    sources._load_model.cache_clear()
    assert asked.exit_code == plain.exit_code == 0, (asked.stderr, plain.stderr)
    assert strict_json(asked.stdout) == strict_json(plain.stdout)


@pytest.mark.parametrize("weights", ["missing", "truncated"])
def test_a_bad_tokenizer_is_named_before_a_bad_checkpoint(tmp_path: Path, weights: str) -> None:
    shutil.copy(FIXTURES / "llama" / "config.json", tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"model": ')
    if weights == "truncated":
        (tmp_path / "model.safetensors").write_bytes(b"\x10\x00")
    threads = set(threading.enumerate())
    with pytest.raises(AttnError, match=r"tokenizer\.json: not a valid tokenizer\.json"):
        models.load_model(str(tmp_path))
    assert set(threading.enumerate()) == threads  # nothing left running
    shutil.copy(FIXTURES / "llama" / "tokenizer.json", tmp_path)  # the tokenizer mended
    with pytest.raises(AttnError, match="model.safetensors"):
        models.load_model(str(tmp_path))
