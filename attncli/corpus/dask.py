"""The records of many texts on a Dask distributed cluster (the `attncli[dask]` extra).

The same chunks as local.py, sent to the cluster's workers: each worker process opens the
model once (local.worker_model keeps it, keyed by the path and revision) from a path or Hub
id it can reach itself. The client gets the outcomes back as chunks finish and writes the
records and aggregates, as a local run does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from attncli.corpus.local import CHUNK, Job, Outcome, chunks, score_chunk
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
    futures = [client.submit(score_chunk, job, part, pure=False)
               for part in chunks(texts, chunk)]
    try:
        for future in as_completed(futures):
            yield from future.result()
    finally:
        client.cancel(futures)
        if owned:
            client.close()
