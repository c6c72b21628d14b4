"""SLEDAI-2K, the Systemic Lupus Erythematosus Disease Activity Index 2000.

Gladman DD, Ibanez D, Urowitz MB. Systemic lupus erythematosus disease activity index 2000.
J Rheumatol 2002;29:288-291.

Each of 24 descriptors is scored when present at the visit or within the preceding 10 days, with
a fixed weight (8 for the neurological and vasculitis items, 4 for arthritis, myositis and the
renal items, 2 for mucocutaneous, serosal and serological items, 1 for fever and cytopenias). The
total is the sum of the weights of the descriptors present, 0 to 105 (CLINICAL.md section 4).

Two descriptors are laboratory findings and can be derived from measured values with
`serology_items`: low complement (C3, C4 or CH50 below the reporting lab's lower limit) and
increased DNA binding (anti-dsDNA above the assay's normal range).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, TypeAlias, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.tables import SLEDAI_PREFIX, SLEDAI_TOTAL

DESCRIPTOR_WEIGHTS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "seizure": 8,
        "psychosis": 8,
        "organic_brain_syndrome": 8,
        "visual_disturbance": 8,
        "cranial_nerve_disorder": 8,
        "lupus_headache": 8,
        "cerebrovascular_accident": 8,
        "vasculitis": 8,
        "arthritis": 4,
        "myositis": 4,
        "urinary_casts": 4,
        "haematuria": 4,
        "proteinuria": 4,
        "pyuria": 4,
        "rash": 2,
        "alopecia": 2,
        "mucosal_ulcers": 2,
        "pleurisy": 2,
        "pericarditis": 2,
        "low_complement": 2,
        "increased_dna_binding": 2,
        "fever": 1,
        "thrombocytopenia": 1,
        "leukopenia": 1,
    }
)
"""Descriptor name -> weight, in the order of the Gladman 2002 scoring sheet."""

DESCRIPTORS: Final[tuple[str, ...]] = tuple(DESCRIPTOR_WEIGHTS)

DESCRIPTOR_DEFINITIONS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "seizure": ("Seizure", "Recent onset; excludes metabolic, infectious or drug causes."),
        "psychosis": (
            "Psychosis",
            "Altered ability to function from a severe disturbance in the perception of reality "
            "(hallucinations, incoherence, loose associations, impoverished or illogical "
            "thinking, bizarre, disorganised or catatonic behaviour); excludes uraemia and drugs.",
        ),
        "organic_brain_syndrome": (
            "Organic brain syndrome",
            "Altered mental function with impaired orientation, memory or other intellectual "
            "function, rapid onset and fluctuating features; excludes metabolic, infectious or "
            "drug causes.",
        ),
        "visual_disturbance": (
            "Visual disturbance",
            "Retinal changes of SLE (cytoid bodies, retinal haemorrhages, serous exudate or "
            "haemorrhage in the choroid, or optic neuritis); excludes hypertension, infection "
            "or drugs.",
        ),
        "cranial_nerve_disorder": (
            "Cranial nerve disorder",
            "New onset of sensory or motor neuropathy involving cranial nerves.",
        ),
        "lupus_headache": (
            "Lupus headache",
            "Severe, persistent headache, possibly migrainous, not responding to narcotic "
            "analgesia.",
        ),
        "cerebrovascular_accident": (
            "Cerebrovascular accident",
            "New onset of cerebrovascular accident(s); excludes arteriosclerosis.",
        ),
        "vasculitis": (
            "Vasculitis",
            "Ulceration, gangrene, tender finger nodules, periungual infarction, splinter "
            "haemorrhages, or biopsy or angiogram proof of vasculitis.",
        ),
        "arthritis": (
            "Arthritis",
            "At least 2 joints with pain and signs of inflammation (tenderness, swelling or "
            "effusion).",
        ),
        "myositis": (
            "Myositis",
            "Proximal muscle aching or weakness with raised CPK or aldolase, EMG changes or a "
            "biopsy showing myositis.",
        ),
        "urinary_casts": ("Urinary casts", "Heme-granular or red blood cell casts."),
        "haematuria": (
            "Haematuria",
            "More than 5 red blood cells per high-power field; excludes stone, infection or "
            "other cause.",
        ),
        "proteinuria": ("Proteinuria", "More than 0.5 g/24 h."),
        "pyuria": (
            "Pyuria",
            "More than 5 white blood cells per high-power field; excludes infection.",
        ),
        "rash": ("Rash", "Inflammatory-type rash."),
        "alopecia": ("Alopecia", "Abnormal, patchy or diffuse loss of hair."),
        "mucosal_ulcers": ("Mucosal ulcers", "Oral or nasal ulceration."),
        "pleurisy": (
            "Pleurisy",
            "Pleuritic chest pain with pleural rub or effusion, or pleural thickening.",
        ),
        "pericarditis": (
            "Pericarditis",
            "Pericardial pain with at least one of rub, effusion, or ECG or echocardiogram "
            "confirmation.",
        ),
        "low_complement": (
            "Low complement",
            "CH50, C3 or C4 below the lower limit of normal of the testing laboratory.",
        ),
        "increased_dna_binding": (
            "Increased DNA binding",
            "Anti-dsDNA above the normal range of the testing laboratory.",
        ),
        "fever": ("Fever", "Above 38 °C; excludes infectious causes."),
        "thrombocytopenia": (
            "Thrombocytopenia",
            "Fewer than 100 x 10^9 platelets/L; excludes drug causes.",
        ),
        "leukopenia": (
            "Leukopenia",
            "Fewer than 3 x 10^9 white blood cells/L; excludes drug causes.",
        ),
    }
)
"""Descriptor name -> (label, definition), as the Gladman 2002 scoring sheet defines each:
present at the visit or in the preceding 10 days."""

DESCRIPTOR_COLUMNS: Final[Mapping[str, str]] = MappingProxyType(
    {name: f"{SLEDAI_PREFIX}{name}" for name in DESCRIPTOR_WEIGHTS}
)
"""Descriptor name -> its 0/1 column in the assessments table."""

MIN_TOTAL: Final = 0
MAX_TOTAL: Final = 105

# Upper bounds (inclusive) of the activity bands; anything above the last is "very high".
_BANDS: Final[tuple[tuple[int, str], ...]] = (
    (0, "none"),
    (5, "mild"),
    (10, "moderate"),
    (19, "high"),
)
_TOP_BAND: Final = "very high"

Scalar: TypeAlias = float | None
Array: TypeAlias = pd.Series | npt.NDArray[Any] | Sequence[float | None]
Values: TypeAlias = Scalar | Array


def sledai_total(descriptors: Mapping[str, bool | int]) -> int:
    """SLEDAI-2K total (0-105) from all 24 descriptors, each present (True/1) or absent (False/0).

    Every descriptor must be given: an unscored descriptor is not the same as an absent one.
    Raises ValueError naming unknown descriptors, missing descriptors or values other than 0/1.
    """
    unknown = [name for name in descriptors if name not in DESCRIPTOR_WEIGHTS]
    if unknown:
        raise ValueError(
            f"sledai: unknown descriptor(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(DESCRIPTORS)}"
        )
    missing = [name for name in DESCRIPTORS if name not in descriptors]
    if missing:
        raise ValueError(f"sledai: missing descriptor(s) {', '.join(missing)}")
    total = 0
    for name, weight in DESCRIPTOR_WEIGHTS.items():
        value = descriptors[name]
        if not _is_flag(value):
            raise ValueError(f"sledai: {name} is {value!r}; it must be 0/1 (absent/present)")
        total += weight * int(value)
    return total


def sledai_totals(frame: pd.DataFrame) -> pd.Series:
    """SLEDAI-2K total per row of a table holding the 24 ``sledai_*`` descriptor columns.

    Descriptor values are 0/1 (or booleans); missing values are allowed and make that row's total
    missing (<NA>), because an unscored descriptor cannot be counted as absent. Returns a nullable
    Int64 Series named ``sledai_2k_total`` with the frame's index. Raises ValueError naming every
    missing column, or the first column holding a value other than 0/1.
    """
    columns = list(DESCRIPTOR_COLUMNS.values())
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"sledai: missing column(s) {', '.join(missing)}")
    flags = np.column_stack([_flag_column(frame[column], column) for column in columns])
    weights = np.fromiter(DESCRIPTOR_WEIGHTS.values(), dtype=np.int64)
    incomplete = np.asarray(np.isnan(flags).any(axis=1), dtype=np.bool_)
    totals = np.where(incomplete, 0.0, np.nan_to_num(flags) @ weights).astype(np.int64)
    return pd.Series(
        pd.arrays.IntegerArray(totals, incomplete),
        index=frame.index,
        name=SLEDAI_TOTAL,
    )


@overload
def serology_items(
    c3: Scalar,
    c4: Scalar,
    c3_lower_limit: Scalar,
    c4_lower_limit: Scalar,
    anti_dsdna: Scalar,
    anti_dsdna_cutoff: Scalar,
) -> tuple[bool | None, bool | None]: ...


@overload
def serology_items(
    c3: Array,
    c4: Values,
    c3_lower_limit: Values,
    c4_lower_limit: Values,
    anti_dsdna: Values,
    anti_dsdna_cutoff: Values,
) -> tuple[pd.Series, pd.Series]: ...


@overload
def serology_items(
    c3: Values,
    c4: Values,
    c3_lower_limit: Values,
    c4_lower_limit: Values,
    anti_dsdna: Values,
    anti_dsdna_cutoff: Values,
) -> tuple[bool | None, bool | None] | tuple[pd.Series, pd.Series]: ...


def serology_items(
    c3: Values,
    c4: Values,
    c3_lower_limit: Values,
    c4_lower_limit: Values,
    anti_dsdna: Values,
    anti_dsdna_cutoff: Values,
) -> tuple[bool | None, bool | None] | tuple[pd.Series, pd.Series]:
    """The two serological SLEDAI-2K descriptors from measured values (Gladman 2002).

    ``low_complement``: C3 below its lab's lower limit or C4 below its lab's lower limit. One
    known low value is enough; both known and not low gives False; anything else is undecided.
    CH50 also counts in SLEDAI-2K but is not measured here.

    ``increased_dna_binding``: anti-dsDNA at or above the assay's positivity cut-off (e.g. 30
    IU/mL for the BLISS ELISA). Values from different assays are not comparable, so each value
    comes with its own assay's cut-off.

    Complement and its limits in mg/dL, anti-dsDNA and its cut-off in IU/mL. Each argument is a
    scalar or a 1-D array/Series (scalars broadcast, e.g. one lower limit for all rows). With
    scalars only the result is two ``bool | None`` (None: undecided); otherwise two nullable
    boolean Series (<NA>: undecided) named after their descriptor columns, carrying the index of
    the Series inputs (all Series inputs must share one index) or a RangeIndex.
    """
    arrays, index, scalar = _as_float_arrays(
        {
            "c3": c3,
            "c4": c4,
            "c3_lower_limit": c3_lower_limit,
            "c4_lower_limit": c4_lower_limit,
            "anti_dsdna": anti_dsdna,
            "anti_dsdna_cutoff": anti_dsdna_cutoff,
        }
    )
    for name in ("c3", "c4", "anti_dsdna"):
        _check_bound(arrays[name], name, "is negative; a concentration cannot be below 0", 0.0)
    for name in ("c3_lower_limit", "c4_lower_limit", "anti_dsdna_cutoff"):
        _check_bound(arrays[name], name, "is not positive; a lab limit must be above 0", 0.0, True)

    c3_known = ~np.isnan(arrays["c3"]) & ~np.isnan(arrays["c3_lower_limit"])
    c4_known = ~np.isnan(arrays["c4"]) & ~np.isnan(arrays["c4_lower_limit"])
    c3_low = c3_known & (arrays["c3"] < arrays["c3_lower_limit"])
    c4_low = c4_known & (arrays["c4"] < arrays["c4_lower_limit"])
    low = c3_low | c4_low
    low_undecided = ~low & ~(c3_known & c4_known)

    dna_known = ~np.isnan(arrays["anti_dsdna"]) & ~np.isnan(arrays["anti_dsdna_cutoff"])
    dna_high = dna_known & (arrays["anti_dsdna"] >= arrays["anti_dsdna_cutoff"])

    if scalar:
        return _scalar_flag(low, low_undecided), _scalar_flag(dna_high, ~dna_known)
    return (
        _boolean_series(low, low_undecided, index, DESCRIPTOR_COLUMNS["low_complement"]),
        _boolean_series(dna_high, ~dna_known, index, DESCRIPTOR_COLUMNS["increased_dna_binding"]),
    )


@overload
def reconcile_total(
    given_total: Scalar, descriptor_total: Scalar
) -> tuple[int | None, str | None]: ...


@overload
def reconcile_total(
    given_total: Array, descriptor_total: Values
) -> tuple[pd.Series, pd.Series]: ...


@overload
def reconcile_total(
    given_total: Scalar, descriptor_total: Array
) -> tuple[pd.Series, pd.Series]: ...


def reconcile_total(
    given_total: Values, descriptor_total: Values
) -> tuple[int | None, str | None] | tuple[pd.Series, pd.Series]:
    """The SLEDAI-2K total to use when a visit reports a total, descriptors, or both.

    The descriptor sum is preferred: it is what the total is defined as (Gladman 2002), and a
    recorded total that disagrees with it is more likely a transcription error. When only one is
    known it is used without comment. A given total that is not a whole number from 0 to 105 is
    not used and is reported. The problem message (None when there is none) names both numbers.

    Scalars give ``(int | None, str | None)``; arrays/Series give a nullable Int64 Series named
    ``sledai_2k_total`` and an object Series of messages (None where there is no problem), with
    the index of the Series inputs or a RangeIndex. Raises ValueError when ``descriptor_total``
    holds an impossible total, since that is computed, not recorded.
    """
    arrays, index, scalar = _as_float_arrays(
        {"given_total": given_total, "descriptor_total": descriptor_total}
    )
    given, summed = arrays["given_total"], arrays["descriptor_total"]
    summed_known = ~np.isnan(summed)
    if (~_is_valid_total(summed) & summed_known).any():
        bad = summed[~_is_valid_total(summed) & summed_known][0]
        raise ValueError(
            f"descriptor_total: {bad:g} is not a whole number from {MIN_TOTAL} to {MAX_TOTAL}"
        )
    given_known = ~np.isnan(given)
    given_valid = _is_valid_total(given)
    disagree = given_valid & summed_known & (given != summed)
    invalid = given_known & ~given_valid

    total = np.where(summed_known, summed, np.where(given_valid, given, np.nan))
    problems = np.full(total.shape, None, dtype=object)
    problems[disagree] = [
        f"{SLEDAI_TOTAL}: given {g:g} disagrees with the 24 descriptors (sum {s:g}), "
        "the descriptor sum is used"
        for g, s in zip(given[disagree], summed[disagree], strict=True)
    ]
    fallback = np.where(
        summed_known[invalid], "the descriptor sum is used", "no total is available"
    )
    problems[invalid] = [
        f"{SLEDAI_TOTAL}: given {g:g} is not a whole number from {MIN_TOTAL} to {MAX_TOTAL}, {what}"
        for g, what in zip(given[invalid], fallback, strict=True)
    ]

    missing = np.isnan(total)
    if scalar:
        return (None if missing[0] else int(total[0])), problems[0]
    totals = pd.Series(
        pd.arrays.IntegerArray(np.nan_to_num(total).astype(np.int64), missing),
        index=index,
        name=SLEDAI_TOTAL,
    )
    return totals, pd.Series(problems, index=index, name=f"{SLEDAI_TOTAL}_problem", dtype=object)


def activity_band(total: int) -> str:
    """Disease activity band of a SLEDAI-2K total (CLINICAL.md section 4).

    0 "none", 1-5 "mild", 6-10 "moderate", 11-19 "high", 20 or more "very high".
    """
    if isinstance(total, bool) or not isinstance(total, numbers.Integral):
        raise ValueError(f"{SLEDAI_TOTAL}: {total!r} is not a whole number")
    if not MIN_TOTAL <= total <= MAX_TOTAL:
        raise ValueError(f"{SLEDAI_TOTAL}: {total} is outside {MIN_TOTAL}..{MAX_TOTAL}")
    for upper, band in _BANDS:
        if total <= upper:
            return band
    return _TOP_BAND


def _is_flag(value: object) -> bool:
    if isinstance(value, bool | np.bool_):
        return True
    return isinstance(value, numbers.Integral) and int(value) in (0, 1)


def _flag_column(column: pd.Series, name: str) -> npt.NDArray[np.float64]:
    """0/1 column as floats with NaN for missing; ValueError naming the column otherwise."""
    values = _numeric(column, name)
    bad = ~np.isnan(values) & (values != 0) & (values != 1)
    if bad.any():
        raise ValueError(f"{name}: value {values[bad][0]:g} is not 0/1 (absent/present)")
    return values


def _numeric(column: pd.Series, name: str) -> npt.NDArray[np.float64]:
    """A column as float64 with NaN for missing; ValueError naming the column if not numeric."""
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        numeric = column
    else:
        numeric = pd.to_numeric(column.astype(object), errors="coerce")
        unreadable = numeric.isna() & column.notna()
        if unreadable.any():
            raise ValueError(f"{name}: value {column[unreadable].iloc[0]!r} is not a number")
    values = np.asarray(
        numeric.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64
    )
    if np.isinf(values).any():
        raise ValueError(f"{name}: infinite values are not measurements")
    return values


def _as_float_arrays(
    values: Mapping[str, Values],
) -> tuple[dict[str, npt.NDArray[np.float64]], pd.Index | None, bool]:
    """Named scalars/arrays as equal-length float arrays, the shared index, and "all scalar"."""
    index: pd.Index | None = None
    arrays: dict[str, npt.NDArray[np.float64]] = {}
    lengths: dict[str, int] = {}
    for name, value in values.items():
        if isinstance(value, pd.Series):
            if index is None:
                index = value.index
            elif not value.index.equals(index):
                raise ValueError(f"{name}: its index differs from the other Series inputs")
            series = value
        else:
            raw = np.asarray(value, dtype=object)
            if raw.ndim > 1:
                raise ValueError(f"{name}: expected a scalar or a 1-D array, got {raw.ndim}-D")
            series = pd.Series(raw.reshape(-1), dtype=object)
        if isinstance(value, pd.Series) or np.asarray(value, dtype=object).ndim == 1:
            lengths[name] = len(series)
        arrays[name] = _numeric(series, name)
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"inputs differ in length: {sizes}")
    size = next(iter(lengths.values()), 1)
    broadcast = {
        name: np.broadcast_to(array, (size,)).astype(np.float64) for name, array in arrays.items()
    }
    if index is None and lengths:
        index = pd.RangeIndex(size)
    return broadcast, index, not lengths


def _check_bound(
    values: npt.NDArray[np.float64],
    name: str,
    reason: str,
    bound: float,
    strict: bool = False,
) -> None:
    bad = values <= bound if strict else values < bound
    if bad.any():
        raise ValueError(f"{name}: {values[bad][0]:g} {reason}")


def _is_valid_total(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return (values >= MIN_TOTAL) & (values <= MAX_TOTAL) & (np.floor(values) == values)


def _scalar_flag(value: npt.NDArray[np.bool_], undecided: npt.NDArray[np.bool_]) -> bool | None:
    return None if undecided[0] else bool(value[0])


def _boolean_series(
    value: npt.NDArray[np.bool_],
    undecided: npt.NDArray[np.bool_],
    index: pd.Index | None,
    name: str,
) -> pd.Series:
    return pd.Series(pd.arrays.BooleanArray(value.copy(), undecided.copy()), index=index, name=name)
