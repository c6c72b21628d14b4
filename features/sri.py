"""The SLE Responder Index, SRI-k (Furie et al., Arthritis Rheum 2009;61:1143-1151).

A patient is a responder at week 48, compared with baseline, only if all three hold
(CLINICAL.md section 5; the BLISS trials' primary endpoint with k = 4):

1. the SLEDAI-2K total fell by at least k points (SRI-4; SRI-5 to SRI-8 use 5 to 8);
2. BILAG-2004: no new A domain score and no more than one new B domain score, "new" meaning
   worse than at baseline into that grade (A from B-E; B from C, D or E);
3. the Physician Global Assessment (0-3) rose by less than 0.30.

Patients who dropped out before week 48 and patients who received protocol-prohibited rescue
therapy are non-responders, whatever their scores.

Every failing reason is reported, from a closed vocabulary (`REASONS`), so that label derivation
can be audited. `sri` scores one patient; `sri_frame` scores a cohort without per-row loops and
gives the same answers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.sledai import MAX_TOTAL, MIN_TOTAL
from features.tables import BILAG_PREFIX, PGA, RESCUE

BILAG_DOMAINS: Final[tuple[str, ...]] = (
    "constitutional",
    "mucocutaneous",
    "neuropsychiatric",
    "musculoskeletal",
    "cardiorespiratory",
    "gastrointestinal",
    "ophthalmic",
    "renal",
    "haematological",
)
"""The nine BILAG-2004 organ domains."""

BILAG_COLUMNS: Final[Mapping[str, str]] = MappingProxyType(
    {domain: f"{BILAG_PREFIX}{domain}" for domain in BILAG_DOMAINS}
)
"""BILAG domain -> its grade column."""

BILAG_GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D", "E")
"""BILAG-2004 grades, A most active (A severe, B moderate, C mild, D inactive, E never)."""

SLEDAI_COLUMN: Final = "sledai_2k"
"""Column of the SLEDAI-2K total in the frames `sri_frame` reads."""

ASSESSMENT_COLUMNS: Final[tuple[str, ...]] = (SLEDAI_COLUMN, *BILAG_COLUMNS.values(), PGA)

PGA_MIN: Final = 0.0
PGA_MAX: Final = 3.0
PGA_WORSENING: Final = 0.30
"""A PGA rise of this much or more (0-3 scale) is a worsening (Furie 2009)."""

K_MIN: Final = 4
K_MAX: Final = 8

MISSING_BASELINE: Final = "missing_baseline"
MISSING_WEEK48: Final = "missing_week48"
RESCUE_THERAPY: Final = "rescue_therapy"
SLEDAI_REDUCTION_BELOW_K: Final = "sledai_reduction_below_k"
NEW_BILAG_A: Final = "new_bilag_a"
NEW_BILAG_B_OVER_ONE: Final = "new_bilag_b_over_one"
PGA_WORSENED: Final = "pga_worsened"
REASONS: Final[tuple[str, ...]] = (
    MISSING_BASELINE,
    MISSING_WEEK48,
    RESCUE_THERAPY,
    SLEDAI_REDUCTION_BELOW_K,
    NEW_BILAG_A,
    NEW_BILAG_B_OVER_ONE,
    PGA_WORSENED,
)
"""Every reason a patient can fail SRI-k, in the order they are reported."""

REASON_SEPARATOR: Final = ";"

# PGA is recorded to one or two decimals; rounding the difference keeps binary floating point
# from turning 1.6 - 1.3 (0.30000000000000004) or 1.3 - 1.0 (0.30000000000000004) into a
# different decision from the one a clinician reading the chart would make.
_PGA_DECIMALS: Final = 6


@dataclass(frozen=True)
class Assessment:
    """One visit's SRI components.

    ``sledai_2k``: SLEDAI-2K total, a whole number from 0 to 105 (Gladman 2002).
    ``bilag``: a BILAG-2004 grade "A" to "E" for each of the nine `BILAG_DOMAINS`.
    ``pga``: Physician Global Assessment, 0 (none) to 3 (severe disease activity).
    """

    sledai_2k: int
    bilag: Mapping[str, str] = field(hash=False)
    pga: float

    def __post_init__(self) -> None:
        if isinstance(self.sledai_2k, bool) or not isinstance(self.sledai_2k, numbers.Integral):
            raise ValueError(f"sledai_2k: {self.sledai_2k!r} is not a whole number")
        if not MIN_TOTAL <= self.sledai_2k <= MAX_TOTAL:
            raise ValueError(f"sledai_2k: {self.sledai_2k} is outside {MIN_TOTAL}..{MAX_TOTAL}")
        if isinstance(self.pga, bool) or not isinstance(self.pga, numbers.Real):
            raise ValueError(f"pga: {self.pga!r} is not a number")
        if math.isnan(self.pga) or not PGA_MIN <= self.pga <= PGA_MAX:
            raise ValueError(f"pga: {self.pga} is outside {PGA_MIN:g}..{PGA_MAX:g}")
        _check_bilag(self.bilag)
        # A read-only copy, so a frozen Assessment cannot change through the caller's dict.
        object.__setattr__(self, "bilag", MappingProxyType(dict(self.bilag)))


@dataclass(frozen=True)
class SriResult:
    """SRI-k outcome: ``responder``, and every failing reason (empty for a responder)."""

    responder: bool
    reasons: tuple[str, ...]


def sri(
    baseline: Assessment | None,
    week48: Assessment | None,
    *,
    k: int = 4,
    rescue_therapy: bool = False,
) -> SriResult:
    """SRI-k response at week 48 against baseline (Furie 2009), with every failing reason.

    ``None`` for an assessment means it is missing: a missing week 48 is a dropout (non-response,
    `MISSING_WEEK48`); with a missing baseline the components cannot be scored
    (`MISSING_BASELINE`). ``rescue_therapy`` is protocol-prohibited therapy given since baseline
    (non-response, `RESCUE_THERAPY`). ``k`` is the SLEDAI-2K reduction required, 4 to 8.
    """
    _check_k(k)
    failed: set[str] = set()
    if baseline is None:
        failed.add(MISSING_BASELINE)
    if week48 is None:
        failed.add(MISSING_WEEK48)
    if rescue_therapy:
        failed.add(RESCUE_THERAPY)
    if baseline is not None and week48 is not None:
        if baseline.sledai_2k - week48.sledai_2k < k:
            failed.add(SLEDAI_REDUCTION_BELOW_K)
        pairs = [(baseline.bilag[d], week48.bilag[d]) for d in BILAG_DOMAINS]
        if any(now == "A" and before != "A" for before, now in pairs):
            failed.add(NEW_BILAG_A)
        if sum(now == "B" and before in ("C", "D", "E") for before, now in pairs) > 1:
            failed.add(NEW_BILAG_B_OVER_ONE)
        if _pga_worsened(np.array([week48.pga - baseline.pga]))[0]:
            failed.add(PGA_WORSENED)
    reasons = tuple(reason for reason in REASONS if reason in failed)
    return SriResult(responder=not reasons, reasons=reasons)


def sri_frame(baseline: pd.DataFrame, week48: pd.DataFrame, *, k: int = 4) -> pd.DataFrame:
    """SRI-k for a cohort, vectorised; the same answers as `sri` patient by patient.

    Both frames are indexed by patient_id (unique) and hold ``sledai_2k`` (total), the nine
    ``bilag_*`` grade columns and ``pga``; ``week48`` also holds ``rescue_therapy`` (boolean).

    Returns a frame indexed like ``baseline`` with ``sri{k}`` (nullable boolean) and
    ``sri{k}_reasons`` (failing reasons joined by ";", "" for responders):

    - a patient absent from ``week48``, or with any week-48 component missing (rescue status
      included), is a non-responder with `MISSING_WEEK48`, as a dropout is;
    - rescue therapy makes a non-responder (`RESCUE_THERAPY`);
    - a patient with any baseline component missing gets `MISSING_BASELINE`, and <NA> as the
      response unless dropout or rescue already make them a non-responder.

    Raises ValueError naming every missing column, a duplicated patient, or the first
    impossible value (SLEDAI-2K outside 0..105, PGA outside 0-3, a grade other than A-E).
    """
    _check_k(k)
    _check_frame(baseline, ASSESSMENT_COLUMNS, "baseline")
    _check_frame(week48, (*ASSESSMENT_COLUMNS, RESCUE), "week48")
    aligned = week48.reindex(baseline.index)

    base_sledai, base_grades, base_pga, base_complete = _components(baseline, "baseline")
    week_sledai, week_grades, week_pga, week_complete = _components(aligned, "week48")
    rescue_known, rescue = _rescue(aligned[RESCUE])
    week_complete &= rescue_known
    scored = base_complete & week_complete

    with np.errstate(invalid="ignore"):
        sledai_fail = scored & (base_sledai - week_sledai < k)
        pga_fail = scored & _pga_worsened(week_pga - base_pga)
    new_a = scored & ((week_grades == 0) & (base_grades > 0)).any(axis=1)
    new_b = scored & (((week_grades == 1) & (base_grades > 1)).sum(axis=1) > 1)

    flags = {
        MISSING_BASELINE: ~base_complete,
        MISSING_WEEK48: ~week_complete,
        RESCUE_THERAPY: rescue,
        SLEDAI_REDUCTION_BELOW_K: sledai_fail,
        NEW_BILAG_A: new_a,
        NEW_BILAG_B_OVER_ONE: new_b,
        PGA_WORSENED: pga_fail,
    }
    codes = np.zeros(len(baseline), dtype=np.int64)
    for bit, reason in enumerate(REASONS):
        codes |= flags[reason].astype(np.int64) << bit
    undetermined = ~base_complete & week_complete & ~rescue

    column = f"sri{k}"
    return pd.DataFrame(
        {
            column: pd.arrays.BooleanArray(codes == 0, undetermined),
            f"{column}_reasons": pd.array(_reason_table()[codes], dtype="string"),
        },
        index=baseline.index,
    )


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not K_MIN <= k <= K_MAX:
        raise ValueError(f"k: {k!r} is not a whole number from {K_MIN} to {K_MAX} (SRI-4 to SRI-8)")


def _check_bilag(bilag: Mapping[str, str]) -> None:
    unknown = [domain for domain in bilag if domain not in BILAG_COLUMNS]
    if unknown:
        raise ValueError(
            f"bilag: unknown domain(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(BILAG_DOMAINS)}"
        )
    missing = [domain for domain in BILAG_DOMAINS if domain not in bilag]
    if missing:
        raise ValueError(f"bilag: missing domain(s) {', '.join(missing)}")
    for domain in BILAG_DOMAINS:
        if bilag[domain] not in BILAG_GRADES:
            raise ValueError(f"bilag.{domain}: grade {bilag[domain]!r} is not one of A, B, C, D, E")


def _check_frame(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    duplicated = frame.index[frame.index.duplicated()]
    if len(duplicated):
        raise ValueError(f"{name}: patient {duplicated[0]!r} appears more than once")


def _components(
    frame: pd.DataFrame, name: str
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.int8], npt.NDArray[np.float64], npt.NDArray[np.bool_]
]:
    """SLEDAI-2K and PGA as floats (NaN missing), grades as codes A=0..E=4 (-1 missing), and
    whether every component is present; ValueError naming the column of an impossible value."""
    sledai = _numeric(frame, SLEDAI_COLUMN, name)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(sledai) & ((sledai < MIN_TOTAL) | (sledai > MAX_TOTAL))
        bad |= ~np.isnan(sledai) & (np.floor(sledai) != sledai)
    _raise_first(frame, bad, sledai, f"{name}.{SLEDAI_COLUMN}", "a whole number 0..105")

    pga = _numeric(frame, PGA, name)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(pga) & ((pga < PGA_MIN) | (pga > PGA_MAX))
    _raise_first(frame, bad, pga, f"{name}.{PGA}", f"within {PGA_MIN:g}..{PGA_MAX:g}")

    grades = np.column_stack(
        [_grade_codes(frame[column], f"{name}.{column}") for column in BILAG_COLUMNS.values()]
    ).reshape(len(frame), len(BILAG_DOMAINS))
    complete = ~np.isnan(sledai) & ~np.isnan(pga) & (grades >= 0).all(axis=1)
    return sledai, grades, pga, np.asarray(complete, dtype=np.bool_)


def _numeric(frame: pd.DataFrame, column: str, name: str) -> npt.NDArray[np.float64]:
    try:
        numeric = pd.to_numeric(frame[column])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}.{column}: not numeric ({error})") from error
    return np.asarray(
        numeric.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64
    )


def _grade_codes(column: pd.Series, name: str) -> npt.NDArray[np.int8]:
    invalid = ~column.isin(BILAG_GRADES).to_numpy(dtype=bool) & column.notna().to_numpy(dtype=bool)
    if invalid.any():
        value = column[invalid].iloc[0]
        raise ValueError(f"{name}: grade {value!r} is not one of A, B, C, D, E")
    return np.asarray(pd.Categorical(column, categories=BILAG_GRADES).codes, dtype=np.int8)


def _rescue(column: pd.Series) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Whether rescue status is known, and whether rescue therapy was given."""
    if pd.api.types.is_bool_dtype(column.dtype):
        flags = column.astype("boolean")
    else:
        values = _numeric(column.to_frame(), RESCUE, "week48")
        bad = ~np.isnan(values) & (values != 0) & (values != 1)
        if bad.any():
            raise ValueError(f"week48.{RESCUE}: {values[bad][0]:g} is not a boolean (0/1)")
        flags = pd.Series(values, index=column.index).astype("boolean")
    known = flags.notna().to_numpy()
    return known, flags.fillna(False).to_numpy(dtype=np.bool_)


def _raise_first(
    frame: pd.DataFrame,
    bad: npt.NDArray[np.bool_],
    values: npt.NDArray[np.float64],
    name: str,
    expected: str,
) -> None:
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: {values[position]:g} for patient {frame.index[position]!r} is not {expected}"
        )


def _pga_worsened(rise: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    return np.asarray(np.round(rise, _PGA_DECIMALS) >= PGA_WORSENING, dtype=np.bool_)


def _reason_table() -> npt.NDArray[np.object_]:
    """Joined reasons for every combination of failing reasons, indexed by its bit code."""
    table = [
        REASON_SEPARATOR.join(r for bit, r in enumerate(REASONS) if code >> bit & 1)
        for code in range(1 << len(REASONS))
    ]
    return np.array(table, dtype=object)
