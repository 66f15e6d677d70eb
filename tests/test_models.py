"""Real checkpoints in numpy: every head of every fixture against transformers' own output."""

from __future__ import annotations

import builtins
import io
import json
import math
import pickle
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import layer_diffs, reference
from safetensors import safe_open
from safetensors.numpy import save_file

from attncli.errors import AttnError
from attncli.models import FAMILIES, HeadSteps, load_model
from attncli.models.checkpoint import Checkpoint
from attncli.models.hub import hub_cache
from attncli.models.layers import erf, gelu
from attncli.tokens import encode

FIXTURES = Path(__file__).parent / "fixtures" / "models"
EXPECTED = {"bert", "roberta", "distilbert", "gpt2", "llama", "qwen2", "mistral"}
FOUND = {p.name for p in FIXTURES.iterdir() if p.is_dir()} if FIXTURES.is_dir() else set()
TOLERANCE = 1e-5


def copy_fixture(name: str, to: Path, skip: tuple[str, ...] = ()) -> Path:
    """A writable copy of a fixture directory, leaving out some files."""
    shutil.copytree(FIXTURES / name, to, ignore=lambda _d, names: [n for n in names if n in skip])
    return to


def test_every_expected_fixture_exists() -> None:
    assert EXPECTED <= FOUND, f"missing fixtures: {sorted(EXPECTED - FOUND)} in {FIXTURES}"


@pytest.mark.parametrize("name", sorted(EXPECTED | FOUND))
def test_every_head_matches_transformers(name: str) -> None:
    # layer_diffs also checks the token ids, the (layers, heads) shape and the head order
    worst = max(layer_diffs(FIXTURES / name, name))
    assert worst <= TOLERANCE, f"{name}: max abs diff {worst:.3g}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_steps_have_the_documented_shapes_and_rows_sum_to_one(name: str) -> None:
    model = load_model(str(FIXTURES / name))
    ids = [t.id for t in model.tokens(str(reference(name)["text"]))]
    n, last = len(ids), model.n_layers - 1
    (hs,) = model.attention(ids, [last], [model.n_heads - 1])
    assert isinstance(hs, HeadSteps) and (hs.layer, hs.head) == (last, model.n_heads - 1)
    s = hs.steps
    assert s.x.shape == (n, model.d_model)
    assert s.w_q.shape == s.w_k.shape == s.w_v.shape == (model.d_model, model.head_dim)
    assert s.q.shape == s.k.shape == s.v.shape == (n, model.head_dim)
    assert s.weights.shape == (n, n)
    np.testing.assert_allclose(s.weights.sum(axis=1), 1.0, atol=1e-12)
    if model.causal:
        assert (np.triu(s.weights, k=1) == 0).all()  # exactly 0, not merely small
        assert s.mask is not None and s.mask[0, 1]
    else:
        assert s.mask is None


def test_grouped_query_heads_share_their_key_value_head() -> None:
    model = load_model(str(FIXTURES / "mistral"))
    assert model.n_kv_heads < model.n_heads
    ids = [t.id for t in model.tokens("one two three")]
    first, last = model.attention(ids, [0], [0, model.n_heads - 1])
    np.testing.assert_array_equal(first.steps.k, last.steps.k)  # mistral: one kv head for all
    np.testing.assert_array_equal(first.steps.w_v, last.steps.w_v)
    assert not np.array_equal(first.steps.w_q, last.steps.w_q)


# ---- only what is needed is read ----


@pytest.mark.parametrize(("name", "later"), [("bert", "layer.1."), ("gpt2", "h.1."),
                                             ("llama", "layers.1.")])
def test_layer_0_reads_no_later_layer_and_no_mlp(
    name: str, later: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    original = Checkpoint.read

    def spy(self: Checkpoint, tensor: str, *args: object, **kwargs: object) -> np.ndarray:
        read.append(tensor)
        return original(self, tensor, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Checkpoint, "read", spy)
    model = load_model(str(FIXTURES / name))
    model.attention([t.id for t in model.tokens("hello there")], [0], [0])
    assert read, "the spy saw no read"
    assert not [t for t in read if later in t]
    assert not [t for t in read if "mlp" in t or "intermediate" in t or "c_fc" in t]


# ---- errors a user can act on ----


def test_unsupported_model_type_lists_the_supported_ones(tmp_path: Path) -> None:
    d = copy_fixture("bert", tmp_path / "m")
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "model_type": "pegasus_x"}))
    with pytest.raises(AttnError, match="'model_type' must be one of .*, got \"pegasus_x\"") as err:
        load_model(str(d))
    assert all(t in str(err.value) for t in FAMILIES)


