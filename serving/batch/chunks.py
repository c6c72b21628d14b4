"""One chunk of a cohort file in, the same rows out with their predictions, and its counts.

`score_chunk` keeps every input column (those an output column replaces aside) and appends the
prediction columns of `scoring.table.score_rows`; `chunk_stats` counts what the run's summary
needs. The local engine calls it on each chunk of the file, in order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.eligibility import ELIGIBLE, REASONS
from features.notes import SEPARATOR
from features.reference import Bins
from features.schema import FLAGS, PROBLEMS
from features.tables import PATIENT_ID
from scoring.scorer import Scorer
from scoring.table import (
    ELIGIBILITY_UNKNOWN,
    RISK_BAND,
    ScoredRows,
    prediction_fields,
    record_frame,
    score_rows,
)
from serving.batch.summary import MICRO, ChunkStats, count_parts


def output_schema(source: pa.Schema, scorer: Scorer, *, contributions: bool) -> pa.Schema:
    """The input's columns (those not replaced by a prediction column), then the predictions."""
    added = prediction_fields(scorer, contributions=contributions)
    replaced = {f.name for f in added}
    return pa.schema([*(f for f in source if f.name not in replaced), *added])


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk's output rows and its counts."""

    table: pa.Table
    stats: ChunkStats


#: The flag of a row whose patient id another row of the input holds too.
DUPLICATE_FLAG: Final = f"{PATIENT_ID}: appears on more than one row of the input"


def flag_duplicates(flags: pa.Array, ids: pa.Array | None, duplicated: pa.Array) -> pa.Array:
    """``flags`` with `DUPLICATE_FLAG` added where ``ids`` holds one of ``duplicated``."""
    if ids is None or len(duplicated) == 0:
        return flags
    marked = pc.fill_null(pc.is_in(ids.cast(pa.string()), value_set=duplicated), False)
    added = pc.if_else(
        pc.equal(flags, ""),
        DUPLICATE_FLAG,
        pc.binary_join_element_wise(flags, DUPLICATE_FLAG, SEPARATOR),
    )
    return pc.if_else(marked, added, flags)


def score_chunk(
    chunk: pa.Table,
    scorer: Scorer,
    schema: pa.Schema,
    *,
    contributions: bool,
    drift: dict[str, Bins] | None,
    source: str,
    duplicated: pa.Array | None = None,
) -> ScoredChunk:
    """The rows of ``chunk`` shaped by ``schema`` (`output_schema`), with their predictions;
    ``drift`` holds the reference bins counted into the stats (None: no drift);
    ``duplicated`` the patient ids that appear more than once in the whole input (flagged)."""
    scored = score_rows(record_frame(chunk), scorer, contributions=contributions, source=source)
    if duplicated is not None:
        ids = (
            chunk.column(PATIENT_ID).combine_chunks() if PATIENT_ID in chunk.column_names else None
        )
        scored.columns[FLAGS] = flag_duplicates(scored.columns[FLAGS], ids, duplicated)
    arrays = [
        scored.columns[f.name] if f.name in scored.columns else chunk.column(f.name).cast(f.type)
        for f in schema
    ]
    table = pa.Table.from_arrays(arrays, schema=schema)
    return ScoredChunk(table, chunk_stats(scored, drift))


def chunk_stats(scored: ScoredRows, drift: dict[str, Bins] | None) -> ChunkStats:
    """The counts of one chunk, from its prediction columns and the canonical values of the
    rows that were scored."""
    columns = scored.columns
    eligible = columns[ELIGIBLE]
    problems = columns[PROBLEMS]
    has_problem = pc.not_equal(problems, "")
    return ChunkStats(
        rows=len(problems),
        micro=np.rint(scored.probability * MICRO).astype(np.int64),
        bands=Counter(dict(_value_counts(columns[RISK_BAND]))),
        problems=count_parts(problems.filter(has_problem)),
        rows_with_problems=int(pc.sum(has_problem).as_py() or 0),
        rows_flagged=int(pc.sum(pc.not_equal(columns[FLAGS], "")).as_py() or 0),
        eligibility=Counter(
            eligible=int(pc.sum(pc.fill_null(eligible, False)).as_py() or 0),
            outside=int(pc.sum(pc.fill_null(pc.invert(eligible), False)).as_py() or 0),
            unknown=eligible.null_count,
        ),
        outside_reasons=count_parts(columns[REASONS]),
        unknown_criteria=count_parts(columns[ELIGIBILITY_UNKNOWN]),
        drift=_drift_counts(scored.scored, drift),
    )


def _drift_counts(
    scored: pd.DataFrame, drift: dict[str, Bins] | None
) -> dict[str, npt.NDArray[np.int64]]:
    return {
        name: bins.count(scored[name])
        for name, bins in (drift or {}).items()
        if name in scored.columns
    }


def _value_counts(column: pa.Array) -> list[tuple[str, int]]:
    valid = column.drop_null()
    if len(valid) == 0:
        return []
    counted = pc.value_counts(valid)
    return list(
        zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)
    )
