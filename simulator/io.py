"""`write_tables`: the four tables of a simulated cohort as CSV or Parquet, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from features.io import atomic_path
from simulator.cohort import SimulatedCohort

TABLES: Final = ("patients", "labs", "assessments", "truth")
"""File stems, in the order they are written."""


def write_tables(
    cohort: SimulatedCohort, out_dir: Path, *, fmt: Literal["csv", "parquet"] = "csv"
) -> list[Path]:
    """Write ``patients``, ``labs``, ``assessments`` and ``truth`` to ``out_dir``.

    Each file is written to a temporary file in ``out_dir`` and moved into place with
    ``os.replace``, so a reader never sees a half-written table. Returns the four paths.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt: {fmt!r} is not supported (use 'csv' or 'parquet')")
    out_dir = Path(out_dir)
    paths: list[Path] = []
    for name in TABLES:
        frame = getattr(cohort, name)
        path = out_dir / f"{name}.{fmt}"
        with atomic_path(path) as temporary:
            if fmt == "parquet":
                pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), temporary)
            else:
                frame.to_csv(temporary, index=False)
        paths.append(path)
    return paths
