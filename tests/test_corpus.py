"""Heads over a corpus: records, aggregates, workers, resuming, bad lines, the CLI."""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke as run
from conftest import refused
from rich.console import Console

from attncli.corpus import local
from attncli.corpus import texts as corpus_texts
from attncli.corpus.aggregate import aggregate
from attncli.corpus.local import Failed, Job, run_local
from attncli.corpus.records import (
    Ready,
    Record,
    from_dict,
    ready_of,
    record_of,
    records_of,
    run_texts,
    to_dict,
    tokens_of,
)
from attncli.corpus.scores import STATS, keys_for, layer_scores
from attncli.corpus.store import Writer, read_records
from attncli.corpus.texts import Bad, Text, parse_lines
from attncli.errors import AttnError
from attncli.explain import explain_model
from attncli.flow import head_norms
from attncli.models import load_model
from attncli.roles import role_scores
from attncli.tokens import encode

FIXTURES = Path(__file__).parent / "fixtures" / "models"
BERT = str(FIXTURES / "bert")
GPT2 = str(FIXTURES / "gpt2")
TEXTS = ["The animal didn't cross the street because it was tired.",
         "The cat saw the cat.", "Apples, pears, and bread!", "A bank by the river.",
         "She said she would come; he said he would not.", "Hello world"]


def corpus(texts: list[str] = TEXTS) -> list[Text]:
    return [Text(str(i + 1), t, i + 1) for i, t in enumerate(texts)]


def records(name: str = BERT, texts: list[str] = TEXTS) -> list[Record]:
    model = load_model(name)
    out = [record_of(model, t.text, t.id, 4096) for t in corpus(texts)]
    assert all(isinstance(r, Record) for r in out)
    return out  # type: ignore[return-value]


def same(a: list[Record], b: list[Record]) -> None:
    """Equal records, whatever order they came in: bit for bit."""
    by_id = {r.id: r for r in b}
    assert sorted(by_id) == sorted(r.id for r in a)
    for r in a:
        other = by_id[r.id]
        assert (r.tokens, r.cut, r.roles) == (other.tokens, other.cut, other.roles)
        for name in STATS:
            np.testing.assert_array_equal(r.scores[name], other.scores[name])


# ---- the scores ----


@pytest.mark.parametrize("name", ["bert", "gpt2", "mistral"])  # encoder, causal, windows
def test_batched_scores_equal_role_scores_head_by_head(name: str) -> None:
    model = load_model(str(FIXTURES / name))
    text = "The cat saw the cat, and the dog saw it too."
    ex = explain_model(text, model, list(range(model.n_layers)), list(range(model.n_heads)))
    for layer in range(model.n_layers):
        shown = [hs for hs in ex.heads if hs.layer == layer]
        w = np.stack([hs.steps.weights for hs in shown])  # (H, n, n)
        mask = shown[0].steps.mask
        keys = keys_for(ex.tokens, text, mask, *w.shape[1:])
        for hs, (roles, _) in zip(shown, layer_scores(w, keys), strict=True):
            want = role_scores(hs.steps.weights, ex.tokens, text, mask)
            assert (roles.role, roles.k) == (want.role, want.k)
            for role, score in want.scores.items():
                got = roles.scores[role]
                assert (got is None) == (score is None), role
                if score is not None:
                    assert got == pytest.approx(score, abs=1e-12), role


def test_a_record_matches_heads_on_one_text() -> None:
    """The float32 pass a record comes from gives the one-text scores (float64) to 1e-5,
    and the share on special tokens by weight and by norm is flow's."""
    model = load_model(BERT)
    text = TEXTS[0]
    rec = record_of(model, text, "a", 4096)
    assert isinstance(rec, Record)
    ex = explain_model(text, model, list(range(model.n_layers)), list(range(model.n_heads)))
    norms = head_norms(ex, model.output_projection)
    sinks = [0] + [j for j, t in enumerate(ex.tokens) if t.end <= t.start]
    for hs, hn in zip(ex.heads, norms, strict=True):
        want = role_scores(hs.steps.weights, ex.tokens, text)
        assert rec.roles[hs.layer][hs.head] == want.role
        for role, score in want.scores.items():
            got = rec.scores[role][hs.layer, hs.head]
            assert math.isnan(got) if score is None else got == pytest.approx(score, abs=1e-5)
        weight = hs.steps.weights[:, sorted(set(sinks))].sum(axis=1).mean()
        norm = hn.shares[:, sorted(set(sinks))].sum(axis=1).mean()
        assert rec.scores["special_weight"][hs.layer, hs.head] == pytest.approx(weight, abs=1e-5)
        assert rec.scores["special_norm"][hs.layer, hs.head] == pytest.approx(norm, abs=1e-5)


