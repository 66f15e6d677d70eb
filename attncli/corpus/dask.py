"""The records of many texts on a Dask distributed cluster (the `attncli[dask]` extra).

The same chunks as local.py, sent to the cluster's workers: each worker process opens the
model once (local.worker_model keeps it, keyed by the path and revision) from a path or Hub
id it can reach itself. The client gets the outcomes back as chunks finish and writes the
records and aggregates, as a local run does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from attncli.corpus.local import AHEAD, CHUNK, Job, Outcome, chunks, score_chunk
from attncli.corpus.texts import Text
from attncli.errors import AttnError

INSTALL = ("running on a Dask cluster needs Dask: pip install 'attncli[dask]' (dask and "
           "distributed), on this machine and on the workers")


def client_for(address: str | Any) -> Any:
    """A distributed.Client for the scheduler at address (or address itself, a Client)."""
    try:
        import distributed
    except ImportError:
        raise AttnError(INSTALL) from None
    if isinstance(address, distributed.Client):
        return address
    try:
        return distributed.Client(address, timeout="10s")
    except OSError as exc:
        raise AttnError(f"cannot reach the Dask scheduler at {address} ({exc})") from None


def run_dask(job: Job, texts: Sequence[Text], address: str | Any, chunk: int = CHUNK
             ) -> Iterator[Outcome]:
    """Every text's outcome as its chunk is done on the cluster at address (a scheduler's
    tcp://HOST:PORT, or a Client)."""
    from distributed import as_completed

    client = client_for(address)
    owned = client is not address
    parts = iter(chunks(texts, chunk))
    ahead = AHEAD * max(1, len(client.scheduler_info().get("workers", {})))
    running = as_completed()
    sent = []

    def send() -> None:  # the next chunk, if any is left
        part = next(parts, [])
        if part:
            future = client.submit(score_chunk, job, part, pure=False)
            sent.append(future)
            running.add(future)

    try:
        for _ in range(ahead):
            send()
        for future in running:
            found = future.result()
            future.release()  # a done chunk is let go once read
            sent.remove(future)
            send()
            yield from found
    finally:
        client.cancel(sent)
        if owned:
            client.close()
