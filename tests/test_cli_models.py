"""`--model` through the command line: explain, heads and compare on the tiny fixtures.

Every number is checked against the reference attentions transformers computed for each
fixture (tests/fixtures/models/README.md), and every refusal is one line and exit code 2.
"""

from __future__ import annotations

import builtins
import json
import pickle
import re
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import after_header, ok_json, refused
from conftest import invoke as run

import attncli

FIXTURES = Path(__file__).parent / "fixtures" / "models"
SAMPLE = Path(__file__).resolve().parent.parent / "sample_weights" / "animal-tired.json"
ARCHS = ["bert", "roberta", "distilbert", "gpt2", "llama", "qwen2", "mistral"]
DECODERS = {"gpt2", "llama", "qwen2", "mistral"}
TOLERANCE = 1e-5
N_LAYERS, N_HEADS = 2, 4  # every fixture (README: 2 layers, 4 heads)
WINDOWS = {"mistral": {0: 4, 1: 4}, "qwen2": {1: 4}}  # README: sliding windows, layer by layer












def reference(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / name / "reference.npz", allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def fixture(name: str) -> str:
    return str(FIXTURES / name)


TEXT = str(reference("bert")["text"])  # the same sentence for every fixture
assert TEXT == "The animal didn't cross the street because it was tired"


# ---------------------------------------------------------------- explain --model


@pytest.fixture(scope="module", params=ARCHS)
def every_head(request) -> tuple[str, dict]:
    """(arch, the --json of explain --layer all --head all) for each fixture, made once."""
    name = request.param
    doc = ok_json(run("explain", TEXT, "--model", fixture(name), "--layer", "all",
                      "--head", "all", "--json"))
    return name, doc


def test_every_head_equals_the_reference_attentions(every_head) -> None:
    name, doc = every_head
    ref = reference(name)
    assert doc["schema"] == "attncli.explain/1"
    assert [t["id"] for t in doc["tokens"]] == ref["input_ids"].tolist()
    expected = ref["attentions"]  # (layers, heads, n, n)
    assert expected.shape[:2] == (N_LAYERS, N_HEADS)
    assert [(h["layer"], h["head"]) for h in doc["heads"]] == [
        (layer, head) for layer in range(N_LAYERS) for head in range(N_HEADS)]
    n = len(doc["tokens"])
    for h in doc["heads"]:
        weights = np.array(h["weights"], dtype=np.float64)
        assert weights.shape == (n, n)
        diff = float(np.abs(weights - expected[h["layer"], h["head"]]).max())
        assert diff <= TOLERANCE, f"{name} layer {h['layer']} head {h['head']}: {diff:.3g}"
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-9)


def test_config_names_the_model(every_head) -> None:
    name, doc = every_head
    config = doc["config"]
    assert config["model"] == fixture(name)  # as given on the command line
    assert config["architecture"] == name
    assert config["layers"] == [0, 1]
    assert config["head_indices"] == [0, 1, 2, 3]
    assert config["heads"] == N_HEADS
    assert config["d_model"] == 32 and config["d_k"] == 8 and config["d_v"] == 8
    assert config["causal"] is (name in DECODERS)


def test_decoders_are_masked_causally_and_encoders_are_not(every_head) -> None:
    name, doc = every_head
    n = len(doc["tokens"])
    for h in doc["heads"]:
        if name in DECODERS:
            # causal, and in a sliding layer also blind to keys `window` or more back
            window = WINDOWS.get(name, {}).get(h["layer"])
            masked = {(i, j) for i in range(n) for j in range(n)
                      if j > i or (window is not None and j <= i - window)}
            if window is not None:
                assert any(j < i for i, j in masked)  # the sentence is longer than the window
            assert all(h["scaled"][i][j] is None for i, j in masked)
            assert all(h["weights"][i][j] == 0 for i, j in masked)  # exactly 0
            assert all(h["scaled"][i][j] is not None
                       for i in range(n) for j in range(n) if (i, j) not in masked)
        else:
            assert not any(v is None for row in h["scaled"] for v in row)
            assert min(min(row) for row in h["weights"]) > 0


