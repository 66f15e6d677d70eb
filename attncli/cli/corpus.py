"""`attn heads --corpus FILE` and `attn heads --from-records FILE`: heads over many texts.

The texts run in worker processes (or on a Dask cluster); each record is appended to --out
as it is done; progress on standard error on a terminal, a one-line summary otherwise. The
aggregates come from the records alone, so --from-records rebuilds them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attncli.errors import AttnError

if TYPE_CHECKING:
    from attncli.corpus.aggregate import Aggregates, Aggregator
    from attncli.corpus.export import Summary
    from attncli.corpus.texts import Bad
    from attncli.render.console import Exports

BAD_LINES = ("skip", "refuse")


@dataclass(frozen=True)
class CorpusOptions:
    """The options of a corpus run, as given."""

    corpus: str | None
    from_records: str | None
    out: str | None
    resume: bool
    workers: int | None
    scheduler: str | None
    too_long: str
    bad_lines: str
    model: str | None
    revision: str | None
    max_tokens: int
    role: str | None
    top: int
    as_json: bool


def check(opts: CorpusOptions, given: tuple[tuple[str, object], ...], text: str | None
          ) -> None:
    """Refuse options that do not go together, before anything is read."""
    what = "--corpus" if opts.corpus is not None else "--from-records"
    if opts.corpus is not None and opts.from_records is not None:
        raise AttnError("--corpus runs the model over texts, --from-records reads the records "
                        "of such a run: give one of them")
    if text is not None:
        raise AttnError(f"{what} takes no TEXT: the texts are the corpus's")
    for name, value in given:
        if value is not None:
            raise AttnError(f"{name} cannot be combined with {what}: it scores every head on "
                            "every text")
    if opts.too_long not in ("cut", "skip"):
        raise AttnError(f"--too-long {opts.too_long!r}: use cut or skip")
    if opts.bad_lines not in BAD_LINES:
        raise AttnError(f"--bad-lines {opts.bad_lines!r}: use skip or refuse")
    if opts.from_records is not None:
        for name, value in (("--out", opts.out), ("--resume", opts.resume or None),
                            ("--workers", opts.workers), ("--scheduler", opts.scheduler),
                            ("--model", opts.model)):
            if value is not None:
                raise AttnError(f"{name} goes with --corpus: --from-records only reads records")
        return
    if opts.model is None:
        raise AttnError("--corpus goes with --model: the checkpoint whose heads are scored")
    if opts.resume and opts.out is None:
        raise AttnError("--resume goes with --out: the records file to continue")
    if opts.scheduler is not None and opts.workers is not None:
        raise AttnError("--workers sets processes on this machine; with --scheduler the "
                        "cluster's workers run the texts")
    if opts.scheduler is not None:
        from importlib.util import find_spec

        if find_spec("distributed") is None:
            raise AttnError("--scheduler needs Dask: pip install 'attncli[dask]' (dask and "
                            "distributed), on this machine and on the workers")


def _report(where: str, bad: Bad, policy: str) -> None:
    """A line that could not be read: refused, or named on stderr and skipped."""
    from attncli.safe_text import visible

    message = f"{where}, line {bad.line}: {visible(bad.why)}"
    if policy == "refuse":
        raise AttnError(f"{message} (--bad-lines skip reports such lines and goes on)")
    print(f"attn heads: skipped {message}", file=sys.stderr)


def _records(path: Path, policy: str, total: Aggregator) -> tuple[set[str], int]:
    """Add a records file's records to total: their ids, and how many bad lines were
    skipped. No record is kept."""
    from attncli.corpus.records import Record
    from attncli.corpus.store import read_records

    ids, bad = set(), 0
    for item in read_records(path):
        if isinstance(item, Record):
            total.add(item)
            ids.add(item.id)
        else:
            _report(str(path), item, policy)
            bad += 1
    return ids, bad


def run(opts: CorpusOptions, exports: Exports | None) -> None:
    """The corpus command: records (made or read), then the aggregates shown or as JSON."""
    from attncli.corpus.aggregate import Aggregator
    from attncli.corpus.export import Summary

    if opts.role is not None:
        from attncli.heads import check_role

        check_role(opts.role)
    total = Aggregator()
    if opts.from_records is not None:
        _, bad = _records(Path(opts.from_records), opts.bad_lines, total)
        summary = Summary(malformed=bad, resumed=total.texts)
    else:
        summary = _run(opts, total)
    _show(total.result(), summary, opts, exports)


def _run(opts: CorpusOptions, total: Aggregator) -> Summary:
    from attncli.cli import sources
    from attncli.corpus.export import Summary
    from attncli.corpus.local import Failed, Job, run_local
    from attncli.corpus.records import Record, Skipped
    from attncli.corpus.store import Writer, drop_partial_line
    from attncli.corpus.texts import SAMPLE, Text, read_corpus
    from attncli.models.read_ahead import usable_cpus

    assert opts.corpus is not None and opts.model is not None
    where = "standard input" if opts.corpus == "-" else (
        "the sample corpus" if opts.corpus == SAMPLE else opts.corpus)
    texts: list[Text] = []
    bad = 0
    for item in read_corpus(opts.corpus, sys.stdin):
        if isinstance(item, Text):
            texts.append(item)
        else:
            _report(where, item, opts.bad_lines)
            bad += 1
    writer = None
    done: set[str] = set()
    out = Path(opts.out) if opts.out is not None else None
    if out is not None:
        if out.exists() and not opts.resume and not out.is_dir():
            raise AttnError(f"{out}: already exists; --resume continues it (or remove it to "
                            "start over)")
        if opts.resume and out.exists():
            from attncli.files import check_regular

            check_regular(out, "records file")
            dropped = drop_partial_line(out)
            if dropped is not None:
                print(f"attn heads: {out}, line {dropped}: removed a record cut short when the "
                      "last run stopped", file=sys.stderr)
            done, _ = _records(out, opts.bad_lines, total)
        writer = Writer(out, fresh=False)
    resumed = total.texts
    todo = [t for t in texts if t.id not in done]
    # on a cluster the workers open the model: this machine need not reach it (a record of
    # another model's shape is refused as it arrives)
    model = sources.load(opts.model, opts.revision) if opts.scheduler is None else None
    if model is not None and total.shape not in (None, (model.n_layers, model.n_heads)):
        assert total.shape is not None
        raise AttnError(f"{out}: its records have {total.shape[0]} layers × "
                        f"{total.shape[1]} heads, {opts.model} {model.n_layers} × "
                        f"{model.n_heads}: another model's records")
    job = Job(opts.model, opts.revision, opts.max_tokens, opts.too_long)
    workers = opts.workers if opts.workers is not None else usable_cpus()
    outcomes: Iterator[Any]
    if opts.scheduler is not None:
        from attncli.corpus.dask import run_dask

        outcomes = run_dask(job, todo, opts.scheduler)
    else:
        outcomes = run_local(job, todo, min(workers, max(1, len(todo))), model)
    lines = {t.id: t.line for t in todo}
    skipped = failed = 0
    start = time.perf_counter()
    try:
        with progress(len(todo)) as tick:
            for outcome in outcomes:
                if isinstance(outcome, Record):
                    if writer is not None:
                        writer.write(outcome)
                    total.add(outcome)
                elif isinstance(outcome, Skipped):
                    skipped += 1
                elif isinstance(outcome, Failed):
                    from attncli.safe_text import visible

                    print(f"attn heads: {where}, line {lines.get(outcome.id, '?')}: the model "
                          f"refused this text ({visible(outcome.why)})", file=sys.stderr)
                    failed += 1
                tick()
    except KeyboardInterrupt:
        if writer is not None:
            writer.close()
            print(f"attn heads: stopped; {total.texts:,} records are in {out} (--resume "
                  "continues)", file=sys.stderr)
        raise
    if writer is not None:
        writer.close()
    summary = Summary(len(texts), bad, skipped, failed, resumed, total.texts - resumed,
                      time.perf_counter() - start)
    if not (sys.stderr is not None and sys.stderr.isatty()):
        print(summary_line(summary), file=sys.stderr)
    return summary


def summary_line(s: Summary) -> str:
    """One line: what was run, how fast, what was left out."""
    rate = s.run / s.seconds if s.seconds > 0 else 0.0
    parts = [f"{s.run:,} texts in {s.seconds:.1f} s ({rate:.1f} texts/s)"]
    for count, what in ((s.resumed, "already in the records file"),
                        (s.skipped, "skipped as too long"), (s.failed, "refused by the model"),
                        (s.malformed, "malformed lines skipped")):
        if count:
            parts.append(f"{count:,} {what}")
    return "attn heads: " + "; ".join(parts)


class progress:  # noqa: N801  (a context manager)
    """A bar on standard error, only on a terminal: texts done, texts per second, time left.
    The value is the function to call after each text."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Callable[[], None]:
        stream = sys.stderr
        if stream is None or not stream.isatty() or self.total == 0:
            return lambda: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn("texts"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                            console=Console(file=stream), redirect_stdout=False,
                            redirect_stderr=False)
        task = self.bar.add_task("texts", total=self.total, rate="")
        start = time.perf_counter()
        self.bar.start()

        def tick() -> None:
            done = self.bar.tasks[0].completed + 1
            rate = done / max(time.perf_counter() - start, 1e-9)
            self.bar.update(task, completed=done, rate=f"{rate:.1f} texts/s")

        return tick

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _show(agg: Aggregates, summary: Summary, opts: CorpusOptions, exports: Exports | None
          ) -> None:
    from attncli.cli import output

    if opts.as_json:
        from attncli.corpus.export import to_dict

        output.write_json(to_dict(agg, replace(summary, seconds=round(summary.seconds, 3))))
        return
    from attncli.render import corpus as render

    body = (render.role_list(agg, opts.role, opts.top) if opts.role is not None
            else render.overview(agg, opts.top))
    output.show(body, exports, f"attn heads: {agg.model} over {agg.texts:,} texts")