@pytest.mark.parametrize(("model_type", "reason"), [
    ("deepseek_v2", "multi-head latent attention"), ("deepseek_v3", "latent"),
    ("gpt_oss", "MXFP4"), ("llama4", "chunked attention"), ("llama4_text", "chunked")])
def test_a_type_decided_against_is_refused_with_its_reason(model_type: str, reason: str,
                                                          tmp_path: Path) -> None:
    d = copy_fixture("bert", tmp_path / "m")
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "model_type": model_type}))
    with pytest.raises(AttnError, match=f"'{model_type}' is not supported: .*{reason}"):
        load_model(str(d))
    assert model_type not in FAMILIES


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json"])
def test_a_missing_file_is_named(missing: str, tmp_path: Path) -> None:
    d = copy_fixture("bert", tmp_path / "m", skip=(missing,))
    with pytest.raises(AttnError, match=missing):
        load_model(str(d))


def test_missing_weights_are_named(tmp_path: Path) -> None:
    d = copy_fixture("bert", tmp_path / "m", skip=("model.safetensors",))
    with pytest.raises(AttnError, match="no weights.*model.safetensors"):
        load_model(str(d))


def test_a_pickle_checkpoint_is_refused_and_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = copy_fixture("bert", tmp_path / "m", skip=("model.safetensors",))
    (d / "pytorch_model.bin").write_bytes(b"\x80\x04junk that is not a pickle at all")
    opened: list[str] = []
    real_open = builtins.open

    def spy_open(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    def no_unpickling(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_unpickling)
    with pytest.raises(AttnError, match=r"pytorch_model\.bin: a pickle checkpoint"):
        load_model(str(d))
    assert not [f for f in opened if f.endswith(".bin")]


def test_a_missing_tensor_is_named_with_its_file(tmp_path: Path) -> None:
    d = copy_fixture("bert", tmp_path / "m")
    with safe_open(str(d / "model.safetensors"), framework="numpy") as f:
        kept = {k: f.get_tensor(k) for k in f.keys() if "layer.0.attention.self.key.bias" not in k}
    save_file(kept, str(d / "model.safetensors"))
    model = load_model(str(d))
    ids = [t.id for t in model.tokens("hi")]
    with pytest.raises(AttnError, match=r"model\.safetensors: no tensor .*key\.bias"):
        model.attention(ids, [0], [0])


def test_old_bert_layer_norm_names_gamma_and_beta_are_read(tmp_path: Path) -> None:
    d = copy_fixture("bert", tmp_path / "m")
    with safe_open(str(d / "model.safetensors"), framework="numpy") as f:
        renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma")
                   .replace("LayerNorm.bias", "LayerNorm.beta"): f.get_tensor(k) for k in f.keys()}
    save_file(renamed, str(d / "model.safetensors"))
    old, new = load_model(str(d)), load_model(str(FIXTURES / "bert"))
    ids = [t.id for t in new.tokens("hello there")]
    np.testing.assert_array_equal(old.attention(ids, [1], [0])[0].steps.weights,
                                  new.attention(ids, [1], [0])[0].steps.weights)


def test_a_missing_shard_is_named(tmp_path: Path) -> None:
    d = copy_fixture("gpt2", tmp_path / "m")
    index = json.loads((d / "model.safetensors.index.json").read_text())
    shard = index["weight_map"][next(k for k in index["weight_map"] if "h.0.attn" in k)]
    (d / shard).unlink()
    model = load_model(str(d))
    with pytest.raises(AttnError, match=shard):
        model.attention([t.id for t in model.tokens("hi")], [0], [0])


def test_weights_that_disagree_with_the_config_are_refused(tmp_path: Path) -> None:
    d = copy_fixture("bert", tmp_path / "m")
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "intermediate_size": 7}))
    model = load_model(str(d))
    with pytest.raises(AttnError, match="has shape .* config.json implies"):
        model.attention([t.id for t in model.tokens("hi")], [1], [0])


@pytest.mark.parametrize(("layers", "heads", "what"), [([99], [0], "layer 99"),
                                                         ([0], [99], "head 99"),
                                                         ([-1], [0], "layer -1")])
def test_layer_or_head_out_of_range(layers: list[int], heads: list[int], what: str) -> None:
    model = load_model(str(FIXTURES / "bert"))
    ids = [t.id for t in model.tokens("hi")]
    with pytest.raises(AttnError, match=f"{what} is out of range"):
        model.attention(ids, layers, heads)


