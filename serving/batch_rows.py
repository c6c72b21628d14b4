"""One chunk of a cohort in, the same rows out with their predictions: the batch scorer's core.

`score_chunk` validates the rows with `features.schema.validate_table` (the record declaration
the service validates with), screens them with `features.eligibility.screen_frame`, runs the
pinned pipeline on the rows without problems (`serving.batch_model`) and returns every input row,
in order, with the service's response fields as columns. Both engines call it: the local engine
on chunks of the file, Spark on each partition's Arrow batches.

Output columns, after the input's own columns:

- ``probability``: probability of SRI-4 response at week 48, 6 decimals as in ``/predict``;
  null when the row has problems.
- ``risk_band``: display band, low < 0.35 <= intermediate < 0.65 <= high.
- ``contributions``: the largest contributions as text, e.g. ``sledai_2k +0.62; c3 -0.18``
  (log-odds to 2 decimals, zeros left out), then ``contribution_<field>`` for every predictor:
  change in log-odds against the development cohort's median, 6 decimals, exactly the
  ``log_odds`` of ``/predict``. Left out when contributions are switched off.
- ``imputed``: optional predictors that were missing and imputed.
- ``flags``: values outside the training population's range.
- ``eligible`` (true, false, or null when a criterion is unknown), ``eligibility_reasons`` (every
  criterion failed), ``eligibility_unknown`` (criteria that could not be checked).
- ``problems``: why no probability was made; empty when one was.
- ``model_name``, ``model_version``: the pinned registered model that answered.

Lists are joined with ``"; "``. An input column with an output column's name is replaced; the
input's own ``problems`` and ``flags`` (as `mrbs cohort build` writes them) are kept and merged.
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

from features.eligibility import ELIGIBLE, REASONS, screen_frame
from features.record import FIELDS
from features.reference import Bins
from features.schema import FLAGS, PROBLEMS, validate_table
from serving.batch_model import BatchModel, risk_bands, round_half_even
from serving.batch_summary import MICRO, ChunkStats, count_parts
from serving.batch_text import (
    contributions_text,
    eligibility_columns,
    input_notes,
    join_names,
    merge_notes,
)

PROBABILITY: Final = "probability"
RISK_BAND: Final = "risk_band"
CONTRIBUTIONS: Final = "contributions"
CONTRIBUTION_PREFIX: Final = "contribution_"
IMPUTED: Final = "imputed"
ELIGIBILITY_UNKNOWN: Final = "eligibility_unknown"
MODEL_NAME: Final = "model_name"
MODEL_VERSION: Final = "model_version"

#: Input columns the validation reads: every declared field and its unit column.
RECORD_COLUMNS: Final = frozenset(
    {spec.name for spec in FIELDS} | {spec.unit_column for spec in FIELDS}
)
_PANDAS_TYPES: Final = {pa.bool_(): pd.BooleanDtype()}
ObjectArray = npt.NDArray[np.object_]


def output_fields(model: BatchModel, *, contributions: bool) -> list[pa.Field]:
    """The prediction columns, in output order, with their Arrow types."""
    text = pa.string()
    explained = (
        [
            pa.field(CONTRIBUTIONS, text),
            *(pa.field(CONTRIBUTION_PREFIX + name, pa.float64()) for name in model.shown_as),
        ]
        if contributions
        else []
    )
    return [
        pa.field(PROBABILITY, pa.float64()),
        pa.field(RISK_BAND, text),
        *explained,
        pa.field(IMPUTED, text),
        pa.field(FLAGS, text),
        pa.field(ELIGIBLE, pa.bool_()),
        pa.field(REASONS, text),
        pa.field(ELIGIBILITY_UNKNOWN, text),
        pa.field(PROBLEMS, text),
        pa.field(MODEL_NAME, text),
        pa.field(MODEL_VERSION, text),
    ]


def output_schema(source: pa.Schema, model: BatchModel, *, contributions: bool) -> pa.Schema:
    """The input's columns (those not replaced by an output column) then the prediction columns."""
    added = output_fields(model, contributions=contributions)
    replaced = {f.name for f in added}
    kept = [f for f in source if f.name not in replaced]
    return pa.schema([*kept, *added])


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk's output rows, its counts, and its canonical record values (for Spark)."""

    table: pa.Table
    stats: ChunkStats
    validated: pd.DataFrame


