"""Cohort files into the batch scorer: up-front checks and chunked reading.

Inputs are read in chunks (`pyarrow.parquet.ParquetFile.iter_batches` for Parquet; pandas
`read_csv` chunks for CSV, every cell as text so a stray word in a number becomes a per-row
problem). A file that cannot be scored at all (absent, unreadable, empty, missing a required
column, a CSV with another delimiter) is refused before anything is written, with a message that
says what to do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.io import delimiter_hint, not_a_file
from features.schema import MissingColumnsError, validate_table
from features.tables import PATIENT_ID

FORMATS: Final = (".parquet", ".csv")
#: Bytes of the input hashed into its fingerprint (with its size and modification time).
FINGERPRINT_BYTES: Final = 1 << 20


class BatchError(ValueError):
    """Scoring cannot proceed; the message names the file or option, the reason, and the fix."""


def _format(path: Path, role: str) -> Literal["parquet", "csv"]:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BatchError(
            f"{path}: unsupported {role} format {suffix or '(no suffix)'!r}; "
            "name the file .parquet or .csv"
        )
    return "parquet" if suffix == ".parquet" else "csv"


@dataclass(frozen=True)
class InputFile:
    """A cohort file that passed the up-front checks."""

    path: Path
    format: Literal["parquet", "csv"]
    schema: pa.Schema  # the columns as they are passed through (CSV: all text)
    rows: int | None  # known up front for Parquet only

    def fingerprint(self) -> dict[str, Any]:
        """Size, modification time and a hash of the first MiB: enough to notice a new file."""
        status = self.path.stat()
        with self.path.open("rb") as handle:
            head = hashlib.sha256(handle.read(FINGERPRINT_BYTES)).hexdigest()
        return {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "head_sha256": head}

    def count_rows(self) -> int | None:
        """Rows in the file; for CSV an estimate from line breaks (for the progress bar)."""
        if self.rows is not None:
            return self.rows
        lines = 0
        with self.path.open("rb") as handle:
            while block := handle.read(1 << 24):
                lines += block.count(b"\n")
        return max(lines - 1, 0)

    def duplicated_ids(self) -> tuple[pa.Array, int]:
        """The patient ids that appear on more than one row, and how many rows hold them
        (none when the file has no ``patient_id`` column). Reads that one column only."""
        if PATIENT_ID not in self.schema.names:
            return pa.array([], type=pa.string()), 0
        try:
            if self.format == "parquet":
                ids = pq.read_table(self.path, columns=[PATIENT_ID]).column(0)
            else:
                text = pd.read_csv(
                    self.path, usecols=[PATIENT_ID], dtype="string", skipinitialspace=True
                )[PATIENT_ID]
                ids = pa.chunked_array([pa.array(text, type=pa.string(), from_pandas=True)])
        except (pa.ArrowInvalid, OSError, pd.errors.ParserError, ValueError) as error:
            raise BatchError(f"{self.path}: cannot be read ({error})") from None
        counts = pc.value_counts(ids.cast(pa.string()).drop_null())
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))
        rows = int(pc.sum(repeated.field("counts")).as_py() or 0)
        return repeated.field("values"), rows

    def chunks(self, chunk_size: int) -> Iterator[pa.Table]:
        """The rows in order, ``chunk_size`` at a time."""
        if self.format == "parquet":
            try:
                # Buffered page reads: memory follows the chunk, not the file's row groups.
                reader = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 22)
                for batch in reader.iter_batches(batch_size=chunk_size):
                    yield pa.Table.from_batches([batch]).replace_schema_metadata(None)
            except (pa.ArrowInvalid, OSError) as error:
                raise BatchError(
                    f"{self.path}: cannot be read ({error}); check the file is complete or "
                    "export it again"
                ) from None
            return
        try:
            with pd.read_csv(
                self.path,
                chunksize=chunk_size,
                dtype="string",
                keep_default_na=True,
                skipinitialspace=True,
            ) as reader:
                for frame in reader:
                    yield pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            raise BatchError(
                f"{self.path}: cannot be read as CSV ({error}); fix the row it names or export "
                "the file again as comma-separated text"
            ) from None


def open_input(path: Path) -> InputFile:
    """Check ``path`` can be scored; BatchError saying why not."""
    absent = not_a_file(path)
    if absent:
        raise BatchError(absent)
    kind = _format(path, "input")
    if path.stat().st_size == 0:
        raise BatchError(f"{path}: the file is empty; export the cohort again")
    if kind == "parquet":
        try:
            metadata = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise BatchError(
                f"{path}: not a readable Parquet file ({error}); check the file is complete or "
                "export it again"
            ) from None
        schema = metadata.schema_arrow.remove_metadata()
        rows: int | None = metadata.metadata.num_rows
        columns: list[str] = schema.names
    else:
        try:
            head = pd.read_csv(path, nrows=1, dtype="string", skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise BatchError(
                f"{path}: cannot be read as CSV ({error}); export it again as comma-separated text"
            ) from None
        columns = [str(c) for c in head.columns]
        schema = pa.schema([pa.field(c, pa.string()) for c in columns])
        rows = None if len(head) else 0
        _check_columns(path, head)
    if rows == 0:
        raise BatchError(f"{path}: the file has no rows to score")
    if kind == "parquet":
        _check_columns(path, pd.DataFrame(columns=columns))
    return InputFile(path, kind, schema, rows)


def _check_columns(path: Path, frame: pd.DataFrame) -> None:
    try:
        validate_table(frame.head(0), table=str(path))
    except MissingColumnsError as error:
        hint = delimiter_hint(path, frame) if path.suffix.lower() == ".csv" else ""
        raise BatchError(
            f"{error}{hint}; add or rename the column(s) (the record declaration is in "
            "features/record.py)"
        ) from None


def check_output(output: Path, source: Path, *, folder: bool = False) -> Literal["parquet", "csv"]:
    """The output's format; BatchError if it cannot be written (``folder``: Spark's layout)."""
    kind = _format(output, "output")
    if output.resolve() == source.resolve():
        raise BatchError(f"{output}: the output would overwrite the input; choose another path")
    if output.is_dir() and not folder:
        raise BatchError(f"{output}: is a folder; give a file name ending .parquet or .csv")
    return kind
