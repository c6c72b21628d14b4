"""Resumable, atomic output of the batch scorer.

Output is written into a hidden work folder beside it (``.<output name>.partial/``) and renamed
into place only when complete, so a run that is killed leaves no partial output. With resume on,
the folder also keeps the run's progress (input fingerprint, model version, options, chunks
done, the summary so far) and, for Parquet, each completed chunk as an Arrow IPC part (a Parquet
file cannot be reopened for appending, so a resumed run writes the parts again before going on);
a CSV output is simply cut back to the last completed chunk. Writer options are fixed and
Parquet metadata holds no timestamps, so a resumed run writes the same bytes as an uninterrupted
one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from serving.batch.io import BatchError

#: Version of the progress file's layout; progress of another version is not resumed.
PROGRESS_FORMAT: Final = 1


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Writer options, fixed so equal tables give equal bytes; dictionaries for text only."""
    text = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    return {
        "compression": "snappy",
        "use_dictionary": text,
        "write_statistics": True,
        "version": "2.6",
        "data_page_version": "1.0",
        "store_schema": True,
    }


class StaleStateError(Exception):
    """The saved progress does not match what is on disk; the run starts over."""


class ParquetSink:
    """The temporary Parquet output, and (resume on) each chunk as an IPC part."""

    def __init__(self, temporary: Path, schema: pa.Schema, parts: Path | None, done: int) -> None:
        self._schema = schema
        self._parts = parts
        self._ipc = ipc.IpcWriteOptions(compression="zstd")
        self._writer = pq.ParquetWriter(temporary, schema, **parquet_options(schema))
        for index in range(done):
            assert parts is not None
            try:
                with pa.memory_map(str(self._part(index))) as source:
                    self._writer.write_table(ipc.open_file(source).read_all())
            except (OSError, pa.ArrowInvalid) as error:
                self._writer.close()
                raise StaleStateError(f"part {index}: {error}") from None
        self.written = done

    def _part(self, index: int) -> Path:
        assert self._parts is not None
        return self._parts / f"{index:06d}.arrow"

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        if self._parts is not None:
            part = self._part(self.written)
            temporary = part.with_suffix(".tmp")
            with ipc.new_file(str(temporary), self._schema, options=self._ipc) as writer:
                writer.write_table(table)
            os.replace(temporary, part)
        self.written += 1

    def checkpoint(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        self._writer.close()


class CsvSink:
    """The temporary CSV output; resuming cuts it back to the last completed chunk."""

    def __init__(self, temporary: Path, schema: pa.Schema, offset: int | None) -> None:
        if offset is None:
            self._handle: IO[bytes] = temporary.open("wb")
        else:
            if not temporary.exists() or temporary.stat().st_size < offset:
                raise StaleStateError(f"{temporary}: shorter than its recorded progress")
            self._handle = temporary.open("r+b")
            self._handle.truncate(offset)
            self._handle.seek(offset)
        options = pacsv.WriteOptions(include_header=offset is None)
        self._writer = pacsv.CSVWriter(self._handle, schema, write_options=options)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def checkpoint(self) -> dict[str, Any]:
        self._handle.flush()
        return {"offset": self._handle.tell()}

    def close(self) -> None:
        self._writer.close()
        self._handle.close()


Sink = ParquetSink | CsvSink


@dataclass
class Progress:
    """What a resumable run has completed, and for which input, model and options."""

    key: dict[str, Any]
    chunks_done: int
    rows_done: int
    sink: dict[str, Any]
    summary: dict[str, Any]


class WorkArea:
    """The hidden folder beside an output: temporary file, progress, parts, lock."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.folder = output.parent / f".{output.name}.partial"
        self.temporary = self.folder / f"output{output.suffix.lower()}"
        self.parts = self.folder / "parts"
        self._progress = self.folder / "progress.json"
        self._histogram = self.folder / "histogram.npy"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the output for this run; BatchError if another run is writing it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BatchError(
                    f"{self.output}: another `mrbs score` run is writing it; wait for it to "
                    "finish or choose another output"
                ) from None
            yield

    def load(self, key: dict[str, Any]) -> tuple[Progress, npt.NDArray[np.int64]] | None:
        """The saved progress if it is for exactly this input, model and options."""
        try:
            saved = json.loads(self._progress.read_text())
            progress = Progress(**saved)
            histogram = np.load(self._histogram)
        except (OSError, ValueError, TypeError):
            return None
        return (progress, histogram) if progress.key == key else None

    def save(self, progress: Progress, histogram: npt.NDArray[np.int64]) -> None:
        """Record a completed chunk (histogram first: the JSON is what declares it done)."""
        with self._histogram.with_suffix(".tmp").open("wb") as handle:
            np.save(handle, histogram)
        os.replace(self._histogram.with_suffix(".tmp"), self._histogram)
        self._progress.with_suffix(".tmp").write_text(json.dumps(progress.__dict__))
        os.replace(self._progress.with_suffix(".tmp"), self._progress)

    def reset(self, *, keep_parts: bool) -> None:
        """Forget earlier progress (and parts, unless they are being resumed)."""
        self._progress.unlink(missing_ok=True)
        self._histogram.unlink(missing_ok=True)
        if not keep_parts:
            shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(parents=True, exist_ok=True)

    def publish(self) -> None:
        """Make the completed temporary file the output: flushed to disk, then renamed."""
        with self.temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.temporary, self.output)
        directory = os.open(self.output.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def open_sink(
    kind: Literal["parquet", "csv"],
    work: WorkArea,
    schema: pa.Schema,
    progress: Progress | None,
    *,
    keep_parts: bool,
) -> Sink:
    """A sink on the work area's temporary file, continuing ``progress`` when given."""
    if kind == "parquet":
        done = progress.chunks_done if progress else 0
        return ParquetSink(work.temporary, schema, work.parts if keep_parts else None, done)
    return CsvSink(work.temporary, schema, progress.sink["offset"] if progress else None)
