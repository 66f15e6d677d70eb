"""The forward loop's hook points (models.base.Hooks), on the tiny fixtures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from attncli.models import FAMILIES, Hooks, load_model, predicting
from attncli.models.blocks import AttentionWeights

FIXTURES = Path(__file__).parent / "fixtures" / "models"


def ids_of(name: str) -> list[int]:
    return np.load(FIXTURES / name / "reference.npz")["input_ids"].tolist()


@pytest.mark.parametrize("name", ["llama", "bert", "gpt_neox"])
def test_zeroing_a_head_output_equals_zeroing_its_rows_of_w_o(name: str, monkeypatch) -> None:
    model = load_model(str(FIXTURES / name))
    ids, head, hd = ids_of(name), 1, model.head_dim

    def knock_out(layer: int, z: np.ndarray) -> np.ndarray:  # z: (n_heads, n, head_dim)
        if layer == 0:
            z = z.copy()
            z[head] = 0
        return z

    # float64: the copy of W_O below changes its memory order, and with it BLAS's sums
    hooked, _ = model.forward(ids, float64=True, hooks=Hooks(head_outputs=knock_out))
    plain, _ = model.forward(ids, float64=True)
    load = type(model).load_attention

    def rows_zeroed(self, i: int, dtype: type = np.float32) -> AttentionWeights:  # noqa: ANN001
        attn = load(self, i, dtype)
        if i != 0:
            return attn
        w_o = attn.w_o.copy()  # (n_heads * head_dim, d_model)
        w_o[head * hd:(head + 1) * hd] = 0
        return replace(attn, w_o=w_o)

    monkeypatch.setattr(type(model), "load_attention", rows_zeroed)
    zeroed, _ = model.forward(ids, float64=True)
    np.testing.assert_allclose(hooked, zeroed, rtol=1e-10, atol=1e-10)
    assert np.abs(hooked - plain).max() > 1e-3  # the head mattered


@pytest.mark.parametrize("name", ["bert", "llama", "gpt2", "gemma2"])
def test_the_residual_hook_sees_the_stream_entering_each_layer(name: str) -> None:
    ref = np.load(FIXTURES / name / "reference.npz")
    model = load_model(str(FIXTURES / name))
    seen: dict[int, np.ndarray] = {}
    model.forward(ref["input_ids"].tolist(), float64=True,
                  hooks=Hooks(residual=lambda i, h: seen.setdefault(i, h)))
    assert sorted(seen) == list(range(model.n_layers + 1))  # and the last layer's output
    for i, expected in enumerate(ref["hidden_in"]):  # transformers', entering layer i
        np.testing.assert_allclose(seen[i], expected, rtol=1e-4, atol=1e-4)


def test_the_residual_hook_in_run_sees_the_layers_up_to_the_last_shown() -> None:
    model = load_model(str(FIXTURES / "llama"))
    seen: list[int] = []
    model.run(ids_of("llama"), [0], [0], hooks=Hooks(residual=lambda i, h: seen.append(i)))
    assert seen == [0]
    seen.clear()
    model.run(ids_of("llama"), [1], [0], hooks=Hooks(residual=lambda i, h: seen.append(i)))
    assert seen == [0, 1]


def test_the_keys_values_hook_gets_each_kv_head_after_rope() -> None:
    model = load_model(str(FIXTURES / "llama"))  # 4 query heads on 2 key/value heads
    ids = ids_of("llama")
    got: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    model.forward(ids, float64=True,
                  hooks=Hooks(keys_values=lambda i, k, v: got.setdefault(i, (k, v))))
    assert sorted(got) == list(range(model.n_layers))
    for k, v in got.values():
        assert k.shape == v.shape == (model.n_kv_heads, len(ids), model.head_dim)
    # query head 2 reads key/value head 1: its Steps' (rotated) keys and values are the hook's
    for layer in range(model.n_layers):
        steps = model.run(ids, [layer], [2], float64=True)[0][0].steps
        np.testing.assert_allclose(steps.k, got[layer][0][1], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(steps.v, got[layer][1][1], rtol=1e-9, atol=1e-12)


def test_hidden_states_are_the_residual_hooks_view() -> None:
    model = load_model(str(FIXTURES / "gpt2"))
    ids = ids_of("gpt2")
    hidden = model.hidden_states(ids)
    out, _ = model.forward(ids)
    assert len(hidden) == model.n_layers + 1
    assert hidden[-1].tobytes() == out.tobytes()


def test_a_run_changes_no_state_on_the_model() -> None:
    model = load_model(str(FIXTURES / "llama"))
    before = {k: id(v) for k, v in vars(model).items()}
    checkpoint = {k: id(v) for k, v in vars(model.checkpoint).items()}
    model.run(ids_of("llama"), [1], [0], float64=True)
    model.forward(ids_of("llama"), float64=True)
    assert {k: id(v) for k, v in vars(model).items()} == before
    assert {k: id(v) for k, v in vars(model.checkpoint).items()} == checkpoint


def test_predict_runs_the_families_that_have_an_lm_head() -> None:
    assert predicting() == sorted(predicting())
    assert set(predicting()) == set(FAMILIES)


@pytest.mark.parametrize("kind", ["self", "cross"])
def test_a_t5_decoder_run_fires_every_hook_with_its_shapes(kind: str) -> None:
    model = load_model(str(FIXTURES / "t5"))
    ref = np.load(FIXTURES / "t5" / "reference.npz")
    source = model.tokens(str(ref["text"]))
    decoder = model.for_target(source, kind)
    ids = [t.id for t in decoder.target_tokens(str(ref["target"]))]
    n, s, last = len(ids), len(source), decoder.n_layers - 1
    seen: dict[str, list] = {"residual": [], "kv": [], "z": []}
    hooks = Hooks(residual=lambda i, h: seen["residual"].append((i, h.shape)),
                  keys_values=lambda i, k, v: seen["kv"].append((i, k.shape, v.shape)),
                  head_outputs=lambda i, z: seen["z"].append((i, z.shape)) or z)
    decoder.run(ids, [last], [0], hooks=hooks)
    m = n if kind == "self" else s  # cross-attention's keys are the source's tokens
    heads, hd = decoder.n_heads, decoder.head_dim
    assert seen["residual"] == [(i, (n, decoder.d_model)) for i in range(last + 1)]
    assert seen["kv"] == [(i, (heads, m, hd), (heads, m, hd)) for i in range(last)]
    assert seen["z"] == [(i, (heads, n, hd)) for i in range(last)]


@pytest.mark.parametrize("kind", ["self", "cross"])
def test_zeroing_a_t5_decoder_head_changes_what_follows(kind: str) -> None:
    model = load_model(str(FIXTURES / "t5"))
    ref = np.load(FIXTURES / "t5" / "reference.npz")
    decoder = model.for_target(model.tokens(str(ref["text"])), kind)
    ids = [t.id for t in decoder.target_tokens(str(ref["target"]))]
    last = decoder.n_layers - 1

    def zeroing(heads: list[int]) -> Hooks:
        def hook(layer: int, z: np.ndarray) -> np.ndarray:
            z = z.copy()
            z[heads] = 0
            return z
        return Hooks(head_outputs=hook)

    def output(hooks: Hooks) -> np.ndarray:
        _, joined = decoder.run(ids, [last], [0], join=True, float64=True, hooks=hooks)
        assert joined is not None
        return joined.output  # (n, d_model): the last layer's heads through W_O

    plain = output(Hooks())
    np.testing.assert_array_equal(output(zeroing([])), plain)  # zeroing nothing: the same
    assert np.abs(output(zeroing([1])) - plain).max() > 1e-3
