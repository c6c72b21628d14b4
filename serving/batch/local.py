"""The local engine: a cohort file streamed through a few threads, written atomically.

Chunks are read in order and scored by a small pool of threads (validation holds the GIL part
of the time while the model, Arrow and the writer release it, so their work overlaps). Results
are written in input order, and with resume on each completed chunk is recorded
(`serving.batch_output`), so an interrupted run continues from the last completed chunk. At most
one chunk per thread, plus one, is in memory at a time, whatever the size of the file.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import pyarrow as pa

from features.reference import Bins
from scoring.scorer import Scorer
from serving.batch.chunks import ScoredChunk, output_schema, score_chunk
from serving.batch.io import BatchError, InputFile, check_output
from serving.batch.output import (
    PROGRESS_FORMAT,
    Progress,
    Sink,
    StaleStateError,
    WorkArea,
    open_sink,
)
from serving.batch.summary import SummaryState

#: Threads scoring chunks at once, at most one per core: validation holds the GIL part of the
#: time while the model, Arrow and the writer release it, so they overlap across threads.
MAX_WORKERS: Final = 4


@dataclass(frozen=True)
class Options:
    """How to stream: rows per chunk, contributions, resume, progress bar."""

    chunk_size: int
    contributions: bool
    resume: bool
    progress: bool


@dataclass(frozen=True)
class Loaded:
    """The model side of a run: the pinned model, its reference bins (or why there are
    none), and how long loading took."""

    scorer: Scorer
    folder: Path
    bins: dict[str, Bins] | None
    drift_source: str
    seconds: float


def workers() -> int:
    """Threads scoring chunks at once: one per core, at most `MAX_WORKERS`."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # With the model and libraries frozen out of the collector's scans, the collections that
    # scoring triggers stay short. Not collecting first: a full collection of a heap holding
    # MLflow and the model takes a noticeable share of a run, to free little.
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _progress_bar(source: InputFile, options: Options, done: int) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=source.count_rows() if options.progress else None,
        initial=done,
        unit=" rows",
        unit_scale=True,
        disable=not options.progress,
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def score_locally(
    source: InputFile,
    output: Path,
    loaded: Loaded,
    options: Options,
    duplicated: pa.Array | None = None,
) -> tuple[SummaryState, int]:
    """Stream ``source`` into ``output``; returns the totals and the row resumed from.
    ``duplicated``: the patient ids held by more than one row of ``source`` (flagged)."""
    kind = check_output(output, source.path)
    schema = output_schema(source.schema, loaded.scorer, contributions=options.contributions)
    identity = loaded.scorer.identity
    key = {
        "format": PROGRESS_FORMAT,
        "input": {"path": str(source.path.resolve()), **source.fingerprint()},
        "model": [identity.name, identity.version],
        "options": [options.chunk_size, options.contributions, kind],
    }
    work = WorkArea(output)
    with work.locked():
        saved = work.load(key) if options.resume else None
        try:
            return _Stream(source, kind, schema, work, key, loaded, options, duplicated).run(saved)
        except StaleStateError:
            # Progress that does not match the files on disk: start over, cleanly.
            return _Stream(source, kind, schema, work, key, loaded, options, duplicated).run(None)
        except BatchError:
            work.remove()
            raise
        except BaseException:
            if not options.resume:
                work.remove()
            raise


class _Stream:
    """One pass over the input, from the first chunk not yet done to the published output."""

    def __init__(
        self,
        source: InputFile,
        kind: Literal["parquet", "csv"],
        schema: pa.Schema,
        work: WorkArea,
        key: dict[str, Any],
        loaded: Loaded,
        options: Options,
        duplicated: pa.Array | None,
    ) -> None:
        self.source, self.kind, self.schema = source, kind, schema
        self.duplicated = duplicated
        self.work, self.key, self.loaded, self.options = work, key, loaded, options
        self.state = SummaryState()
        self.completed = 0

    def _score(self, chunk: pa.Table) -> ScoredChunk:
        return score_chunk(
            chunk,
            self.loaded.scorer,
            self.schema,
            contributions=self.options.contributions,
            drift=self.loaded.bins,
            source=str(self.source.path),
            duplicated=self.duplicated,
        )

    def _finish(self, future: Future[ScoredChunk], sink: Sink, bar: Any) -> None:
        scored = future.result()
        sink.write(scored.table)
        self.state.add(scored.stats)
        self.completed += 1
        if self.options.resume:
            checkpoint = sink.checkpoint()
            done = Progress(
                self.key, self.completed, self.state.rows_in, checkpoint, self.state.to_dict()
            )
            self.work.save(done, self.state.histogram)
        bar.update(scored.table.num_rows)

    def run(self, saved: tuple[Progress, Any] | None) -> tuple[SummaryState, int]:
        progress = saved[0] if saved is not None else None
        if saved is not None and progress is not None:
            self.state = SummaryState.from_dict(progress.summary, saved[1])
        self.work.reset(keep_parts=progress is not None)
        sink = open_sink(
            self.kind, self.work, self.schema, progress, keep_parts=self.options.resume
        )
        skip = self.completed = progress.chunks_done if progress else 0
        resumed_from = progress.rows_done if progress else 0
        threads = workers()
        pending: deque[Future[ScoredChunk]] = deque()
        with (
            _collector_paused(),
            ThreadPoolExecutor(threads, thread_name_prefix="mrbs-score") as pool,
            _progress_bar(self.source, self.options, resumed_from) as bar,
        ):
            try:
                for index, chunk in enumerate(self.source.chunks(self.options.chunk_size)):
                    if index < skip:
                        continue
                    pending.append(pool.submit(self._score, chunk))
                    if len(pending) > threads:
                        self._finish(pending.popleft(), sink, bar)
                while pending:
                    self._finish(pending.popleft(), sink, bar)
            finally:
                for future in pending:
                    future.cancel()
                sink.close()
        if self.state.rows_in == 0:
            raise BatchError(f"{self.source.path}: the file has no rows to score")
        self.work.publish()
        self.work.remove()
        return self.state, resumed_from
