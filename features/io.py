"""Reading cohort tables (CSV or Parquet) with clear errors, and writing files atomically."""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SUFFIXES: Final = (".csv", ".parquet")


class TableError(ValueError):
    """A table that cannot be read as a cohort table; the message says which file and why."""


def find_table(folder: Path, name: str) -> Path:
    """The file holding table ``name`` in ``folder`` (``name.csv`` or ``name.parquet``)."""
    found = [
        folder / f"{name}{suffix}" for suffix in SUFFIXES if (folder / f"{name}{suffix}").exists()
    ]
    if not found:
        raise TableError(f"{folder}: no {name}.csv or {name}.parquet")
    if len(found) > 1:
        raise TableError(f"{folder}: both {found[0].name} and {found[1].name}; keep one")
    return found[0]


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a table file (absent, or a folder), or None when it can."""
    if path.is_dir():
        tables = sorted(p.name for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        within = f" (it holds {', '.join(tables[:5])})" if tables else ""
        return f"{path}: is a folder, not a table file; name the file to read{within}"
    if not path.exists():
        return f"{path}: no such file"
    return None


def read_table(path: Path, *, required: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet table; TableError when it is empty, malformed or lacks columns.

    CSV cells are read as text and converted by the validators, so a stray word in a numeric
    column becomes a per-row problem rather than turning the whole column into text.
    """
    absent = not_a_file(path)
    if absent:
        raise TableError(absent)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = _read_csv(path)
        else:
            raise TableError(f"{path}: unsupported format {suffix!r} (use .csv or .parquet)")
    except (pa.ArrowInvalid, OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise TableError(f"{path}: cannot be read ({error})") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        hint = delimiter_hint(path, frame) if suffix == ".csv" else ""
        raise TableError(f"{path}: missing required column(s): {', '.join(missing)}{hint}")
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise TableError(f"{path}: the file is empty")
    try:
        return pd.read_csv(path, dtype="string", keep_default_na=True, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise TableError(f"{path}: the file is empty") from None


def delimiter_hint(path: Path, frame: pd.DataFrame) -> str:
    """When a CSV was read as a single column, which other delimiter its text seems to use."""
    if len(frame.columns) != 1:
        return ""
    with path.open(newline="") as handle:
        sample = handle.read(4096)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=";\t|").delimiter
    except csv.Error:
        return ""
    return f" (the file seems to use {delimiter!r} as delimiter; MRBS reads comma-separated CSV)"


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it only if the block completes.

    A crash or an exception leaves ``target`` untouched and removes the temporary file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates 0600; outputs are ordinary files
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix), atomically."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise TableError(f"{path}: unsupported format {suffix!r} (use .csv or .parquet)")
    with atomic_path(path) as temporary:
        if suffix == ".parquet":
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), temporary)
        else:
            frame.to_csv(temporary, index=False)
    return path
