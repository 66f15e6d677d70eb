"""The model fixtures catch bugs: switch one feature off and parity with transformers breaks.

transformers initialises biases to 0 and norm weights to 1, and a sliding window longer than
the sentence masks nothing: fixtures made that way let a loader skip biases, norm weights or
the window and still match. scripts/make_model_fixtures.py puts seeded noise on every bias
and norm weight and gives mistral and qwen2 a window of 4 tokens (tests/fixtures/models/
README.md). Each test below first shows that an unmodified copy of a fixture matches its
reference, then takes one feature away and shows that it no longer does: the same check, to
the same 1e-5, as test_models.py's test_every_head_matches_transformers.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_that_matches, edit_config, layer_diffs, reference
from safetensors.numpy import load_file

FIXTURES = Path(__file__).parent / "fixtures" / "models"
NAMES = ["bert", "roberta", "distilbert", "gpt2", "llama", "qwen2", "mistral"]
TOLERANCE = 1e-5  # as test_models.py
WINDOWS = {"mistral": {0: 4, 1: 4}, "qwen2": {1: 4}}  # README: sliding windows, layer by layer


# ---- the parity check of test_every_head_matches_transformers, layer by layer ----






def matches(directory: Path, name: str) -> bool:
    return max(layer_diffs(directory, name)) <= TOLERANCE






# ---- safetensors, read and rewritten in their own dtype ----
# safetensors.numpy cannot read llama's bfloat16 (numpy has no bfloat16: "data type 'bfloat16'
# not understood"), so tensors are decoded here from the file's header and bytes, and written
# back in place: the same dtype, header, order and metadata, only the chosen values change.

DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def header_of(path: Path) -> tuple[int, dict]:
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    return 8 + size, json.loads(data[8:8 + size])


def decode(dtype: str, raw: bytes, shape: list[int]) -> np.ndarray:
    values = np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(shape)
    if dtype == "BF16":  # the high half of a float32
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(np.float32)


def encode(dtype: str, values: np.ndarray) -> bytes:
    if dtype == "BF16":  # round to nearest, ties to even
        bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return bits.astype("<u2").tobytes()
    return np.ascontiguousarray(values, dtype=DTYPES[dtype]).tobytes()


def tensors(directory: Path) -> dict[str, tuple[str, np.ndarray]]:
    """Every tensor of every .safetensors file in directory: name -> (dtype, float32 values)."""
    found = {}
    for path in sorted(directory.glob("*.safetensors")):
        start, header = header_of(path)
        data = path.read_bytes()
        for key, info in header.items():
            if key != "__metadata__":
                begin, end = info["data_offsets"]
                raw = data[start + begin:start + end]
                found[key] = (info["dtype"], decode(info["dtype"], raw, info["shape"]))
    return found


def rewrite(directory: Path, change: Callable[[str, np.ndarray], np.ndarray | None]) -> list[str]:
    """Replace tensor values in place where change(name, float32 values) returns new ones;
    returns the names changed."""
    changed = []
    for path in sorted(directory.glob("*.safetensors")):
        start, header = header_of(path)
        data = bytearray(path.read_bytes())
        for key, info in header.items():
            if key == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            old = decode(info["dtype"], bytes(data[start + begin:start + end]), info["shape"])
            new = change(key, old)
            if new is not None:
                blob = encode(info["dtype"], np.broadcast_to(new, old.shape))
                assert len(blob) == end - begin
                data[start + begin:start + end] = blob
                changed.append(key)
        path.write_bytes(bytes(data))
    return changed


def is_bias(tensor: str) -> bool:
    return tensor.endswith(".bias")


def is_norm_weight(tensor: str) -> bool:
    """LayerNorm/RMSNorm weights: LayerNorm, layer_norm, input_layernorm, norm, ln_1, ln_f."""
    return tensor.endswith(".weight") and (
        "norm" in tensor.lower() or tensor.split(".")[-2].startswith("ln_"))


def test_the_rewriter_changes_nothing_it_is_not_asked_to(tmp_path: Path) -> None:
    for name in ("llama", "qwen2", "gpt2"):  # bfloat16, float16, float32 in two shards
        d = shutil.copytree(FIXTURES / name, tmp_path / name)
        assert rewrite(d, lambda _key, values: values) != []  # every tensor, re-encoded
        for path in d.glob("*.safetensors"):
            assert path.read_bytes() == (FIXTURES / name / path.name).read_bytes()


def test_the_rewriter_reads_what_safetensors_numpy_reads() -> None:
    for name in ("bert", "qwen2", "gpt2"):  # float32, float16 (bfloat16: numpy cannot)
        ours = tensors(FIXTURES / name)
        theirs = {}
        for path in (FIXTURES / name).glob("*.safetensors"):
            theirs.update(load_file(str(path)))
        assert ours.keys() == theirs.keys()
        for key, (_dtype, values) in ours.items():
            np.testing.assert_array_equal(values, theirs[key].astype(np.float32))


# ---- the noise is there ----


@pytest.mark.parametrize("name", NAMES)
def test_every_bias_and_norm_weight_is_noisy(name: str) -> None:
    biases, norms = [], []
    for key, (_dtype, values) in tensors(FIXTURES / name).items():
        if is_bias(key):
            assert not (values == 0).all(), f"{name}: {key} is all 0"
            assert values.std() > 0.1, f"{name}: {key} hardly varies"  # N(0, 0.2)
            biases.append(key)
        elif is_norm_weight(key):
            assert not (values == 1).all(), f"{name}: {key} is all 1"
            assert values.std() > 0.1, f"{name}: {key} hardly varies"  # 1 + N(0, 0.2)
            norms.append(key)
    assert norms, f"{name}: no norm weight found"
    attention_biases = [k for k in biases if ".self_attn." in k]
    if name == "llama":  # attention_bias: q, k, v and o
        assert len(attention_biases) == 2 * 4, attention_biases
    elif name == "qwen2":  # q, k and v
        assert len(attention_biases) == 2 * 3, attention_biases
    elif name == "mistral":
        assert biases == []
    else:  # the encoders and gpt2: every Linear/Conv1D and every LayerNorm has a bias
        assert len(biases) >= 2 * 5, biases


# ---- one feature off: parity fails ----


def test_llama_without_its_attention_biases_no_longer_matches(tmp_path: Path) -> None:
    d = copy_that_matches("llama", tmp_path)
    assert json.loads((d / "config.json").read_text())["attention_bias"] is True
    edit_config(d, attention_bias=False)  # the loader now skips q, k, v and o biases
    diffs = layer_diffs(d, "llama")
    assert all(diff > TOLERANCE for diff in diffs), diffs  # layer 0 already: q and k biases


@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_without_the_sliding_window_it_no_longer_matches(name: str, tmp_path: Path) -> None:
    d = copy_that_matches(name, tmp_path)
    n = len(reference(name)["input_ids"])
    assert json.loads((d / "config.json").read_text())["sliding_window"] == 4 < n
    edit_config(d, sliding_window=None)
    diffs = layer_diffs(d, name)
    sliding = WINDOWS[name]
    # a sliding layer no longer matches; a full layer before any sliding one still does
    assert all(diffs[i] > TOLERANCE for i in sliding), diffs
    before = range(min(sliding))
    assert all(diffs[i] <= TOLERANCE for i in before), diffs


@pytest.mark.parametrize("name", NAMES)
def test_with_every_norm_weight_at_1_it_no_longer_matches(name: str, tmp_path: Path) -> None:
    d = copy_that_matches(name, tmp_path)
    dtypes = {dtype for dtype, _values in tensors(d).values()}
    changed = rewrite(d, lambda key, _values: np.float32(1.0) if is_norm_weight(key) else None)
    assert changed and all(is_norm_weight(k) for k in changed)
    after = tensors(d)
    assert {dtype for dtype, _values in after.values()} == dtypes  # the dtype is kept
    assert all((after[k][1] == 1).all() for k in changed)
    assert max(layer_diffs(d, name)) > TOLERANCE


@pytest.mark.parametrize("tensor", [
    "encoder.layer.0.attention.self.query.bias",  # layer 0's scores
    "encoder.layer.0.attention.self.value.bias",  # what layer 0 passes to layer 1
    "encoder.layer.0.attention.output.dense.bias",
    "embeddings.LayerNorm.bias",
])
def test_bert_with_one_bias_at_0_no_longer_matches(tensor: str, tmp_path: Path) -> None:
    d = copy_that_matches("bert", tmp_path)
    assert rewrite(d, lambda key, values: values * 0 if key == tensor else None) == [tensor]
    assert (load_file(str(d / "model.safetensors"))[tensor] == 0).all()
    assert max(layer_diffs(d, "bert")) > TOLERANCE


def test_a_key_bias_is_the_one_bias_softmax_cannot_see(tmp_path: Path) -> None:
    # q·(k_j + b) = q·k_j + q·b: the same shift for every key j, which softmax cancels. Zeroing
    # a key bias is therefore no test of the loader, and is left out above.
    d = copy_that_matches("bert", tmp_path)
    tensor = "encoder.layer.0.attention.self.key.bias"
    assert rewrite(d, lambda key, values: values * 0 if key == tensor else None) == [tensor]
    assert matches(d, "bert")