@pytest.mark.parametrize("name", ["bert", "roberta", "gpt2"])
def test_text_longer_than_the_positions_names_both_numbers(name: str) -> None:
    model = load_model(str(FIXTURES / name))
    assert model.max_positions is not None
    text = " ".join(["token"] * (model.max_positions + 5))
    n = len(encode(model.tokenizer, text))
    with pytest.raises(AttnError) as err:
        model.tokens(text)
    assert f"{n} tokens" in str(err.value) and f"at most {model.max_positions}" in str(err.value)


def test_the_tokenizer_never_pads_nor_truncates() -> None:
    model = load_model(str(FIXTURES / "bert"))  # its tokenizer.json pads to 128 and truncates
    assert len(model.tokens("hi")) == 3  # [CLS] hi [SEP]


# ---- repo ids in the Hugging Face cache ----


def fake_cache(tmp_path: Path, repo: str, name: str) -> Path:
    """A hub cache holding fixture `name` as repo `repo`, the way huggingface_hub lays it out."""
    cache = tmp_path / "hub"
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for f in (FIXTURES / name).iterdir():
        (snapshot / f.name).symlink_to(f)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("0123abcd")
    return cache


def test_a_repo_id_resolves_in_the_hf_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(fake_cache(tmp_path, "org/tiny-gpt2", "gpt2")))
    model = load_model("org/tiny-gpt2")
    assert model.name == "org/tiny-gpt2" and model.model_type == "gpt2"
    ids = [t.id for t in model.tokens("hello")]
    direct = load_model(str(FIXTURES / "gpt2")).attention(ids, [0], [0])[0]
    np.testing.assert_array_equal(model.attention(ids, [0], [0])[0].steps.weights,
                                  direct.steps.weights)


def test_hf_home_is_the_fallback_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert hub_cache() == tmp_path / "hub"


def test_a_repo_id_not_in_the_cache_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AttnError, match="no local copy of org/absent.*hf download org/absent"):
        load_model("org/absent")


def test_without_huggingface_hub_a_missing_repo_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(AttnError, match="no local copy of org/absent"):
        load_model("org/absent")


def test_a_path_that_is_neither_directory_nor_repo_id(tmp_path: Path) -> None:
    with pytest.raises(AttnError, match="no such directory"):
        load_model(str(tmp_path / "not" / "here"))


# ---- reading tensors ----