def test_a_later_layer_carries_its_own_x(every_head) -> None:
    name, doc = every_head
    ref = reference(name)
    first = [h for h in doc["heads"] if h["layer"] == 0]
    later = [h for h in doc["heads"] if h["layer"] == 1]
    assert all("x" not in h for h in first)
    assert all("x" in h for h in later)
    assert np.array(later[0]["x"]).shape == (len(doc["tokens"]), 32)
    # layer 1's x is that layer's attention input: not the embeddings of layer 0
    assert not np.allclose(later[0]["x"], doc["embeddings"])
    assert ref["hidden_in"].shape[0] == N_LAYERS


SPECIALS = {  # (first token, last token) the post-processor adds, or None
    "bert": ("[CLS]", "[SEP]"),
    "distilbert": ("[CLS]", "[SEP]"),
    "roberta": ("<s>", "</s>"),
    "llama": ("<s>", None),
    "mistral": ("<s>", None),
    "gpt2": (None, None),
    "qwen2": (None, None),
}


def test_tokens_include_the_post_processor_specials(every_head) -> None:
    name, doc = every_head
    tokens = doc["tokens"]
    first, last = SPECIALS[name]
    if first is None:
        assert tokens[0]["end"] > tokens[0]["start"]  # a real piece of the text
        assert tokens[0]["text"] in ("The", "ĠThe", "▁The")
    else:
        assert tokens[0]["text"] == first
        assert tokens[0]["start"] == tokens[0]["end"]  # covers no text
    if last is None:
        assert tokens[-1]["text"].lstrip("Ġ▁") == "tired"
    else:
        assert tokens[-1]["text"] == last
        assert tokens[-1]["start"] == tokens[-1]["end"]
    for t in tokens:
        assert 0 <= t["start"] <= t["end"] <= len(TEXT)


@pytest.mark.parametrize("name", ["bert", "llama"])
def test_defaults_are_the_last_layer_and_head_0(name: str) -> None:
    doc = ok_json(run("explain", TEXT, "--model", fixture(name), "--json"))
    assert [(h["layer"], h["head"]) for h in doc["heads"]] == [(N_LAYERS - 1, 0)]
    assert doc["config"]["layers"] == [N_LAYERS - 1]
    assert doc["config"]["head_indices"] == [0]
    expected = reference(name)["attentions"][N_LAYERS - 1, 0]
    np.testing.assert_allclose(doc["heads"][0]["weights"], expected, atol=TOLERANCE, rtol=0)
    # the one head shown: its x is the document's embeddings, not repeated
    assert "x" not in doc["heads"][0]


def test_default_layer_and_head_are_documented() -> None:
    help_text = " ".join(run("explain", "--help").stdout.split())
    assert "[default: last]" in help_text
    assert "[default: 0 with --model, all otherwise]" in help_text


def test_layer_and_head_lists_and_negative_indices() -> None:
    doc = ok_json(run("explain", TEXT, "--model", fixture("gpt2"), "--layer", "-2",
                      "--head", "3,1", "--json"))
    # lists are shown in ascending order, whatever order they were given in
    assert [(h["layer"], h["head"]) for h in doc["heads"]] == [(0, 1), (0, 3)]
    ref = reference("gpt2")["attentions"]
    for h in doc["heads"]:
        np.testing.assert_allclose(h["weights"], ref[h["layer"], h["head"]], atol=TOLERANCE,
                                   rtol=0)