def test_a_long_text_is_cut_with_its_special_tokens_or_skipped() -> None:
    model = load_model(BERT)
    text = " ".join(["word"] * 50)
    whole = encode(model.tokenizer, text)
    rec = record_of(model, text, "long", 10)
    assert isinstance(rec, Record) and rec.cut and rec.tokens == 10
    cut, was_cut, count = tokens_of(model, text, 10)
    assert was_cut and count == len(whole) and cut[-1].text == whole[-1].text == "[SEP]"
    skipped = record_of(model, text, "long", 10, "skip")
    assert not isinstance(skipped, Record) and skipped.tokens == len(whole)


# ---- aggregates ----


def test_the_aggregates_are_the_mean_and_sd_of_the_records() -> None:
    recs = records()
    agg = aggregate(recs)
    assert agg.texts == len(TEXTS) and agg.tokens == sum(r.tokens for r in recs)
    for name in STATS:
        stack = np.stack([r.scores[name] for r in recs])
        for (i, j), m in np.ndenumerate(agg.mean[name]):
            xs = stack[:, i, j][~np.isnan(stack[:, i, j])]
            assert agg.count[name][i, j] == len(xs)
            if len(xs) == 0:
                assert math.isnan(m)
                continue
            assert m == pytest.approx(xs.mean(), abs=1e-15)
            if len(xs) > 1:
                assert agg.sd[name][i, j] == pytest.approx(xs.std(ddof=1), abs=1e-15)
    assert (agg.role_share > 0).all()


def test_aggregates_do_not_depend_on_the_order_of_the_records() -> None:
    recs = records()
    a, b = aggregate(recs), aggregate(recs[::-1])
    for name in STATS:
        np.testing.assert_array_equal(a.mean[name], b.mean[name])
        np.testing.assert_array_equal(a.sd[name], b.sd[name])


def test_a_record_round_trips_through_json_exactly() -> None:
    for rec in records(GPT2):
        back = from_dict(json.loads(json.dumps(to_dict(rec))))
        same([rec], [back])


# ---- texts run together ----

FAMILIES = sorted(d.name for d in FIXTURES.iterdir() if (d / "config.json").exists())


@pytest.mark.parametrize("name", FAMILIES)
def test_texts_run_together_give_model_forwards_weights_and_one_texts_records(
        name: str) -> None:
    """A batch of texts of one length: each text's attention is Model.forward's on it alone
    and its record the one it gets alone, bit for bit (a mixture of experts runs its texts
    one at a time, its bits depending on the rows routed together)."""
    model = load_model(str(FIXTURES / name))
    ready = [ready_of(model, t, str(i), 4096) for i, t in enumerate(TEXTS)]
    n = min(len(r.ids) for r in ready)  # type: ignore[union-attr]
    group = [Ready(r.id, r.text, r.tokens[:n], r.ids[:n], False)  # type: ignore[union-attr]
             for r in ready]  # texts of one length: each cut to the shortest
    run = run_texts(model, np.stack([r.ids for r in group]))
    for j, r in enumerate(group):
        _, weights = model.forward(list(r.ids))
        for i, w in enumerate(weights):
            np.testing.assert_array_equal(run.weights[i][j], w)
    same(records_of(model, group), [records_of(model, [r])[0] for r in group])


