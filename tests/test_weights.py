"""weights.py: seeded weights and embeddings, the three file formats, and the embeddings table."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, strict_json
from conftest import refused as assert_one_error_line

from attncli import weights as wts
from attncli.errors import AttnError
from attncli.explain import explain
from attncli.tokens import word_level
from attncli.weights import files as weightfiles

SUFFIXES = (".json", ".npz", ".safetensors")




# ---------------------------------------------------------------- seeded


def test_a_seeded_embedding_depends_only_on_the_text_and_the_seed() -> None:
    a = wts.seeded_embedding("cat", 0, 8)
    assert a.shape == (8,)
    assert a.tobytes() == wts.seeded_embedding("cat", 0, 8).tobytes()
    assert not np.array_equal(a, wts.seeded_embedding("cat", 1, 8))  # another seed
    assert not np.array_equal(a, wts.seeded_embedding("dog", 0, 8))  # another word
    assert not np.array_equal(a, wts.seeded_embedding("Cat", 0, 8))  # the exact text counts


def test_the_same_word_has_the_same_vector_in_every_sentence() -> None:
    ws = wts.seeded(0, 8, 4, 4, 1)
    one = explain("the cat sat", word_level("the cat sat"), ws, seed=0)
    two = explain("a big cat", word_level("a big cat"), ws, seed=0)
    assert one.x[1].tobytes() == two.x[2].tobytes()  # "cat" in both
    assert one.x[1].tolist() == wts.seeded_embedding("cat", 0, 8).tolist()
    other_seed = explain("the cat sat", word_level("the cat sat"), ws, seed=7)
    assert not np.array_equal(one.x[1], other_seed.x[1])


def test_the_same_word_has_the_same_vector_through_the_cli() -> None:
    a = strict_json(invoke("explain", "the cat sat", "--json").stdout)
    b = strict_json(invoke("explain", "my cat", "--json").stdout)
    c = strict_json(invoke("explain", "my cat", "--json", "--seed", "3").stdout)
    assert a["embeddings"][1] == b["embeddings"][1]
    assert c["embeddings"][1] != b["embeddings"][1]
    assert a["config"]["embeddings"] == "seeded" and a["config"]["weights"] == "seeded"


def test_seeded_numbers_have_two_decimals_and_no_negative_zero() -> None:
    ws = wts.seeded(5, 16, 8, 8, 2)
    numbers = np.concatenate([np.concatenate([h.w_q, h.w_k, h.w_v]).ravel() for h in ws.heads]
                             + [wts.seeded_embedding(w, 5, 16) for w in ("a", "b", "c")])
    assert np.array_equal(np.round(numbers, 2), numbers)
    assert len(set(numbers.tolist())) > 10  # real draws, not a constant
    assert not any(str(v) == "-0.0" for v in numbers.tolist())


def test_seeded_weights_are_scaled_by_one_over_root_d_model() -> None:
    # Standard normal draws times 1/√d_model: with d_model = 256 their spread is about 1/16.
    w = wts.seeded(0, 256, 64, 64, 1).heads[0].w_q
    assert 0.045 < float(w.std()) < 0.08
    assert float(wts.seeded(0, 4, 64, 64, 1).heads[0].w_q.std()) > 0.35  # 1/√4 = 0.5


def test_seeded_weights_are_byte_identical_for_a_seed_and_differ_between_seeds() -> None:
    a, b, c = wts.seeded(3, 8, 4, 2, 2), wts.seeded(3, 8, 4, 2, 2), wts.seeded(4, 8, 4, 2, 2)
    for ha, hb in zip(a.heads, b.heads, strict=True):
        for name in ("w_q", "w_k", "w_v"):
            assert getattr(ha, name).tobytes() == getattr(hb, name).tobytes()
    assert not np.array_equal(a.heads[0].w_q, c.heads[0].w_q)
    assert not np.array_equal(a.heads[0].w_q, a.heads[1].w_q)  # heads differ
    assert (a.d_model, a.d_k, a.d_v, len(a.heads)) == (8, 4, 2, 2)
    assert a.source == "seeded" and a.embeddings is None


def test_the_same_command_prints_byte_identical_output() -> None:
    for args in (["explain", "The animal was tired", "--heads", "2"],
                 ["explain", "The animal was tired", "--json", "--seed", "9"]):
        first, second = invoke(*args), invoke(*args)
        assert first.exit_code == 0
        assert first.stdout_bytes == second.stdout_bytes


@pytest.mark.parametrize("sizes", [(0, 4, 4, 1), (8, 0, 4, 1), (8, 4, 4, 65), (5000, 4, 4, 1)])
def test_sizes_out_of_range_are_refused(sizes: tuple[int, int, int, int]) -> None:
    with pytest.raises(AttnError, match="must be between 1 and"):
        wts.seeded(0, *sizes)


# ---------------------------------------------------------------- files: round trips


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_weights_init_then_load_gives_back_the_seeded_weights(tmp_path: Path,
                                                              suffix: str) -> None:
    path = tmp_path / f"w{suffix}"
    result = invoke("weights", "init", "-o", str(path), "--seed", "4", "--d-model", "6",
                    "--heads", "2", "--text", "The cat sat")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"wrote {path} (d_model 6, d_k 3, d_v 3, 2 heads)"
    ws = weightfiles.load(path)
    want = wts.seeded(4, 6, 3, 3, 2)
    assert len(ws.heads) == 2
    for got, exp in zip(ws.heads, want.heads, strict=True):
        for name in ("w_q", "w_k", "w_v"):
            assert getattr(got, name).tolist() == getattr(exp, name).tolist()
    assert list(ws.embeddings) == ["The", "cat", "sat"]
    for word, vec in ws.embeddings.items():
        assert vec.tolist() == wts.seeded_embedding(word, 4, 6).tolist()
    assert ws.description == "Seeded weights (seed 4)."
    assert ws.source == str(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_and_load_keep_dims_description_and_a_single_head(tmp_path: Path,
                                                               suffix: str) -> None:
    head = wts.HeadWeights(np.array([[0.1, 2.0], [3.5, -4.25]]), np.array([[1.0, 0], [0, 1]]),
                           np.array([[1 / 3], [2 / 3]]))
    ws = wts.WeightSet((head,), {"ünïcode": np.array([1.5, -2.0]), "b": np.array([0.0, 1e-300])},
                       ("x", "y"), "a description — with “quotes”")
    path = tmp_path / f"one{suffix}"
    weightfiles.save(ws, path)
    back = weightfiles.load(path)
    assert len(back.heads) == 1
    assert back.heads[0].w_q.tolist() == [[0.1, 2.0], [3.5, -4.25]]
    assert back.heads[0].w_v.tolist() == [[1 / 3], [2 / 3]]  # every digit survives
    assert {k: v.tolist() for k, v in back.embeddings.items()} == {
        "ünïcode": [1.5, -2.0], "b": [0.0, 1e-300]}
    assert back.dims == ("x", "y")
    assert back.description == "a description — with “quotes”"
    with pytest.raises(AttnError, match="already exists"):
        weightfiles.save(ws, path)
    weightfiles.save(ws, path, force=True)


def test_weights_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    assert invoke("weights", "init", "-o", str(path)).exit_code == 0
    before = path.read_bytes()
    assert_one_error_line(invoke("weights", "init", "-o", str(path), "--seed", "1"),
                          "already exists", "--force")
    assert path.read_bytes() == before
    assert invoke("weights", "init", "-o", str(path), "--seed", "1", "--force").exit_code == 0
    assert path.read_bytes() != before


def test_weights_init_json_is_readable_and_loads_as_one_head(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    invoke("weights", "init", "-o", str(path), "--d-model", "4")
    doc = json.loads(path.read_text())
    assert set(doc) == {"description", "w_q", "w_k", "w_v"}  # no embeddings without --text
    assert np.array(doc["w_q"]).shape == (4, 2)
    assert "[" + ", ".join(str(v) for v in doc["w_q"][0]) + "]" in path.read_text()  # row on a line


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_weights_show_prints_what_the_file_holds(tmp_path: Path, suffix: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a short name keeps the header on one line
    path = Path(f"w{suffix}")
    invoke("weights", "init", "-o", str(path), "--d-model", "4", "--heads", "2",
           "--text", "hello world")
    result = invoke("weights", "show", str(path))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{path}  d_model 4 · d_k 2 · d_v 2 · 2 heads" in out
    assert "Seeded weights (seed 0)." in out
    assert "Embeddings (2×4)" in out
    assert "Head 0 (of 2: 0 to 1)" in out and "Head 1 (of 2: 0 to 1)" in out
    assert "W_O (4×4)" in out  # several heads: the file has the W_O that joins them
    first = wts.seeded(0, 4, 2, 2, 2).heads[0].w_q[0]
    row = next(line for line in out.splitlines() if line.startswith("d0 "))
    assert f"{first[0]:.2f}" in row and f"{first[1]:.2f}" in row
    hello = wts.seeded_embedding("hello", 0, 4)
    hello_row = next(line for line in out.splitlines() if line.startswith("hello"))
    assert hello_row.split()[1:] == [f"{v:.2f}" for v in hello]


def test_weights_show_says_when_there_is_no_embeddings_table(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = Path("w.npz")
    invoke("weights", "init", "-o", str(path))
    out = invoke("weights", "show", str(path)).stdout
    assert "No embeddings table: tokens get seeded embeddings." in out
    assert "1 head" in out and "heads" not in out.splitlines()[0]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_saved_file_explains_exactly_like_the_seeded_weights(tmp_path: Path,
                                                               suffix: str) -> None:
    path = tmp_path / f"w{suffix}"
    invoke("weights", "init", "-o", str(path), "--seed", "2", "--text", "The animal was tired")
    from_file = strict_json(invoke("explain", "The animal was tired", "-w", str(path),
                                   "--json").stdout)
    seeded = strict_json(invoke("explain", "The animal was tired", "--seed", "2",
                                "--json").stdout)
    assert from_file["config"]["embeddings"] == "file"
    assert from_file["config"]["weights"] == str(path)
    assert from_file["embeddings"] == seeded["embeddings"]
    assert from_file["heads"] == seeded["heads"]


# ---------------------------------------------------------------- the embeddings table


def test_a_file_without_embeddings_uses_seeded_ones_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    invoke("weights", "init", "-o", str(path), "--seed", "1")
    result = invoke("explain", "the cat", "-w", str(path), "--seed", "5", "--json")
    doc = strict_json(result.stdout)
    note = f"{path} has no embeddings table, so the embeddings are seeded (seed 5)."
    assert doc["notes"] == [note]
    assert doc["config"]["embeddings"] == "seeded"
    assert doc["embeddings"][1] == wts.seeded_embedding("cat", 5, 8).tolist()
    shown = invoke("explain", "the cat", "-w", str(path), "--seed", "5", "--show", "x",
                   width=200)
    assert note in shown.stdout
    assert "no embeddings table" not in invoke("explain", "the cat", "--show", "x").stdout


def test_a_token_missing_from_the_table_names_it_and_the_known_tokens(i_love_ai: Path) -> None:
    line = assert_one_error_line(invoke("explain", "I love cheese", "-w", str(i_love_ai)),
                                 "'cheese'", "I, love, AI", str(i_love_ai))
    assert "has no embedding" in line
    with pytest.raises(AttnError, match=r"token 'cheese' has no embedding .*it knows: I, love, AI"):
        ws = weightfiles.load(i_love_ai)
        explain("I love cheese", word_level("I love cheese"), ws, seed=0)


def test_a_long_table_lists_twenty_tokens_and_the_count(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    table = {f"w{i}": [float(i), 0.0] for i in range(25)}
    path.write_text(json.dumps({"embeddings": table, "w_q": [[1], [0]], "w_k": [[1], [0]],
                                "w_v": [[1], [0]]}))
    line = assert_one_error_line(invoke("explain", "w1 nope", "-w", str(path)), "'nope'")
    assert "w0, w1, w2" in line and "w19, … (25 in all)" in line and "w20" not in line


def test_lookup_is_exact_first_then_ignoring_case(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"embeddings": {"Cat": [1, 0], "cat": [0, 1], "Dog": [2, 2]},
                                "w_q": [[1], [0]], "w_k": [[1], [0]], "w_v": [[1], [0]]}))
    doc = strict_json(invoke("explain", "cat Cat DOG dog", "-w", str(path), "--json").stdout)
    assert doc["embeddings"] == [[0, 1], [1, 0], [2, 2], [2, 2]]
    # "CAT" matches both "Cat" and "cat" ignoring case, and they differ: refused, both named
    assert_one_error_line(invoke("explain", "CAT", "-w", str(path)),
                          "'CAT' matches Cat, cat ignoring case", "differ")


def test_entries_that_agree_ignoring_case_are_used(animal_tired: Path) -> None:
    # animal-tired.json has "The" and "the", both [0, 0, 0, 0, 1, 0]: "THE" may use them
    doc = strict_json(invoke("explain", "THE ANIMAL", "-w", str(animal_tired), "--json").stdout)
    assert doc["embeddings"] == [[0, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 0]]


# ---------------------------------------------------------------- several heads


def test_a_json_file_with_heads(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"heads": [
        {"w_q": [[1, 0], [0, 1]], "w_k": [[1, 0], [0, 1]], "w_v": [[1], [0]]},
        {"w_q": [[0, 1], [1, 0]], "w_k": [[2, 0], [0, 2]], "w_v": [[0], [1]]},
    ]}))
    ws = weightfiles.load(path)
    assert len(ws.heads) == 2 and (ws.d_model, ws.d_k, ws.d_v) == (2, 2, 1)
    assert ws.heads[1].w_k.tolist() == [[2, 0], [0, 2]]
    doc = strict_json(invoke("explain", "a b c", "-w", str(path), "--json").stdout)
    assert doc["config"]["heads"] == 2
    assert [(h["layer"], h["head"]) for h in doc["heads"]] == [(0, 0), (0, 1)]
    assert doc["heads"][1]["w_v"] == [[0], [1]]
    # head 2's values are the second column of X, since W_V picks it out
    assert [row[0] for row in doc["heads"][1]["v"]] == [row[1] for row in doc["embeddings"]]


def test_a_npz_file_with_three_dimensional_arrays_has_one_head_per_slice(tmp_path: Path) -> None:
    path = tmp_path / "three.npz"
    rng = np.random.default_rng(1)
    w_q, w_k, w_v = (rng.standard_normal((3, 4, 2)) for _ in range(3))
    np.savez(path, w_q=w_q, w_k=w_k, w_v=w_v)
    ws = weightfiles.load(path)
    assert len(ws.heads) == 3
    for h in range(3):
        assert ws.heads[h].w_q.tolist() == w_q[h].tolist()
        assert ws.heads[h].w_v.tolist() == w_v[h].tolist()


@pytest.mark.parametrize(("heads", "message"), [
    ({"w_q": [[[1]], [[1]]], "w_k": [[[1]]], "w_v": [[[1]], [[1]]]}, "same number of heads"),
    ({"heads": [{"w_q": [[1, 0]], "w_k": [[1, 0]], "w_v": [[1]]},
                {"w_q": [[1]], "w_k": [[1]], "w_v": [[1]]}]}, "same shapes"),
    ({"heads": []}, "non-empty list"),
])
def test_inconsistent_heads_are_refused(tmp_path: Path, heads: dict, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(heads))
    assert_one_error_line(invoke("explain", "a b", "-w", str(path)), message, str(path))


def test_the_sample_weights_are_found_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no sample_weights/ here: the copy inside the package is used
    result = invoke("explain", "The animal was tired", "-w", "sample_weights/animal-tired.json",
                    "--json")
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    assert Path(doc["config"]["weights"]).parts[-3:] == ("attncli", "sample_weights",
                                                          "animal-tired.json")
    assert doc["heads"][0]["weights"][3][1] == pytest.approx(0.645974, abs=1e-6)
    # a file of that name in the folder itself comes first
    (tmp_path / "sample_weights").mkdir()
    (tmp_path / "sample_weights" / "animal-tired.json").write_text(json.dumps(
        {"w_q": [[1.0]], "w_k": [[1.0]], "w_v": [[1.0]]}))
    doc = strict_json(invoke("explain", "a b", "-w", "sample_weights/animal-tired.json",
                             "--json").stdout)
    assert doc["config"]["d_model"] == 1
    refused = invoke("explain", "a", "-w", "sample_weights/nope.json")
    assert refused.exit_code == 2 and "no such weights file" in refused.stderr


def test_a_file_too_large_is_refused_naming_the_file_not_an_option(tmp_path: Path) -> None:
    path = tmp_path / "tall.json"
    rows = [[0.0]] * 5000  # d_model 5000: more than the limit of 4096
    path.write_text(json.dumps({"w_q": rows, "w_k": rows, "w_v": rows}))
    line = assert_one_error_line(invoke("explain", "a b", "-w", str(path)))
    assert str(path) in line
    assert "d_model (the rows of w_q) must be between 1 and 4096, got 5000" in line
    assert "--" not in line  # the user typed no --d-model: the message does not name one


def test_a_files_w_o_and_names_round_trip(tmp_path: Path) -> None:
    ws = replace(wts.seeded(1, 4, 2, 2, 2), qk_dims=("a", "b"), v_dims=("x", "y"),
                 b_o=np.arange(4.0))
    for suffix in (".json", ".npz", ".safetensors"):
        weightfiles.save(ws, tmp_path / f"w{suffix}")
        back = weightfiles.load(tmp_path / f"w{suffix}")
        assert (back.qk_dims, back.v_dims) == (("a", "b"), ("x", "y")), suffix
        np.testing.assert_array_equal(back.w_o, ws.w_o)
        np.testing.assert_array_equal(back.b_o, ws.b_o)
    bad = tmp_path / "bad.json"
    doc = weightfiles.to_json_doc(ws)
    doc["w_o"] = doc["w_o"][:-1]  # one row short of heads × d_v
    bad.write_text(json.dumps(doc))
    assert_one_error_line(invoke("explain", "a b", "-w", str(bad)), "'w_o' is 3×4",
                          "4×4")
