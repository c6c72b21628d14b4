"""Rows of a baseline table in, their predictions out: `Scorer.score` for tables.

`score_rows` validates the rows with the record declaration (`features.schema.validate_table`,
generated from the declaration the service validates JSON with), scores the rows without
problems with `scoring.scorer.Scorer.score` and returns, for every input row in order, the
prediction columns below. Batch scoring (each chunk of a file), Spark (each Arrow batch) and the
logged MLflow model all call it.

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
- ``model_name``, ``model_version``: the registered model that answered.

Lists are joined with ``"; "``. The input's own ``problems`` and ``flags`` (as `mrbs cohort
build` writes them) are merged into these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import columns as cols
from features.eligibility import ELIGIBLE, REASONS, Screening, screen
from features.record import FIELDS
from features.schema import FLAGS, PROBLEMS, validate_table
from scoring.scorer import Scorer, Scores, shown
from scoring.text import contributions_text, input_notes, join_names, merge_notes

PROBABILITY: Final = "probability"
RISK_BAND: Final = "risk_band"
CONTRIBUTIONS: Final = "contributions"
CONTRIBUTION_PREFIX: Final = "contribution_"
IMPUTED: Final = "imputed"
ELIGIBILITY_UNKNOWN: Final = "eligibility_unknown"
MODEL_NAME: Final = "model_name"
MODEL_VERSION: Final = "model_version"

#: Input columns validation reads: every declared field and its unit column.
RECORD_COLUMNS: Final = frozenset(
    {spec.name for spec in FIELDS} | {spec.unit_column for spec in FIELDS}
)
_PANDAS_TYPES: Final = {pa.bool_(): pd.BooleanDtype()}
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def prediction_fields(scorer: Scorer, *, contributions: bool) -> list[pa.Field]:
    """The prediction columns, in output order, with their Arrow types."""
    text = pa.string()
    explained = (
        [
            pa.field(CONTRIBUTIONS, text),
            *(pa.field(CONTRIBUTION_PREFIX + name, pa.float64()) for name in scorer.shown_as),
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


@dataclass(frozen=True)
class ScoredRows:
    """The prediction columns of some rows, and what their summary needs: the canonical
    values and the shown probabilities of the rows that were scored."""

    columns: dict[str, pa.Array]
    scored: pd.DataFrame
    probability: FloatArray

    def table(self, fields: list[pa.Field]) -> pa.Table:
        return pa.Table.from_arrays(
            [self.columns[f.name] for f in fields], schema=pa.schema(fields)
        )


def record_frame(table: pa.Table) -> pd.DataFrame:
    """The columns of an Arrow table that `score_rows` reads, as pandas."""
    wanted = [c for c in table.column_names if c in RECORD_COLUMNS or c in (PROBLEMS, FLAGS)]
    return table.select(wanted).to_pandas(types_mapper=_PANDAS_TYPES.get)


def score_rows(
    rows: pd.DataFrame, scorer: Scorer, *, contributions: bool, source: str
) -> ScoredRows:
    """Validate and score ``rows`` (record columns, and the input's own ``problems`` and
    ``flags`` when it has them); ``source`` names the input in messages."""
    records = rows[[c for c in rows.columns if c in RECORD_COLUMNS]]
    frame = validate_table(records, table=source).frame
    problems = _notes(rows, frame, PROBLEMS)
    ok = np.asarray(pc.equal(problems, "").to_numpy(zero_copy_only=False), dtype=bool)
    columns = cols.from_frame(frame)
    scores = scorer.score({k: v[ok] for k, v in columns.items()}, contributions=contributions)
    screening = _screening(scores.screening, {k: v[~ok] for k, v in columns.items()}, ok)
    probability = shown(scores.probability)
    out = _predictions(scorer, scores, probability, ok)
    out |= {
        FLAGS: _notes(rows, frame, FLAGS),
        ELIGIBLE: pa.array(screening.eligible, type=pa.bool_(), from_pandas=True),
        REASONS: pa.array(screening.reasons_text(), type=pa.string()),
        ELIGIBILITY_UNKNOWN: pa.array(screening.unknown_text(), type=pa.string()),
        PROBLEMS: problems,
        MODEL_NAME: pa.repeat(pa.scalar(scorer.identity.name, pa.string()), len(rows)),
        MODEL_VERSION: pa.repeat(pa.scalar(scorer.identity.version, pa.string()), len(rows)),
    }
    return ScoredRows(out, frame[ok].reset_index(drop=True), probability)


def _screening(scored: Screening, rest: cols.Columns, ok: BoolArray) -> Screening:
    """The screening of every row: the scorer's for scored rows, `screen` for the others."""
    if ok.all():
        return scored
    others = screen(rest)
    failed = np.empty((ok.size, scored.failed.shape[1]), dtype=bool)
    unknown = np.empty_like(failed)
    failed[ok], failed[~ok] = scored.failed, others.failed
    unknown[ok], unknown[~ok] = scored.unknown, others.unknown
    return Screening(failed, unknown)


def _predictions(
    scorer: Scorer, scores: Scores, probability: FloatArray, ok: BoolArray
) -> dict[str, pa.Array]:
    """Probability, band, contributions and imputed fields, placed at the scored rows."""
    columns = {
        PROBABILITY: _spread(probability, ok),
        RISK_BAND: _spread_text(pa.array(scores.band, type=pa.string()), ok),
    }
    if scores.contributions is not None:
        rounded = shown(scores.contributions)
        text = contributions_text(scores.contributions, rounded, scorer.shown_as)
        columns[CONTRIBUTIONS] = _spread_text(text, ok)
        for j, name in enumerate(scorer.shown_as):
            columns[CONTRIBUTION_PREFIX + name] = _spread(rounded[:, j], ok)
    imputed = pa.array(join_names(scores.imputed, scorer.fields), type=pa.string())
    columns[IMPUTED] = _spread_text(imputed, ok)
    return columns


def _spread_text(values: pa.Array, ok: BoolArray) -> pa.Array:
    """Values of the scored rows placed at their positions; null elsewhere."""
    if ok.all():
        return values
    positions = np.full(ok.size, -1, dtype=np.int64)
    positions[ok] = np.arange(int(ok.sum()))
    return values.take(pa.array(positions, mask=~ok))


def _spread(values: FloatArray, ok: BoolArray) -> pa.Array:
    full = np.full(ok.size, np.nan)
    full[ok] = values
    return pa.array(full, type=pa.float64(), mask=~ok)


def _notes(rows: pd.DataFrame, frame: pd.DataFrame, name: str) -> pa.Array:
    """Validation's ``problems`` or ``flags``, merged with the input's own when it has them."""
    new = frame[name]
    earlier = input_notes(rows, name)
    if earlier is None:
        return pa.array(new, type=pa.string(), from_pandas=True)
    merged = merge_notes(earlier, np.asarray(new.to_numpy(dtype=object)))
    return pa.array(merged, type=pa.string())


def prediction_table(
    rows: pd.DataFrame, scorer: Scorer, *, contributions: bool = True, source: str = "input"
) -> pa.Table:
    """The prediction columns of every row of ``rows``, as a table of their own."""
    scored = score_rows(rows, scorer, contributions=contributions, source=source)
    return scored.table(prediction_fields(scorer, contributions=contributions))