def write_safetensors(path: Path, tensors: dict[str, tuple[str, np.ndarray]]) -> None:
    """A safetensors file written by hand, so that bfloat16 needs no torch."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, raw) in tensors.items():
        blob = raw.tobytes()
        header[name] = {"dtype": dtype, "shape": list(raw.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_bfloat16_float16_and_float32_tensors_read_as_float32(tmp_path: Path) -> None:
    values = np.array([[1.0, -2.5, 0.15625], [3e38, -1e-3, 0.0]], dtype=np.float32)  # (2, 3)
    bf16 = (values.view(np.uint32) >> 16).astype(np.uint16)  # exact: the low half is 0 or cut
    write_safetensors(tmp_path / "model.safetensors", {
        "b": ("BF16", bf16),
        "h": ("F16", np.array([0.5, -1.25], dtype=np.float16)),
        "f": ("F32", values),
    })
    ckpt = Checkpoint.open(tmp_path)
    expect_b = (bf16.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(ckpt.read("b", (2, 3)), expect_b)
    np.testing.assert_array_equal(ckpt.read("b", (2, 3), rows=np.array([1])), expect_b[[1]])
    assert ckpt.read("b", (2, 3))[0, 1] == -2.5
    np.testing.assert_array_equal(ckpt.read("h", (2,)), [0.5, -1.25])
    np.testing.assert_array_equal(ckpt.read("f", (2, 3), rows=np.array([1, 0, 1])),
                                  values[[1, 0, 1]])
    assert {ckpt.read(k, s).dtype for k, s in [("b", (2, 3)), ("h", (2,)), ("f", (2, 3))]} == {
        np.dtype(np.float32)}


def test_every_bfloat16_bit_pattern_reads_as_the_float32_with_those_top_bits(
        tmp_path: Path) -> None:
    # all 65,536 patterns (±0, subnormals, ±inf, every NaN) as a (256, 256) tensor, whole and
    # by rows, as float32 and float64: the same bits as widening each one by hand in Python
    patterns = np.arange(2**16, dtype=np.uint16).reshape(256, 256)
    write_safetensors(tmp_path / "model.safetensors", {"b": ("BF16", patterns)})
    by_hand = np.frombuffer(b"".join(struct.pack("<I", int(p) << 16) for p in patterns.flat),
                            dtype=np.float32).reshape(256, 256)
    ckpt = Checkpoint.open(tmp_path)
    rows = np.array([255, 0, 7, 7, 128])
    for dtype in (np.float32, np.float64):
        with np.errstate(invalid="ignore"):  # widening a signalling NaN to float64
            whole = ckpt.read("b", (256, 256), dtype=dtype)
            some = ckpt.read("b", (256, 256), rows=rows, dtype=dtype)
            want = by_hand.astype(dtype)
        assert whole.dtype == some.dtype == dtype
        assert type(whole) is type(some) is np.ndarray and whole.flags.c_contiguous
        assert whole.tobytes() == want.tobytes()
        assert some.tobytes() == want[rows].tobytes()


@pytest.mark.parametrize("rows", [None, np.array([0])])
def test_a_truncated_file_is_an_attn_error(tmp_path: Path, rows: np.ndarray | None) -> None:
    write_safetensors(tmp_path / "model.safetensors", {"w": ("F32", np.ones((4, 4), np.float32))})
    whole = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(whole[:-8])
    with pytest.raises(AttnError, match="cannot read tensor 'w'"):
        Checkpoint.open(tmp_path).read("w", (4, 4), rows=rows)


def test_an_integer_tensor_is_refused(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model.safetensors", {"q": ("I8", np.zeros(4, np.int8))})
    with pytest.raises(AttnError, match="is I8"):
        Checkpoint.open(tmp_path).read("q", (4,))


def test_gelu_is_within_1e_7_of_the_erf_formula() -> None:
    x = np.linspace(-12, 12, 20_001)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.abs(gelu(x) - exact).max() < 1e-7
    assert np.abs(erf(x) - np.array([math.erf(v) for v in x])).max() < 1e-7


def _edit_config(path: Path, **changes) -> None:
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("name, changes, words", [
    ("bert", {"num_attention_heads": 0},
     ("'num_attention_heads' must be a whole number from 1 to 2,147,483,647, got 0",)),
    ("gpt2", {"n_head": 0}, ("'n_head' must be a whole number", "got 0")),
    ("bert", {"num_attention_heads": 5},
     ("'hidden_size' 32 does not split into 'num_attention_heads' 5 heads",)),
    ("bert", {"hidden_size": "big"}, ("'hidden_size' must be a whole number", 'got "big"')),
    ("bert", {"hidden_act": ["gelu"]}, ("'hidden_act' must be one of 'gelu'", 'got ["gelu"]')),
    ("bert", {"model_type": ["bert"]}, ("'model_type' must be one of", 'got ["bert"]')),
    ("bert", {"num_hidden_layers": 0}, ("'num_hidden_layers' must be", "got 0")),
    ("llama", {"rope_parameters": {"rope_type": "linear"}}, ("no 'rope_parameters.factor'",)),
    ("llama", {"rope_parameters": {"rope_type": "llama3", "factor": 8.0}},
     ("no 'rope_parameters.original_max_position_embeddings'",)),
    ("mistral", {"layer_types": ["sliding_attention"]}, ("'layer_types' must be a list of 2",)),
])
def test_configs_of_the_wrong_kind_are_refused(tmp_path: Path, name: str, changes: dict,
                                               words: tuple[str, ...]) -> None:
    d = copy_fixture(name, tmp_path / name)
    _edit_config(d, **changes)
    with pytest.raises(AttnError) as err:
        model = load_model(str(d))
        model.attention([t.id for t in model.tokens("a b")], [model.n_layers - 1], [0])
    for word in words:
        assert word in str(err.value)


def _rewrite_header(path: Path, header) -> None:
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + data[8 + size:])


@pytest.mark.parametrize("header", [[1, 2], {"x": {"dtype": "F32", "data_offsets": [0, 4]}},
                                    {"x": "F32"}, {"x": {"dtype": "F32", "shape": [1],
                                                         "data_offsets": [0]}}])
def test_safetensors_headers_of_the_wrong_shape_are_refused(tmp_path: Path, header) -> None:
    d = copy_fixture("bert", tmp_path / "bert")
    _rewrite_header(d / "model.safetensors", header)
    with pytest.raises(AttnError, match="not a valid safetensors file"):
        load_model(str(d))


def test_a_shard_index_whose_weight_map_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    d = copy_fixture("gpt2", tmp_path / "gpt2")
    index = json.loads((d / "model.safetensors.index.json").read_text())
    index["weight_map"] = list(index["weight_map"].values())
    (d / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(AttnError, match="not a valid shard index"):
        load_model(str(d))


def test_reads_as_mapped_bytes_packed_matrices_and_unaligned_tensors(tmp_path: Path) -> None:
    from attncli.models.layers import Packed

    rng = np.random.default_rng(5)
    values = rng.standard_normal((6, 4)).astype(np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype(np.uint16)
    expect_b = (bf16.astype(np.uint32) << 16).view(np.float32)
    write_safetensors(tmp_path / "model.safetensors", {
        "f": ("F32", values), "odd": ("BF16", bf16[:1, :1]),  # 2 bytes: what follows is unaligned
        "g": ("F32", values[:3]), "b": ("BF16", bf16), "c": ("BF16", bf16[::-1].copy()),
        "h": ("F16", values.astype(np.float16)), "v": ("BF16", bf16[0].copy())})
    ckpt = Checkpoint.open(tmp_path)
    f = ckpt.read("f", (6, 4))  # the mapped bytes themselves: read-only, the same numbers
    assert not f.flags.writeable and f.tobytes() == values.tobytes()
    g = ckpt.read("g", (3, 4))  # at an offset not a multiple of 4: copied, aligned
    assert g.flags.aligned and g.tobytes() == values[:3].tobytes()
    np.testing.assert_array_equal(ckpt.read("h", (6, 4)), values.astype(np.float16))
    b = ckpt.read("b", (6, 4))  # converted: its own read-only array
    assert b.tobytes() == expect_b.tobytes() and not b.flags.writeable
    # packed: the stored bits, (out, in), standing for their transpose; the same numbers
    c = ckpt.read_matrix("c", (6, 4))
    assert isinstance(c, Packed) and c.shape == (4, 6)
    assert c.whole().tobytes() == expect_b[::-1].T.tobytes()
    assert c.bits.tobytes() == bf16[::-1].tobytes()
    # what is not a bf16 matrix read whole as float32 is read as ever
    for name, shape, dtype in (("f", (6, 4), np.float32), ("b", (6, 4), np.float64),
                               ("v", (4,), np.float32)):
        assert isinstance(ckpt.read_matrix(name, shape, dtype), np.ndarray)
    wide = ckpt.read("b", (6, 4), dtype=np.float64)
    np.testing.assert_array_equal(wide, expect_b.astype(np.float64))
    assert ckpt.read("f", (6, 4), dtype=np.float64).dtype == np.float64
    assert ckpt.read("odd", (1, 1)).tobytes() == expect_b[:1, :1].tobytes()


def test_a_mapped_tensor_gives_its_pages_back_when_dropped(tmp_path: Path, monkeypatch) -> None:
    import gc

    values = np.arange(24, dtype=np.float32).reshape(6, 4)
    write_safetensors(tmp_path / "model.safetensors", {"f": ("F32", values)})
    ckpt = Checkpoint.open(tmp_path)
    given = []
    monkeypatch.setattr(ckpt, "_give_back", lambda *args: given.append(args))
    view = ckpt.read("f", (6, 4)).T[1:]  # a view of a view keeps the bytes mapped
    gc.collect()
    assert given == [] and view.sum() == values.T[1:].sum()
    del view
    gc.collect()
    assert len(given) == 1


def test_the_encoder_decoders_named_in_errors_are_the_registrys() -> None:
    from attncli.models import encoder_decoders

    assert encoder_decoders() == ["bart", "marian", "mbart", "mt5", "pegasus", "t5", "umt5"]
    model = load_model(str(FIXTURES / "bert"))
    with pytest.raises(AttnError, match=", ".join(encoder_decoders())):
        model.for_target([], "cross")


def test_the_readme_and_models_page_name_every_model_type_and_count_them() -> None:
    import re

    from attncli.models import FAMILIES

    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    (count,) = re.findall(r"\((\d+) Hugging Face model types", readme)
    assert int(count) == len(FAMILIES)
    table = "\n".join(line for line in readme.splitlines() if line.startswith("| `"))
    page = (root / "docs" / "models.md").read_text(encoding="utf-8")
    for model_type in FAMILIES:
        assert f"`{model_type}`" in table, model_type
        assert f"`{model_type}`" in page, model_type
