"""A llama-family model reads the next layer's rest on another thread (Model.read_ahead): the
same numbers as reading layer by layer. Its MLP's bf16 matrices stay as stored (Packed):
the numbers of the matrices converted whole, to within a dot product's rounding."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from attncli.errors import AttnError
from attncli.models import base, load_model
from attncli.models.base import ReadAhead

FIXTURE = Path(__file__).parent / "fixtures" / "models" / "llama"
LAYERS = 6
LAYER = re.compile(r"(^|\.)layers\.(\d+)\.")


def deeper_llama(to: Path) -> Path:
    """The bf16 llama fixture with LAYERS layers: layer k is layer k % 2's tensors with the
    lowest mantissa bits changed by k, so no two layers are the same."""
    shutil.copytree(FIXTURE, to)
    blob = (FIXTURE / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + size])
    header.pop("__metadata__", None)
    data = blob[8 + size:]

    def raw(name: str) -> np.ndarray:
        begin, end = header[name]["data_offsets"]
        return np.frombuffer(data[begin:end], dtype=np.uint16)

    tensors: dict[str, tuple[str, list[int], bytes]] = {}
    for name, info in header.items():
        if not LAYER.search(name):
            tensors[name] = (info["dtype"], info["shape"], raw(name).tobytes())
    for k in range(LAYERS):
        for name, info in header.items():
            found = LAYER.search(name)
            if found and int(found.group(2)) == k % 2:
                bits = raw(name) ^ np.uint16(k)  # a change in the last bits of the mantissa
                renamed = LAYER.sub(rf"\g<1>layers.{k}.", name)
                tensors[renamed] = (info["dtype"], info["shape"], bits.tobytes())
    out, blobs, offset = {}, [], 0
    for name, (dtype, shape, raw_bytes) in tensors.items():
        out[name] = {"dtype": dtype, "shape": shape,
                     "data_offsets": [offset, offset + len(raw_bytes)]}
        blobs.append(raw_bytes)
        offset += len(raw_bytes)
    text = json.dumps(out).encode()
    text += b" " * (-len(text) % 8)
    (to / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    config = json.loads((to / "config.json").read_text())
    config["num_hidden_layers"] = LAYERS
    (to / "config.json").write_text(json.dumps(config))
    return to


def steps_bytes(result) -> list[bytes]:
    found, joined = result
    out = []
    for hs in found:
        out += [np.asarray(v).tobytes() for v in vars(hs.steps).values()
                if isinstance(v, np.ndarray)]
    if joined is not None:
        out += [np.asarray(v).tobytes() for v in vars(joined).values()
                if isinstance(v, np.ndarray)]
    return out


class AtOnce(ReadAhead):
    """A read-ahead that is over before the layer before it goes on: the worst timing for a
    buffer shared by the two (the real one may finish at any point of that layer)."""

    def __init__(self, call, *args) -> None:
        self.value, self.error = None, None
        self._run(call, args)

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


@pytest.mark.parametrize("at_once", [False, True])
@pytest.mark.parametrize("layers", [[LAYERS - 1], [2, LAYERS - 1], [0], [1, 3]])
def test_reading_ahead_gives_the_same_numbers(tmp_path: Path, layers: list[int], at_once: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if at_once:
        monkeypatch.setattr(base, "ReadAhead", AtOnce)
    model = load_model(str(deeper_llama(tmp_path / "m")))
    assert model.read_ahead
    ids = [t.id for t in model.tokens("the cat sat on the mat because it was warm")]
    heads = list(range(model.n_heads))
    ahead = steps_bytes(model.run(ids, layers, heads, join=True))
    model.read_ahead = False
    plain = steps_bytes(model.run(ids, layers, heads, join=True))
    assert ahead == plain
    # and each layer is its own: layer 5 differs from layer 3 (so a buffer mix-up would show)
    model.read_ahead = True
    (a,), (b,) = model.attention(ids, [3], [0]), model.attention(ids, [5], [0])
    assert a.steps.q.tobytes() != b.steps.q.tobytes()


def test_read_ahead_gives_the_value_or_raises_the_error() -> None:
    assert ReadAhead(lambda a, b: a + b, 2, 3).result() == 5

    def broken() -> None:
        raise AttnError("model.safetensors: cannot read tensor 'w'")

    with pytest.raises(AttnError, match="cannot read tensor"):
        ReadAhead(broken).result()


def test_a_broken_layer_read_ahead_is_reported(tmp_path: Path) -> None:
    d = deeper_llama(tmp_path / "m")
    model = load_model(str(d))
    name = next(k for k in model.checkpoint.files if "layers.3.mlp.up_proj" in k)
    header, _ = model.checkpoint.header(d / "model.safetensors")
    header[name]["shape"] = [1, 1]  # as if the file said another shape
    ids = [t.id for t in model.tokens("the cat sat")]
    with pytest.raises(AttnError, match="up_proj"):
        model.attention(ids, [LAYERS - 1], [0])


def test_an_error_waits_for_the_layer_read_ahead(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # a run stopped by an error leaves no thread writing into the buffers the next run uses
    model = load_model(str(deeper_llama(tmp_path / "m")))
    ids = [t.id for t in model.tokens("the cat sat")]
    started: list[ReadAhead] = []

    class Kept(ReadAhead):
        def __init__(self, call, *args) -> None:
            super().__init__(call, *args)
            started.append(self)

    def overflow(*_args, **_kwargs):
        raise AttnError("the numbers overflow")

    monkeypatch.setattr(base, "ReadAhead", Kept)
    monkeypatch.setattr(model, "all_heads", overflow)
    with pytest.raises(AttnError, match="overflow"):
        model.attention(ids, [LAYERS - 1], [0])
    assert started and not any(r.thread.is_alive() for r in started)


def test_no_read_ahead_on_one_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_model(str(deeper_llama(tmp_path / "m")))
    ahead = model.read_rest_ahead(0, LAYERS - 1, LAYERS - 1, np.float32)
    assert ahead is not None or base.usable_cpus() < 2
    monkeypatch.setattr(base, "usable_cpus", lambda: 1)
    assert model.read_rest_ahead(0, LAYERS - 1, LAYERS - 1, np.float32) is None
    # the last layer's: never
    assert model.read_rest_ahead(LAYERS - 1, LAYERS - 1, LAYERS - 1, np.float32) is None


def test_a_packed_mlp_gives_the_numbers_of_the_converted_one(tmp_path: Path) -> None:
    from attncli.models.layers import Packed

    model = load_model(str(deeper_llama(tmp_path / "m")))
    assert model.packed_mlp
    rest = model.load_rest(2)
    assert isinstance(rest.w_up, Packed) and isinstance(rest.w_down, Packed)
    held = model.load_rest(2, held=True)  # for a caller that keeps them: float32 arrays
    assert isinstance(held.w_up, np.ndarray) and held.w_up.dtype == np.float32
    np.testing.assert_array_equal(rest.w_up.whole(), held.w_up)
    ids = [t.id for t in model.tokens("the cat sat on the mat because it was warm")]
    packed = model.forward(ids)[0]
    model.packed_mlp = False
    whole = model.forward(ids)[0]
    assert packed.dtype == whole.dtype == np.float32
    np.testing.assert_allclose(packed, whole, rtol=1e-5, atol=1e-5)