def test_terminal_view_of_a_model_shows_its_tokens_and_weights() -> None:
    result = run("explain", TEXT, "--model", fixture("bert"), "--layer", "0", "--head", "2",
                 "--show", "softmax", "--precision", "4", width=200)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "more" not in out  # 14 columns fit in 200
    assert "[CLS]" in out and "[SEP]" in out and "animal" in out
    weights = reference("bert")["attentions"][0, 2]
    row = weights[2]  # "animal"
    # the largest weight in the row, to 4 places, is shown with its * mark
    assert f"{row.max():.4f}*" in out


# ---------------------------------------------------------------- heads --model


def explain_weights(name: str) -> dict[tuple[int, int], np.ndarray]:
    doc = ok_json(run("explain", TEXT, "--model", fixture(name), "--layer", "all",
                      "--head", "all", "--json"))
    return {(h["layer"], h["head"]): np.array(h["weights"]) for h in doc["heads"]}


@pytest.mark.parametrize("name", ["bert", "llama"])
def test_heads_grid_equals_explain_weights_for_the_pair(name: str) -> None:
    doc = ok_json(run("heads", TEXT, "--model", fixture(name), "--from", "it", "--to",
                      "animal", "--json"))
    assert doc["schema"] == "attncli.heads/1"
    assert doc["layers"] == [0, 1] and doc["heads"] == [0, 1, 2, 3]
    labels = [t["text"].lstrip("Ġ▁").lower() for t in doc["tokens"]]
    src, dst = doc["from"], doc["to"]
    assert labels[src] == "it" and labels[dst] == "animal"
    weights = explain_weights(name)
    grid = np.array(doc["grid"])
    assert grid.shape == (N_LAYERS, N_HEADS)
    for (layer, head), w in weights.items():
        assert grid[layer, head] == pytest.approx(w[src, dst], abs=1e-12)
    ref = reference(name)["attentions"]
    np.testing.assert_allclose(grid, ref[:, :, src, dst], atol=TOLERANCE, rtol=0)

    top = doc["top"]
    assert len(top) == 5  # --top defaults to 5
    baseline = np.array(doc["baseline"])
    assert baseline.shape == grid.shape
    # ranked by how far each weight rises above its baseline, not by the weight alone
    lifts = [t["weight"] - t["baseline"] for t in top]
    assert lifts == sorted(lifts, reverse=True)
    assert lifts[0] == pytest.approx((grid - baseline).max(), abs=1e-12)
    for t in top:
        assert (t["from"], t["to"]) == (src, dst)
        assert t["weight"] == pytest.approx(grid[t["layer"], t["head"]], abs=1e-12)
        assert t["baseline"] == pytest.approx(baseline[t["layer"], t["head"]], abs=1e-12)
    assert len({(t["layer"], t["head"]) for t in top}) == len(top)


def test_heads_text_shows_the_grid_and_the_sorted_top_list() -> None:
    result = run("heads", TEXT, "--model", fixture("bert"), "--from", "it", "--to", "animal",
                 "--top", "8")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "How much “it” attends to “animal”" in out
    assert "ranked by weight minus baseline" in out
    ref = reference("bert")["attentions"]
    # bert: [CLS] the animal didn ' t cross the street because it was tired [SEP]
    column = ref[:, :, 10, 2]
    baseline = ref[:, :, :, 2].mean(axis=2)  # an encoder: every query may see "animal"
    rows = [re.fullmatch(r"layer +(\d) head +(\d) +([\d.]+)% +([\d.]+)% +([+-][\d.]+)"
                         r"(?:  position|  sink)?", line)
            for line in out.splitlines() if line.startswith("layer ")]
    rows = [m for m in rows if m]
    assert len(rows) == 8
    for m in rows:
        layer, head = int(m[1]), int(m[2])
        assert float(m[3]) == pytest.approx(100 * column[layer, head], abs=0.051)
        assert float(m[4]) == pytest.approx(100 * baseline[layer, head], abs=0.051)
    lifts = [float(m[5]) for m in rows]
    assert lifts == sorted(lifts, reverse=True)
    assert lifts[0] == pytest.approx(100 * (column - baseline).max(), abs=0.051)
    grid_rows = [line.split() for line in out.splitlines()
                 if re.fullmatch(r"\s+[01](\s+[░▒▓█]?\s*\d+){4}", line)]
    assert [row[0] for row in grid_rows] == ["0", "1"]
    cells = [int(c) for row in grid_rows for c in re.findall(r"\d+", " ".join(row[1:]))]
    assert cells == [round(100 * float(w)) for w in column.ravel()]


