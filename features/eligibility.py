"""Who the model applies to: screening against the MRBS criteria (CLINICAL.md section 2).

A patient is ``eligible`` (True) only when every machine-checkable criterion is known and met;
``False`` when any criterion fails (every failing reason is listed); and unknown (None) when
none fails but some are not known. Unknown facts are reported as unknown, never as eligible.

`screen` is the one implementation, on validated records as columns (`features.columns`); the
service, batch scoring and cohort building all screen through it and only render its result
differently (lists for a response, joined text for a table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import columns as cols
from features.notes import SEPARATOR, text_per_row
from features.record import EXCLUSIONS, INCLUSION

ELIGIBLE: Final = "eligible"
REASONS: Final = "eligibility_reasons"
UNKNOWN_PREFIX: Final = "unknown: "

#: SLEDAI-2K at or above which disease counts as active: Yee et al., Rheumatology 2011;50:982
#: found 3 or 4 the best cut-off for active disease.
ACTIVE_SLEDAI_MIN: Final = 4
ADULT_AGE_OVER: Final = 18.0
IGG_MIN_MG_DL: Final = 400.0
IGA_MIN_MG_DL: Final = 10.0

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Criterion:
    """One criterion: the field it reads and when the patient fails it.

    ``test`` is ``below`` or ``at_most`` (a number against ``limit``), ``true`` (an exclusion
    present) or ``false`` (an inclusion not met); `screen` applies it.
    """

    field: str
    reason: str
    test: Literal["below", "at_most", "true", "false"]
    limit: float = 0.0


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
#: The record fields screening reads.
CRITERIA_FIELDS: Final = tuple(dict.fromkeys(criterion.field for criterion in CRITERIA))


@dataclass(frozen=True)
class Screening:
    """Screening of n patients: which criteria (columns, in `CRITERIA` order) each fails and
    which each leaves unknown."""

    failed: BoolArray
    unknown: BoolArray

    @property
    def eligible(self) -> npt.NDArray[np.object_]:
        """Per patient: True, False, or None when nothing fails but something is unknown."""
        failed = self.failed.any(axis=1)
        result = np.where(failed, False, True).astype(object)
        result[~failed & self.unknown.any(axis=1)] = None
        return result

    def reasons(self, row: int) -> tuple[str, ...]:
        """Every criterion patient ``row`` fails."""
        return tuple(CRITERIA[j].reason for j in np.flatnonzero(self.failed[row]))

    def unknown_fields(self, row: int) -> tuple[str, ...]:
        """The fields of the criteria that could not be checked for patient ``row``."""
        return tuple(CRITERIA[j].field for j in np.flatnonzero(self.unknown[row]))

    def reasons_text(self) -> npt.NDArray[np.object_]:
        """Per patient, the failed criteria joined with ``"; "`` ("" when none)."""
        return text_per_row(self.failed, lambda found: SEPARATOR.join(_reasons(found)))

    def unknown_text(self) -> npt.NDArray[np.object_]:
        """Per patient, the unknown criteria's fields joined with ``"; "`` ("" when none)."""
        return text_per_row(self.unknown, lambda found: SEPARATOR.join(_fields(found)))


def _reasons(found: list[int]) -> list[str]:
    return [CRITERIA[j].reason for j in found]


def _fields(found: list[int]) -> list[str]:
    return [CRITERIA[j].field for j in found]


#: Each criterion's test as arrays over `CRITERIA`, so one patient or a million are screened by
#: the same few array operations: a number fails below (or at most) its limit, a fact fails
#: when it is 1 (an exclusion present) or 0 (an inclusion not met).
_LIMITS: Final = np.array([c.limit for c in CRITERIA])
_BELOW: Final = np.array([c.test == "below" for c in CRITERIA])
_AT_MOST: Final = np.array([c.test == "at_most" for c in CRITERIA])
_FAILING_FACT: Final = np.array([1.0 if c.test == "true" else 0.0 for c in CRITERIA])


def screen(columns: cols.Columns) -> Screening:
    """Screen every patient held in ``columns`` (validated records; see `features.columns`).

    A criterion whose field is absent from ``columns`` is unknown for every patient.
    """
    n = cols.size(columns)
    absent = np.full(n, np.nan)
    values = np.column_stack([columns.get(c.field, absent) for c in CRITERIA]).reshape(
        n, len(CRITERIA)
    )
    with np.errstate(invalid="ignore"):
        failed = np.where(
            _BELOW,
            values < _LIMITS,
            np.where(_AT_MOST, values <= _LIMITS, values == _FAILING_FACT),
        )
    return Screening(failed, np.isnan(values))


def screen_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`screen` for a validated table, as the cohort table writes it: ``eligible`` (nullable)
    and the reasons, the failed criteria then ``unknown: <field>, <field>``, joined by "; "."""
    screening = screen(cols.from_frame(frame, CRITERIA_FIELDS))
    eligible = pd.array(screening.eligible.tolist(), dtype="boolean")
    both = np.hstack([screening.failed, screening.unknown])
    text = text_per_row(both, _cohort_reasons)
    return pd.DataFrame(
        {ELIGIBLE: eligible, REASONS: pd.Series(text, index=frame.index, dtype="string")},
        index=frame.index,
    )


def _cohort_reasons(found: list[int]) -> str:
    count = len(CRITERIA)
    reasons = _reasons([j for j in found if j < count])
    unknown = _fields([j - count for j in found if j >= count])
    return SEPARATOR.join(reasons + ([UNKNOWN_PREFIX + ", ".join(unknown)] if unknown else []))


def screen_one(record: dict[str, Any]) -> Screening:
    """`screen` for one validated record given as a mapping (None = not known)."""
    return screen(cols.from_records([record], CRITERIA_FIELDS))