def _column(values: ObjectArray, ok: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """Text column; null where ``ok`` is False."""
    return pa.array(values, type=pa.string(), mask=None if ok is None else ~ok)


def _spread_text(values: pa.Array, ok: npt.NDArray[np.bool_]) -> pa.Array:
    """Text of the scored rows placed at their positions; null elsewhere."""
    if ok.all():
        return values
    positions = np.full(ok.size, -1, dtype=np.int64)
    positions[ok] = np.arange(int(ok.sum()))
    return values.take(pa.array(positions, mask=~ok))


def _spread(values: npt.NDArray[np.float64], ok: npt.NDArray[np.bool_]) -> pa.Array:
    full = np.full(ok.size, np.nan)
    full[ok] = values
    return pa.array(full, type=pa.float64(), mask=~ok)


def _notes_column(batch: pa.Table, frame: pd.DataFrame, name: str) -> pa.Array:
    """Validation's ``problems`` or ``flags``, merged with the input's own when it has them."""
    new = frame[name]
    earlier = input_notes(batch, name)
    if earlier is None:
        return pa.array(new, type=pa.string(), from_pandas=True)
    merged = merge_notes(earlier, np.asarray(new.to_numpy(dtype=object)))
    return pa.array(merged, type=pa.string())


def _explained_columns(
    model: BatchModel, scored: pd.DataFrame, ok: npt.NDArray[np.bool_], *, contributions: bool
) -> tuple[dict[str, pa.Array], npt.NDArray[np.float64]]:
    """Probability, band, contributions and imputed fields; and the rounded probabilities."""
    explained = model.predictor.explain(model.derive(scored), contributions=contributions)
    probability = round_half_even(explained.probability)
    bands = np.full(ok.size, None, dtype=object)
    bands[ok] = risk_bands(explained.probability)
    columns = {PROBABILITY: _spread(probability, ok), RISK_BAND: _column(bands, ok)}
    if explained.contributions is not None:
        rounded = round_half_even(explained.contributions)
        text = contributions_text(explained.contributions, rounded, model.shown_as)
        columns[CONTRIBUTIONS] = _spread_text(text, ok)
        for j, name in enumerate(model.shown_as):
            columns[CONTRIBUTION_PREFIX + name] = _spread(rounded[:, j], ok)
    imputed = np.full(ok.size, None, dtype=object)
    imputed[ok] = join_names(scored[list(model.fields)].isna().to_numpy(), model.fields)
    columns[IMPUTED] = _column(imputed, ok)
    return columns, probability


@dataclass(frozen=True)
class ValidatedChunk:
    """A chunk after validation and screening, before the model: everything it does not need."""

    batch: pa.Table
    frame: pd.DataFrame  # canonical values, as `validate_table` returns them
    ok: npt.NDArray[np.bool_]  # rows without problems
    columns: dict[str, pa.Array]  # flags, eligibility and problems


def validate_chunk(batch: pa.Table, *, source: str) -> ValidatedChunk:
    """Validate and screen the rows of ``batch``; ``source`` names the input in messages."""
    records = batch.select([c for c in batch.column_names if c in RECORD_COLUMNS])
    frame = validate_table(records.to_pandas(types_mapper=_PANDAS_TYPES.get), table=source).frame
    problems = _notes_column(batch, frame, PROBLEMS)
    ok = np.asarray(pc.equal(problems, "").to_numpy(zero_copy_only=False), dtype=bool)
    eligible, reasons, unknown = eligibility_columns(screen_frame(frame))
    columns = {
        FLAGS: _notes_column(batch, frame, FLAGS),
        ELIGIBLE: eligible,
        REASONS: reasons,
        ELIGIBILITY_UNKNOWN: unknown,
        PROBLEMS: problems,
    }
    return ValidatedChunk(batch, frame, ok, columns)


def predict_chunk(
    validated: ValidatedChunk,
    model: BatchModel,
    schema: pa.Schema,
    *,
    contributions: bool,
    drift: dict[str, Bins] | None,
) -> ScoredChunk:
    """The chunk's rows shaped by ``schema``, with the model's answers for rows without
    problems; ``drift`` holds the reference bins counted into the stats (None: no drift)."""
    batch, ok = validated.batch, validated.ok
    scored = validated.frame[ok]
    columns, probability = _explained_columns(model, scored, ok, contributions=contributions)
    columns |= validated.columns
    columns[MODEL_NAME] = pa.repeat(pa.scalar(model.identity.name, pa.string()), batch.num_rows)
    columns[MODEL_VERSION] = pa.repeat(
        pa.scalar(model.identity.version, pa.string()), batch.num_rows
    )
    arrays = [
        columns[f.name] if f.name in columns else batch.column(f.name).cast(f.type) for f in schema
    ]
    table = pa.Table.from_arrays(arrays, schema=schema)
    return ScoredChunk(table, chunk_stats(table, scored, drift, probability), validated.frame)


def score_chunk(
    batch: pa.Table,
    model: BatchModel,
    schema: pa.Schema,
    *,
    contributions: bool,
    drift: dict[str, Bins] | None,
    source: str,
) -> ScoredChunk:
    """Score the rows of ``batch`` (a chunk of the input) into rows shaped by ``schema``."""
    validated = validate_chunk(batch, source=source)
    return predict_chunk(validated, model, schema, contributions=contributions, drift=drift)


def chunk_stats(
    table: pa.Table,
    scored: pd.DataFrame,
    drift: dict[str, Bins] | None,
    probability: npt.NDArray[np.float64],
) -> ChunkStats:
    """The chunk's counts, from its output columns and the canonical values of scored rows."""
    eligible = table.column(ELIGIBLE)
    outside = pc.fill_null(pc.invert(eligible), False)
    problems = table.column(PROBLEMS)
    has_problem = pc.not_equal(problems, "")
    return ChunkStats(
        rows=table.num_rows,
        micro=np.rint(probability * MICRO).astype(np.int64),
        bands=Counter(dict(_value_counts(table.column(RISK_BAND)))),
        problems=count_parts(problems.filter(has_problem)),
        rows_with_problems=int(pc.sum(has_problem).as_py() or 0),
        rows_flagged=int(pc.sum(pc.not_equal(table.column(FLAGS), "")).as_py() or 0),
        eligibility=Counter(
            eligible=int(pc.sum(pc.fill_null(eligible, False)).as_py() or 0),
            outside=int(pc.sum(outside).as_py() or 0),
            unknown=eligible.null_count,
        ),
        outside_reasons=count_parts(table.column(REASONS)),
        unknown_criteria=count_parts(table.column(ELIGIBILITY_UNKNOWN)),
        drift={
            name: bins.count(scored[name])
            for name, bins in (drift or {}).items()
            if name in scored.columns
        },
    )


def _value_counts(column: pa.ChunkedArray) -> list[tuple[str, int]]:
    valid = column.drop_null()
    if len(valid) == 0:
        return []
    counted = pc.value_counts(valid)
    return list(
        zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)
    )