def test_heads_and_compare_quote_bpe_words_without_their_space() -> None:
    # gpt2's byte-level tokens cover the space before a word (" animal"): heads shows it as ␣
    result = run("heads", TEXT, "--model", fixture("gpt2"), "--from", "it", "--to", "animal")
    assert result.exit_code == 0, result.stderr
    assert "How much “␣it” attends to “␣animal”" in result.stdout
    assert "␣ marks the space a byte-level tokenizer folds into a token" in result.stdout
    assert "“ " not in result.stdout and " →  " not in result.stdout
    result = run("compare", TEXT, "The tired animal slept", "--word", "animal",
                 "--model", fixture("gpt2"), "--head", "0")
    assert result.exit_code == 0, result.stderr
    assert after_header(result.stdout).startswith("“animal” in two contexts")
    assert "Output of “animal” in layer 1 head 0" in result.stdout


def test_heads_without_a_pair_lists_strongest_links_sorted() -> None:
    doc = ok_json(run("heads", TEXT, "--model", fixture("distilbert"), "--top", "6", "--json"))
    assert doc["schema"] == "attncli.heads/1"
    assert "grid" not in doc
    assert len(doc["patterns"]) == N_LAYERS
    assert all(len(row) == N_HEADS for row in doc["patterns"])
    values = [t["specificity"] for t in doc["top"]]
    assert len(values) == 6 and values == sorted(values, reverse=True)
    ref = reference("distilbert")["attentions"]
    for t in doc["top"]:
        assert t["from"] != t["to"]
        assert t["weight"] == pytest.approx(float(ref[t["layer"], t["head"], t["from"], t["to"]]),
                                            abs=TOLERANCE)
    result = run("heads", TEXT, "--model", fixture("distilbert"))
    assert result.exit_code == 0, result.stderr
    assert "What each head does: its strongest role" in result.stdout
    assert "Most specific links between two different words" in result.stdout


def test_heads_layer_and_head_subsets() -> None:
    doc = ok_json(run("heads", TEXT, "--model", fixture("qwen2"), "--layer", "1",
                      "--head", "0,2", "--from", "was", "--to", "it", "--json"))
    assert doc["layers"] == [1] and doc["heads"] == [0, 2]
    assert np.array(doc["grid"]).shape == (1, 2)
    ref = reference("qwen2")["attentions"]
    np.testing.assert_allclose(doc["grid"][0], ref[1, [0, 2], doc["from"], doc["to"]],
                               atol=TOLERANCE, rtol=0)


# ---------------------------------------------------------------- compare --model