def test_a_text_failing_in_a_batch_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of texts that fails (float32 overflow, say) is run again text by text, so only
    the text at fault is reported, with its line."""
    model = load_model(BERT)
    texts = corpus(["The cat saw the cat."] * 4)  # one length: one batch
    real = local.records_of

    def fails_on_3(m: object, batch: list[Ready]) -> list[Record]:
        if any(r.id == "3" for r in batch):
            raise AttnError("the numbers overflow")
        return real(m, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(local, "records_of", fails_on_3)
    out = local.score(model, texts, 4096, "cut")
    assert [type(o).__name__ for o in out] == ["Record", "Record", "Failed", "Record"]
    assert out[2] == Failed("3", 3, "the numbers overflow")


def test_texts_run_together_up_to_the_batch_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_model(BERT)
    texts = corpus(["The cat saw the cat."] * 5 + ["A bank by the river, and a bank."] * 3)
    sizes: list[tuple[int, int]] = []  # (texts, length) of each run
    real = local.records_of

    def seen(m: object, batch: list[Ready]) -> list[Record]:
        sizes.append((len(batch), len(batch[0].ids)))
        return real(m, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(local, "records_of", seen)
    n = len(ready_of(model, texts[0].text, "1", 4096).ids)  # type: ignore[union-attr]
    monkeypatch.setattr(local, "BATCH_CELLS", 2 * n * n)  # two of the short texts a run
    local.score(model, texts, 4096, "cut")
    long = len(ready_of(model, texts[-1].text, "1", 4096).ids)  # type: ignore[union-attr]
    assert sorted(sizes) == sorted([(1, long)] * 3 + [(2, n), (2, n), (1, n)])


# ---- workers ----


def test_one_worker_and_two_give_the_same_records() -> None:
    job = Job(BERT, None, 4096, "cut")
    texts = corpus(TEXTS * 3)  # more chunks than are sent ahead at once
    one = list(run_local(job, texts, 1))
    two = list(run_local(job, texts, 2, chunk=1))
    assert len(two) == len(texts)
    same(one, two)  # type: ignore[arg-type]
    same(one, list(run_local(job, texts, 1, chunk=5)))  # type: ignore[arg-type]


dask_required = os.environ.get("ATTN_REQUIRE_DASK") == "1"  # CI's job with the dask extra


def test_a_dask_local_cluster_gives_the_same_records_as_one_worker() -> None:
    if not dask_required:
        pytest.importorskip("distributed", reason="the attncli[dask] extra is not installed")
    from distributed import Client, LocalCluster

    from attncli.corpus.dask import run_dask

    job = Job(BERT, None, 4096, "cut")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        found = list(run_dask(job, corpus(TEXTS * 3), client, chunk=1))
    assert len(found) == 3 * len(TEXTS)
    same(list(run_local(job, corpus(TEXTS * 3), 1)), found)  # type: ignore[arg-type]


# ---- reading ----


def test_plain_and_jsonl_corpora_and_bad_lines_with_their_numbers() -> None:
    plain = parse_lines([b"one text\n", b"\n", b"two \xff\n", b"three\n"])
    assert plain == [Text("1", "one text", 1), Bad(3, "not valid UTF-8 (byte 5)"),
                     Text("4", "three", 4)]
    jsonl = parse_lines([b'{"text": "a", "id": "x"}\n', b'{"text": 3}\n', b"{oops\n",
                         b'{"text": "b", "id": "x"}\n', b'{"text": "c"}\n'])
    assert jsonl[0] == Text("x", "a", 1) and jsonl[-1] == Text("5", "c", 5)
    assert [b.line for b in jsonl if isinstance(b, Bad)] == [2, 3, 4]
    assert "used already, on line 1" in jsonl[3].why  # type: ignore[union-attr]


def test_the_sample_corpus_has_a_few_hundred_texts() -> None:
    found = corpus_texts.read_corpus("sample")
    assert 250 <= len(found) <= 1000 and all(isinstance(t, Text) for t in found)
    words = " ".join(t.text for t in found if isinstance(t, Text))
    assert "river" in words and "bank account" not in words and "loan" in words


def test_records_file_lines_are_whole_and_bad_ones_named(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = Writer(path, fresh=True)
    recs = records(texts=TEXTS[:2])
    for r in recs:
        writer.write(r)
    writer.close()
    with path.open("ab") as f:
        f.write(b'{"schema": "nope"}\n{"cut short')
    found = list(read_records(path))
    same(recs, [r for r in found if isinstance(r, Record)])
    assert [b.line for b in found if isinstance(b, Bad)] == [3, 4]


def test_a_fifo_is_never_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run("heads", "--model", BERT, "--corpus", "sample", "--out", str(fifo), "--resume")
    refused(result, "pipe")


# ---- the command ----


def corpus_file(tmp_path: Path, texts: list[str] = TEXTS) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def doc(result) -> dict:
    assert result.exit_code == 0, (result.stderr, result.stdout[-300:])
    return json.loads(result.stdout)


def test_cli_json_carries_the_aggregates(tmp_path: Path) -> None:
    result = run("heads", "--model", BERT, "--corpus", str(corpus_file(tmp_path)),
                 "--workers", "1", "--json")
    found = doc(result)
    assert found["schema"] == "attncli.corpus/1" and found["texts"] == len(TEXTS)
    agg = aggregate(records())
    for name in STATS:
        want = [[None if math.isnan(v) else v for v in row] for row in agg.mean[name].tolist()]
        assert found["stats"][name]["mean"] == want
    assert found["role"] == agg.role.tolist()
    assert "texts in" in result.stderr  # the summary line, off a terminal


def test_resume_after_an_interrupted_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    path = corpus_file(tmp_path)
    whole = doc(run("heads", "--model", BERT, "--corpus", str(path), "--workers", "1",
                    "--json"))
    out = tmp_path / "r.jsonl"
    first = records(texts=TEXTS[:3])  # what a run stopped after three texts had written
    writer = Writer(out, fresh=True)
    for r in first:
        writer.write(r)
    writer.close()
    with out.open("ab") as f:
        f.write(b'{"schema": "attncli.corpus.record/1", "id": "4", "tok')  # cut short
    resumed = run("heads", "--model", BERT, "--corpus", str(path), "--workers", "1",
                  "--out", str(out), "--resume", "--json")
    again = doc(resumed)
    assert "removed a record cut short" in resumed.stderr
    assert "3 already in the records file" in resumed.stderr
    assert again["stats"] == whole["stats"] and again["texts"] == len(TEXTS)
    rebuilt = doc(run("heads", "--from-records", str(out), "--json"))
    assert rebuilt["stats"] == whole["stats"]
    assert len(out.read_text().splitlines()) == len(TEXTS)


def test_an_existing_records_file_is_kept_without_resume(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("keep\n")
    result = run("heads", "--model", BERT, "--corpus", "sample", "--out", str(out))
    refused(result, "already exists", "--resume")
    assert out.read_text() == "keep\n"


def test_a_malformed_line_is_reported_with_its_number_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "The cat sat."}\n{"txt": "no"}\n{"text": "A dog ran."}\n')
    skipped = run("heads", "--model", BERT, "--corpus", str(path), "--workers", "1", "--json")
    assert doc(skipped)["texts"] == 2
    assert "line 2: no string field 'text'" in skipped.stderr
    assert "1 malformed lines skipped" in skipped.stderr
    refused(run("heads", "--model", BERT, "--corpus", str(path), "--bad-lines", "refuse"),
            "line 2", "no string field 'text'")


def test_corpus_from_stdin_and_the_rendering_at_a_fixed_width(tmp_path: Path) -> None:
    result = run("heads", "--model", BERT, "--corpus", "-", "--workers", "1",
                 stdin="\n".join(TEXTS) + "\n", width=80)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    flowing = " ".join(result.stdout.split())  # the header wraps where the model's path is long
    assert f"heads · {len(TEXTS)} texts" in flowing
    assert "mean ± sd over the texts" in flowing
    assert "Sinks by weight" in result.stdout and "Sinks by norm" in result.stdout


def test_render_lists_mean_and_sd() -> None:
    from attncli.render.corpus import overview

    agg = aggregate(records())
    buf = io.StringIO()
    Console(width=100, file=buf, color_system=None).print(overview(agg, top=2))
    text = buf.getvalue()
    i, j = np.unravel_index(np.nanargmax(agg.mean["special_weight"]), agg.shape)
    m, s = agg.mean["special_weight"][i, j], agg.sd["special_weight"][i, j]
    assert f"layer {i:>2} head {j:>2}  weight {100 * m:5.1f}% ± {100 * s:4.1f}" in text


def test_corpus_refusals() -> None:
    refused(run("heads", "--corpus", "sample"), "--model")
    refused(run("heads", "--model", BERT, "--corpus", "sample", "--from", "a", "--to", "b"),
            "--from")
    refused(run("heads", "--model", BERT, "--corpus", "sample", "--resume"), "--out")
    refused(run("heads", "The cat", "--model", BERT, "--workers", "2"), "--corpus")
    refused(run("heads", "--model", BERT, "--corpus", "sample", "--too-long", "fold"),
            "cut or skip")


def test_scheduler_without_dask_says_how_to_install(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    refused(run("heads", "--model", BERT, "--corpus", "sample", "--scheduler",
                "tcp://127.0.0.1:8786"), "pip install 'attncli[dask]'")


def test_norm_shares_for_every_head_equal_flows_head_by_head() -> None:
    from attncli.corpus.scores import norm_shares
    from attncli.flow import shares, weighted_norms

    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(5), size=(4, 5))  # (H, n, m), rows sum to 1
    v = rng.normal(size=(2, 5, 3))  # two value heads, each serving two query heads
    w_o = rng.normal(size=(12, 7))
    got = norm_shares(w, v, w_o)
    for h in range(4):
        want = shares(weighted_norms(w[h], v[h // 2], w_o[h * 3:(h + 1) * 3]))
        np.testing.assert_allclose(got[h], want, rtol=0, atol=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_batched_scores_equal_role_scores_on_random_heads(seed: int) -> None:
    from attncli.tokens import word_level

    text = "the cat , the dog and the cat ."
    tokens = word_level(text)
    n = len(tokens)
    rng = np.random.default_rng(seed)
    mask = np.triu(np.ones((n, n), dtype=bool), k=1) if seed % 2 else None
    w = rng.dirichlet(np.full(n, 0.3), size=(5, n))  # (H, n, n), some rows peaked
    if mask is not None:
        w = np.where(mask, 0.0, w)
        w /= w.sum(axis=-1, keepdims=True)
    keys = keys_for(tokens, text, mask, n, n)
    for h, (roles, _) in enumerate(layer_scores(w, keys)):
        want = role_scores(w[h], tokens, text, mask)
        assert (roles.role, roles.k, roles.score) == (want.role, want.k,
                                                      pytest.approx(want.score, abs=1e-12))
        for role, score in want.scores.items():
            assert roles.scores[role] == (None if score is None
                                          else pytest.approx(score, abs=1e-12)), role


def test_ctrl_c_keeps_every_record_written_and_resume_finishes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "attncli", "heads", "--model", BERT, "--corpus", "sample",
           "--workers", "2", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"--resume continues" in err
    kept = list(read_records(out))
    assert kept and all(isinstance(r, Record) for r in kept)
    assert len(kept) < 307  # stopped before the end
    done = subprocess.run([*cmd, "--resume", "--json"], env=env, capture_output=True,
                          check=True)
    whole = doc(run("heads", "--model", BERT, "--corpus", "sample", "--workers", "1", "--json"))
    assert json.loads(done.stdout)["stats"] == whole["stats"]
    assert len(out.read_text().splitlines()) == 307


def test_the_command_on_a_dask_scheduler_writes_records_as_a_local_run(tmp_path: Path) -> None:
    if not dask_required:
        pytest.importorskip("distributed", reason="the attncli[dask] extra is not installed")
    from distributed import LocalCluster

    path = corpus_file(tmp_path)
    whole = doc(run("heads", "--model", BERT, "--corpus", str(path), "--workers", "1",
                    "--json"))
    out = tmp_path / "r.jsonl"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                      dashboard_address=None) as cluster:
        found = doc(run("heads", "--model", BERT, "--corpus", str(path), "--scheduler",
                        cluster.scheduler_address, "--out", str(out), "--json"))
    assert found["stats"] == whole["stats"]
    assert doc(run("heads", "--from-records", str(out), "--json"))["stats"] == whole["stats"]
