"""The records of many texts, in this process or in worker processes on this machine.

Each worker process opens the model once (worker_model) and scores chunks of texts. Within
a chunk, the texts of one token length run together as a batch of streams (each layer's
weights read once for all of them, no padding); a text's numbers do not depend on the
texts beside it (records.run_texts), so a record does not depend on which worker made it,
nor on how the texts were chunked or batched, and the results do not depend on the number
of workers. chunks() sorts the texts by length in windows, so that a chunk holds texts of
few lengths. Records come back as each chunk is done, in no fixed order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from attncli.corpus.records import Ready, Record, Skipped, ready_of, records_of
from attncli.corpus.texts import Text
from attncli.errors import AttnError
from attncli.models.base import Model

CHUNK = 32  # texts per task: enough to batch texts of one length, few enough to share the
# last ones out evenly between the workers
WINDOW = 32 * CHUNK  # texts sorted by length together before they are cut into chunks
BATCH_TOKENS = 2048  # at most this many tokens (texts × length) run as one batch,
BATCH_CELLS = 65536  # and this many query-key pairs a head (texts × length²): a batch keeps
# every layer's weights until it is scored, so long texts run a few at a time, or alone
AHEAD = 4  # chunks in flight per worker


@dataclass(frozen=True)
class Failed:
    """A text the model refused (a tokenizer error, a token outside the vocabulary)."""

    id: str
    line: int
    why: str


Outcome = Record | Skipped | Failed


@dataclass(frozen=True)
class Job:
    """What every worker needs: which model, and what to do with a long text."""

    model: str
    revision: str | None
    max_tokens: int
    too_long: str


_MODELS: dict[tuple[str, str | None], Model] = {}
_LOCK = threading.Lock()  # one text at a time per process (a Dask worker runs threads)


def worker_model(model: str, revision: str | None) -> Model:
    """The model of this worker process, opened on first use and kept."""
    key = (model, revision)
    if key not in _MODELS:
        from attncli.models import load_model

        _MODELS[key] = load_model(model, revision)
    return _MODELS[key]


def score(model: Model, texts: Sequence[Text], max_tokens: int, too_long: str
          ) -> list[Outcome]:
    """Each text's record, Skipped or Failed, in order; the texts of one length run
    together, in batches of at most BATCH_TOKENS tokens and BATCH_CELLS pairs."""
    out: list[Outcome | None] = [None] * len(texts)
    lengths: dict[int, list[tuple[int, Ready]]] = {}
    for at, t in enumerate(texts):
        try:
            found = ready_of(model, t.text, t.id, max_tokens, too_long)
        except AttnError as exc:
            out[at] = Failed(t.id, t.line, str(exc))
            continue
        if isinstance(found, Skipped):
            out[at] = found
        else:
            lengths.setdefault(len(found.ids), []).append((at, found))
    for n, group in lengths.items():
        size = max(1, min(BATCH_TOKENS // n, BATCH_CELLS // (n * n)))
        for start in range(0, len(group), size):
            batch = group[start:start + size]
            try:
                done: list[Outcome] = list(records_of(model, [r for _, r in batch]))
            except AttnError:  # one text fails the batch: run each alone to find which
                done = []
                for at, r in batch:
                    try:
                        done.extend(records_of(model, [r]))
                    except AttnError as exc:
                        done.append(Failed(r.id, texts[at].line, str(exc)))
            for (at, _), outcome in zip(batch, done, strict=True):
                out[at] = outcome
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def score_chunk(job: Job, texts: Sequence[Text]) -> list[Outcome]:
    """score() in a worker: its model opened once, one chunk at a time."""
    with _LOCK:
        return score(worker_model(job.model, job.revision), texts, job.max_tokens, job.too_long)


def chunks(texts: Sequence[Text], size: int = CHUNK, window: int = WINDOW
           ) -> list[list[Text]]:
    """texts in runs of size, each window of texts sorted by length (in characters, a
    stand-in for tokens) first, so that a run holds texts of few token lengths; the longest
    first, so that the runs left to share out at the end are the quickest."""
    out: list[list[Text]] = []
    for w in range(0, len(texts), window):
        part = sorted(texts[w:w + window], key=lambda t: -len(t.text))
        out.extend(part[i:i + size] for i in range(0, len(part), size))
    return out


def _quiet_worker() -> None:
    """A worker leaves Ctrl-C to the main process, which stops the pool."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_local(job: Job, texts: Sequence[Text], workers: int, model: Model | None = None,
              chunk: int = CHUNK) -> Iterator[Outcome]:
    """Every text's outcome as it is done: in this process with one worker (model, if
    given, is the one opened already), else in `workers` processes, each opening the model
    once. Stopping the iteration (Ctrl-C) cancels the chunks not started."""
    if workers <= 1:
        loaded = model if model is not None else worker_model(job.model, job.revision)
        for part in chunks(texts, chunk):
            yield from score(loaded, part, job.max_tokens, job.too_long)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # the workers inherit the environment: `attn` asks BLAS for one thread each (cli/blas.py)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_quiet_worker)
    parts = iter(chunks(texts, chunk))
    pending: set[Future[list[Outcome]]] = set()
    try:
        while True:
            # a few chunks per worker in flight: a done chunk is let go once read, so
            # nothing here grows with the corpus
            while len(pending) < AHEAD * workers and (part := next(parts, [])):
                pending.add(pool.submit(score_chunk, job, part))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield from future.result()
    except BrokenProcessPool:
        raise AttnError("a worker process stopped (killed, or out of memory); the records "
                        "written so far are kept") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