def test_compare_with_a_model_gives_json_and_text() -> None:
    args = ("compare", TEXT, "The tired animal slept", "--word", "animal",
            "--model", fixture("gpt2"))
    doc = ok_json(run(*args, "--json"))
    assert doc["schema"] == "attncli.compare/1"
    assert doc["word"] == "animal"
    assert doc["config"]["architecture"] == "gpt2"
    assert doc["config"]["model"] == fixture("gpt2")
    for side in ("a", "b"):
        index = doc[side]["index"]
        assert doc[side]["tokens"][index]["text"].lstrip("Ġ") == "animal"
        (head,) = doc[side]["heads"]
        assert (head["layer"], head["head"]) == (1, 0)
        weights = np.array(head["weights"])
        assert weights.sum() == pytest.approx(1.0, abs=1e-9)
        assert (weights[index + 1:] == 0).all()  # gpt2 is causal
        assert len(head["output"]) == 8
    # sentence A is the reference text: its row equals transformers' attentions
    ref = reference("gpt2")["attentions"][1, 0]
    np.testing.assert_allclose(doc["a"]["heads"][0]["weights"], ref[doc["a"]["index"]],
                               atol=TOLERANCE, rtol=0)
    assert -1.0 <= doc["cosine"] <= 1.0 and -1.0 <= doc["input_cosine"] <= 1.0
    assert len(doc["head_cosines"]) == 1
    assert doc["head_cosines"][0] == pytest.approx(doc["cosine"], abs=1e-12)
    result = run(*args, "--layer", "1")  # one head's view, as the JSON's
    assert result.exit_code == 0, result.stderr
    assert "“animal” in two contexts" in result.stdout
    assert f"cosine {doc['cosine']:.3f}" in result.stdout


def test_compare_with_a_model_and_all_heads() -> None:
    doc = ok_json(run("compare", TEXT, TEXT, "--word", "tired", "--model", fixture("bert"),
                      "--layer", "0", "--head", "all", "--json"))
    assert len(doc["head_cosines"]) == N_HEADS
    assert doc["head_cosines"] == pytest.approx([1.0] * N_HEADS, abs=1e-12)
    assert doc["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert doc["input_cosine"] == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- a fake HF cache


def test_a_repo_id_is_found_in_the_hf_cache(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    repo = hub / "models--org--name"
    shutil.copytree(FIXTURES / "llama", repo / "snapshots" / "abc123")
    shutil.copytree(FIXTURES / "bert", repo / "snapshots" / "old999")  # not refs/main
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    env = {"HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    doc = ok_json(run("explain", TEXT, "--model", "org/name", "--layer", "all", "--head", "all",
                      "--json", env=env))
    assert doc["config"]["model"] == "org/name"
    assert doc["config"]["architecture"] == "llama"
    ref = reference("llama")
    assert [t["id"] for t in doc["tokens"]] == ref["input_ids"].tolist()
    for h in doc["heads"]:
        np.testing.assert_allclose(h["weights"], ref["attentions"][h["layer"], h["head"]],
                                   atol=TOLERANCE, rtol=0)
    heads = ok_json(run("heads", TEXT, "--model", "org/name", "--from", "it", "--to", "animal",
                        "--json", env=env))
    assert heads["config"]["model"] == "org/name"


def test_hf_home_is_used_when_hf_hub_cache_is_unset(tmp_path: Path) -> None:
    repo = tmp_path / "home" / "hub" / "models--org--tiny"
    shutil.copytree(FIXTURES / "distilbert", repo / "snapshots" / "0123abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc\n")
    env = {"HF_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": "", "HF_HUB_OFFLINE": "1"}
    doc = ok_json(run("explain", TEXT, "--model", "org/tiny", "--json", env=env))
    assert doc["config"]["architecture"] == "distilbert"
    np.testing.assert_allclose(doc["heads"][0]["weights"],
                               reference("distilbert")["attentions"][1, 0], atol=TOLERANCE,
                               rtol=0)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("extra", "words"), [
    (("--layer", "2"), ("layer 2", "out of range")),
    (("--layer", "-3"), ("layer -3", "out of range")),
    (("--head", "4"), ("head 4", "out of range")),
    (("--head", "0,9"), ("head 9", "out of range")),
    (("--layer", "one"), ("--layer",)),
])
def test_layer_or_head_out_of_range_is_refused(extra: tuple[str, ...],
                                               words: tuple[str, ...]) -> None:
    refused(run("explain", TEXT, "--model", fixture("bert"), *extra), *words)
    refused(run("explain", TEXT, "--model", fixture("bert"), *extra, "--json"), *words)


def test_heads_layer_out_of_range_is_refused() -> None:
    refused(run("heads", TEXT, "--model", fixture("gpt2"), "--layer", "5"), "layer 5")


