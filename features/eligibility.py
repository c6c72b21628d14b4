"""Who the model applies to: screening against the MRBS criteria (CLINICAL.md section 2).

A patient is ``eligible`` (True) only when every machine-checkable criterion is known and met;
``False`` when any criterion fails (every failing reason is listed); and unknown (NA) when none
fails but some are not known. Unknown facts are reported as unknown, never as eligible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from features.record import EXCLUSIONS, INCLUSION
from features.schema import SEPARATOR, text_per_row

ELIGIBLE: Final = "eligible"
REASONS: Final = "eligibility_reasons"
UNKNOWN_PREFIX: Final = "unknown: "

#: SLEDAI-2K at or above which disease counts as active: Yee et al., Rheumatology 2011;50:982
#: found 3 or 4 the best cut-off for active disease.
ACTIVE_SLEDAI_MIN: Final = 4
ADULT_AGE_OVER: Final = 18.0
IGG_MIN_MG_DL: Final = 400.0
IGA_MIN_MG_DL: Final = 10.0


@dataclass(frozen=True)
class Criterion:
    """One criterion: the field it reads and when the patient fails it.

    ``test`` is ``below`` or ``at_most`` (a number against ``limit``), ``true`` (an exclusion
    present) or ``false`` (an inclusion not met). `fails` screens a column, `fails_value` one
    known value (the service's single patient, without building a column).
    """

    field: str
    reason: str
    test: Literal["below", "at_most", "true", "false"]
    limit: float = 0.0

    def fails(self, values: pd.Series) -> pd.Series:
        if self.test == "below":
            return values.astype("Float64") < self.limit
        if self.test == "at_most":
            return values.astype("Float64") <= self.limit
        flags = values.astype("boolean")
        return flags if self.test == "true" else ~flags

    def fails_value(self, value: Any) -> bool:
        if self.test == "below":
            return float(value) < self.limit
        if self.test == "at_most":
            return float(value) <= self.limit
        return bool(value) is (self.test == "true")


CRITERIA: Final[tuple[Criterion, ...]] = (
    Criterion("age", "age 18 or under", "at_most", ADULT_AGE_OVER),
    Criterion(
        "sledai_2k",
        f"inactive disease (SLEDAI-2K below {ACTIVE_SLEDAI_MIN})",
        "below",
        ACTIVE_SLEDAI_MIN,
    ),
    Criterion("igg", "IgG below 400 mg/dL", "below", IGG_MIN_MG_DL),
    Criterion("iga", "IgA below 10 mg/dL", "below", IGA_MIN_MG_DL),
    *(Criterion(spec.name, f"not met: {spec.description}", "false") for spec in INCLUSION),
    *(Criterion(spec.name, spec.description, "true") for spec in EXCLUSIONS),
)


def screen_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Screen every row of a canonical baseline table; returns ``eligible`` and the reasons.

    The reasons are the failed criteria, then ``unknown: <field>, <field>`` when some are not
    known, joined with ``"; "``. A criterion whose column is absent counts as unknown for every
    row.
    """
    n = len(frame)
    fails = np.zeros((n, len(CRITERIA)), dtype=bool)
    missing = np.zeros((n, len(CRITERIA)), dtype=bool)
    for j, criterion in enumerate(CRITERIA):
        if criterion.field in frame.columns:
            outcome = criterion.fails(frame[criterion.field])
            fails[:, j] = outcome.fillna(False).to_numpy(dtype=bool)
            missing[:, j] = outcome.isna().to_numpy(dtype=bool)
        else:
            missing[:, j] = True
    failed = np.asarray(fails.any(axis=1), dtype=bool)
    eligible = pd.array(~failed, dtype="boolean")
    eligible[~failed & missing.any(axis=1)] = pd.NA
    text = text_per_row(np.hstack([fails, missing]), _reasons_text)
    reasons = pd.Series(text, index=frame.index, dtype="string")
    return pd.DataFrame({ELIGIBLE: eligible, REASONS: reasons}, index=frame.index)


def _reasons_text(columns: list[int]) -> str:
    """The reasons for one pattern of failed and unknown criteria (`screen_frame`'s columns)."""
    count = len(CRITERIA)
    reasons = [CRITERIA[j].reason for j in columns if j < count]
    unknown = [CRITERIA[j - count].field for j in columns if j >= count]
    return SEPARATOR.join(reasons + ([UNKNOWN_PREFIX + ", ".join(unknown)] if unknown else []))


@dataclass(frozen=True)
class Screening:
    """One patient's screening: eligible (None = unknown), failing reasons, unknown fields."""

    eligible: bool | None
    reasons: tuple[str, ...]
    unknown: tuple[str, ...]


def screen(record: Mapping[str, Any]) -> Screening:
    """Screen one patient given as a mapping of canonical values (None = not known)."""
    reasons: list[str] = []
    unknown: list[str] = []
    for criterion in CRITERIA:
        value = record.get(criterion.field)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            unknown.append(criterion.field)
            continue
        if criterion.fails_value(value):
            reasons.append(criterion.reason)
    eligible = False if reasons else (None if unknown else True)
    return Screening(eligible, tuple(reasons), tuple(unknown))
