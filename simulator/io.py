"""`write_tables`: the four tables of a simulated cohort as CSV or Parquet, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from features.fhir.bulk import write_export
from features.io import atomic_path
from simulator.cohort import SimulatedCohort

TABLES: Final = ("patients", "labs", "assessments", "truth")
"""File stems, in the order they are written."""


def write_tables(
    cohort: SimulatedCohort, out_dir: Path, *, fmt: Literal["csv", "parquet", "fhir"] = "csv"
) -> list[Path]:
    """Write ``patients``, ``labs``, ``assessments`` and ``truth`` to ``out_dir``.

    Each file is written to a temporary file in ``out_dir`` and moved into place with
    ``os.replace``, so a reader never sees a half-written table. Returns the paths. With
    ``fmt="fhir"`` the first three are written as a FHIR Bulk Data export (one NDJSON file per
    resource type, `features.fhir.bulk`) and ``truth`` as CSV beside it.
    """
    if fmt not in ("csv", "parquet", "fhir"):
        raise ValueError(f"fmt: {fmt!r} is not supported (use 'csv', 'parquet' or 'fhir')")
    out_dir = Path(out_dir)
    paths: list[Path] = []
    if fmt == "fhir":
        paths = write_export(cohort.patients, cohort.labs, cohort.assessments, out_dir)
        with atomic_path(out_dir / "truth.csv") as temporary:
            cohort.truth.to_csv(temporary, index=False)
        return [*paths, out_dir / "truth.csv"]
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