class _Marker:
    """Unpickling this opens (so creates) a file: proof that pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (builtins.open, (self.path, "w"))


def test_a_pickle_checkpoint_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    # the payload is live: unpickling it elsewhere does create its file
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Marker(proof))).close()
    assert proof.exists()

    marker = tmp_path / "UNPICKLED"
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(FIXTURES / "bert" / name, model / name)
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(_Marker(marker)))
    for args in (("explain", TEXT), ("heads", TEXT), ("compare", TEXT, TEXT, "--word", "it")):
        refused(run(*args, "--model", str(model)), "pytorch_model.bin", "safetensors")
        assert not marker.exists()
    assert not marker.exists()


def test_unsupported_model_type_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "pegasus_x"
    shutil.copytree(FIXTURES / "bert", model)
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = "pegasus_x"
    (model / "config.json").write_text(json.dumps(config))
    refused(run("explain", TEXT, "--model", str(model)), "'model_type' must be one of",
            "'bert'", 'got "pegasus_x"')


def test_missing_config_json_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "noconfig"
    shutil.copytree(FIXTURES / "bert", model, ignore=lambda _d, names: ["config.json"])
    refused(run("explain", TEXT, "--model", str(model)), "config.json", "missing")


def test_missing_tokenizer_json_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "notok"
    shutil.copytree(FIXTURES / "bert", model, ignore=lambda _d, names: ["tokenizer.json"])
    refused(run("explain", TEXT, "--model", str(model)), "tokenizer.json")


def test_missing_repo_id_is_refused_without_network(tmp_path: Path) -> None:
    env = {"HF_HUB_CACHE": str(tmp_path / "empty-hub"), "HF_HUB_OFFLINE": "1"}
    line = refused(run("explain", TEXT, "--model", "org/not-there", env=env), "org/not-there")
    assert str(tmp_path / "empty-hub") in line


def test_a_path_that_is_neither_dir_nor_repo_id_is_refused(tmp_path: Path) -> None:
    refused(run("explain", TEXT, "--model", str(tmp_path / "a" / "b" / "c")), "no such directory")
    afile = tmp_path / "config.json"
    afile.write_text("{}")
    refused(run("explain", TEXT, "--model", str(afile)), "is a file")


@pytest.mark.parametrize("extra", [
    ("--weights", str(SAMPLE)),
    ("--d-model", "16"),
    ("--heads", "2"),
    ("--causal",),
    ("--positions", "sinusoidal"),
    ("--tokenizer", str(FIXTURES / "bert" / "tokenizer.json")),
])
def test_options_that_clash_with_model_are_refused(extra: tuple[str, ...]) -> None:
    line = refused(run("explain", TEXT, "--model", fixture("bert"), *extra),
                   "cannot be combined with --model")
    assert extra[0] in line


def test_layer_needs_a_model_and_head_works_everywhere() -> None:
    refused(run("explain", TEXT, "--layer", "0"), "--layer", "--model")
    doc = ok_json(run("explain", TEXT, "--heads", "3", "--d-model", "6", "--head", "2", "--json"))
    assert [h["head"] for h in doc["heads"]] == [2] and doc["config"]["head_indices"] == [2]
    refused(run("explain", TEXT, "--heads", "3", "--d-model", "6", "--head", "3"),
            "head 3 is out of range",
            "0 to 2")


def test_text_longer_than_the_model_positions_is_refused() -> None:
    # roberta has 64 usable positions (README): 80 words are too many
    refused(run("explain", " ".join(["the"] * 80), "--model", fixture("roberta")))


# ---------------------------------------------------------------- step 2 as the model does it

ROPE = {"llama", "qwen2", "mistral"}


@pytest.mark.parametrize("arch", ARCHS)
def test_step_two_can_be_redone_from_the_json_alone(arch: str) -> None:
    # Q = X·W_Q (+ b_Q), then RoPE for llama-like models: the document carries what it takes
    doc = ok_json(run("explain", TEXT, "--model", fixture(arch), "--layer", "0", "--json"))
    h = doc["heads"][0]
    x = np.array(doc["embeddings"])
    for m in ("q", "k", "v"):
        got = x @ np.array(h[f"w_{m}"])
        if f"b_{m}" in h:
            got = got + np.array(h[f"b_{m}"])
        shown = h.get(f"{m}_unrotated", h[m])  # v is never rotated
        np.testing.assert_allclose(got, shown, atol=1e-9, rtol=0)
    assert ("q_unrotated" in h) == (arch in ROPE)
    assert ("b_q" in h) == (arch != "mistral")  # mistral has no biases; llama attention_bias
    assert doc["config"]["positions"] == ("rope" if arch in ROPE else "learned")
    schema = json.loads((Path(attncli.__file__).parent / "explain.schema.json").read_text())
    jsonschema.validate(doc, schema)


def test_the_terminal_states_the_formula_each_model_really_uses() -> None:
    seeded = run("explain", TEXT, "--show", "qkv").stdout
    bert = run("explain", TEXT, "--model", fixture("bert"), "--show", "w,qkv").stdout
    llama = run("explain", TEXT, "--model", fixture("llama"), "--show", "qkv").stdout
    mistral = run("explain", TEXT, "--model", fixture("mistral"), "--show", "qkv").stdout
    assert "Q = X·W_Q, K = X·W_K, V = X·W_V:" in seeded and "b_Q" not in seeded
    assert "Q = X·W_Q + b_Q, K = X·W_K + b_K, V = X·W_V + b_V:" in bert
    assert "b_Q (1×8)" in bert and "b_V (1×8)" in bert  # the biases are shown, too
    # mistral has no biases; the llama fixture has attention_bias (q, k, v and o biases)
    assert "Q = X·W_Q, K = X·W_K, V = X·W_V:" in mistral and "RoPE" in mistral
    assert "b_Q" not in mistral
    assert "Q = X·W_Q + b_Q, K = X·W_K + b_K, V = X·W_V + b_V:" in llama and "RoPE" in llama
    for out in (llama, mistral):
        assert "Q before RoPE (" in out and "K before RoPE (" in out
    assert "RoPE" not in bert and "before RoPE" not in seeded


def test_a_models_x_is_named_as_the_layers_input() -> None:
    out = run("explain", TEXT, "--model", fixture("bert"), "--layer", "1,0", "--show", "x").stdout
    assert "Step 1 · X, the input of layer 0" in out  # lists are sorted: layer 0 comes first
    assert "X, the input of layer 1 (" in out
    assert "Embeddings X" not in out
    assert "Step 1 · Embeddings X" in run("explain", TEXT, "--show", "x").stdout
    tokens = run("explain", TEXT, "--model", fixture("bert"), "--show", "tokens").stdout
    assert after_header(tokens).startswith("Tokens (the model's own tokenizer)\n")


def test_byte_level_labels_line_up_without_their_space() -> None:
    out = run("explain", TEXT, "--model", fixture("gpt2"), "--show", "softmax").stdout
    lines = out.splitlines()
    assert any(line.startswith("animal ") for line in lines)  # in line with "The" above it
    assert not any(line.startswith(" animal") for line in lines)


def test_compare_opens_the_model_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import attncli.models

    calls = []
    real = attncli.models.load_model
    monkeypatch.setattr(attncli.models, "load_model",
                        lambda spec, *more: calls.append(spec) or real(spec, *more))
    model = shutil.copytree(FIXTURES / "bert", tmp_path / "bert")  # a path no run has opened
    result = run("compare", "The animal was tired", "The animal slept", "--word", "animal",
                 "--model", str(model), "--json")
    assert result.exit_code == 0, result.stderr
    assert calls == [str(model)]
