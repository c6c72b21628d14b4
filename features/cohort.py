"""Cohort building: raw patients, labs and assessments tables to one baseline row per patient.

`build_cohort` reads the three raw tables (`features.tables`), derives SLEDAI-2K (serology items
from the labs where the descriptors leave them out), validates the record against its declaration,
screens eligibility and derives the week-48 SRI-4 label. Every patient in the patients table
gives exactly one output row; problems are kept per row, never dropped silently. The same
function serves training and batch scoring, so a cohort is assembled one way only.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from features import eligibility, sledai, sri, vocabulary
from features import tables as t
from features.fhir import bulk
from features.io import SUFFIXES, TableError, atomic_path, find_table, read_table, write_table
from features.labs import labs_at_visit
from features.notes import SEPARATOR, join_notes
from features.record import C3_LOWER_LIMIT_MG_DL, C4_LOWER_LIMIT_MG_DL, FIELDS, FIELDS_BY_NAME
from features.schema import FLAGS, PROBLEMS, validate_table

LABEL: Final = "sri4_w48"
LABEL_REASONS: Final = "sri4_w48_reasons"
_SEROLOGY_DESCRIPTORS: Final = ("low_complement", "increased_dna_binding")
_ORGAN_ITEMS: Final = {
    "renal_involvement": ("urinary_casts", "haematuria", "proteinuria", "pyuria"),
    "musculoskeletal_involvement": ("arthritis", "myositis"),
    "mucocutaneous_involvement": ("rash", "alopecia", "mucosal_ulcers"),
}


@dataclass
class CohortSummary:
    """What happened to the rows: counts by outcome and by reason."""

    patients: int = 0
    rows_with_problems: int = 0
    rows_flagged: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    eligible: dict[str, int] = field(default_factory=dict)
    label: dict[str, int] = field(default_factory=dict)
    non_response_reasons: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


@dataclass(frozen=True)
class Cohort:
    """The baseline table (one row per patient) and its summary."""

    table: pd.DataFrame
    summary: CohortSummary


def read_raw_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """Read patients, labs and assessments from ``folder`` (CSV or Parquet)."""
    required = {
        t.PATIENTS: (t.PATIENT_ID,),
        t.LABS: t.LAB_REQUIRED_COLUMNS,
        t.ASSESSMENTS: (t.PATIENT_ID, t.VISIT_WEEK),
    }
    return {
        name: read_table(find_table(folder, name), required=columns)
        for name, columns in required.items()
    }


def check_output(folder: Path, out: Path) -> None:
    """TableError if ``out`` (or its summary) would replace one of the input tables."""
    inputs = {
        (folder / f"{name}{suffix}").resolve() for name in t.TABLE_NAMES for suffix in SUFFIXES
    }
    for target in (out, summary_path(out)):
        if target.resolve() in inputs:
            raise TableError(
                f"{target}: is an input table; choose another --out (inputs are never modified)"
            )


def build_cohort(folder: Path) -> Cohort:
    """Build the baseline table from the raw tables in ``folder``, or from the FHIR Bulk Data
    export there (`features.fhir.bulk`); what the export's reading left aside is counted in the
    summary's ``dropped``."""
    if bulk.is_export(folder):
        raw, dropped = bulk.read_export(folder)
        cohort = assemble(raw[t.PATIENTS], raw[t.LABS], raw[t.ASSESSMENTS])
        cohort.summary.dropped = {**dropped, **cohort.summary.dropped}
        return cohort
    raw = read_raw_tables(folder)
    return assemble(raw[t.PATIENTS], raw[t.LABS], raw[t.ASSESSMENTS])


def assemble(patients: pd.DataFrame, labs: pd.DataFrame, assessments: pd.DataFrame) -> Cohort:
    """Build the baseline table from raw tables already in memory."""
    summary = CohortSummary(patients=len(patients))
    patient_problems = _patient_problems(patients)
    ids = patients[t.PATIENT_ID].astype("string")
    unknown_ids = ~labs[t.PATIENT_ID].astype("string").isin(ids)
    if unknown_ids.any():
        summary.dropped["lab rows of patients not in the patients table"] = int(unknown_ids.sum())
    weeks = pd.to_numeric(labs[t.VISIT_WEEK], errors="coerce")
    if weeks.isna().any():
        summary.dropped["lab rows whose visit_week is not a number"] = int(weeks.isna().sum())
    elsewhere = weeks.notna() & ~weeks.isin([t.BASELINE_WEEK, t.OUTCOME_WEEK])
    if elsewhere.any():
        summary.dropped["lab rows at visits other than weeks 0 and 48"] = int(elsewhere.sum())
    baseline_labs = labs_at_visit(labs, t.BASELINE_WEEK)
    outcome_labs = labs_at_visit(labs, t.OUTCOME_WEEK)
    for analyte, count in baseline_labs.unrecognised_analytes.items():
        summary.dropped[f"lab rows with unrecognised analyte {analyte!r}"] = count
    visits = _visits(assessments)
    base_assessment = _assessment_at(visits, t.BASELINE_WEEK, baseline_labs.wide)
    week48 = _assessment_at(visits, t.OUTCOME_WEEK, outcome_labs.wide)

    derived = baseline_labs.wide.join(
        base_assessment.frame[["sledai_2k", *_ORGAN_ITEMS]], how="outer"
    ).reindex(columns=_derived_columns(baseline_labs.wide))
    shadowed = [c for c in patients.columns if c in derived.columns]
    if shadowed:
        summary.dropped[
            "patients columns replaced by values derived from labs and assessments: "
            + ", ".join(shadowed)
        ] = len(patients)
    wide = patients.drop(columns=shadowed).drop_duplicates(t.PATIENT_ID).set_index(t.PATIENT_ID)
    wide = wide.join(derived, how="left")
    wide = wide.rename_axis(t.PATIENT_ID).reset_index()
    aligned = patients[[t.PATIENT_ID]].merge(wide, on=t.PATIENT_ID, how="left")
    validated = validate_table(aligned, table="cohort").frame
    # A week-48 rescue status that cannot be read leaves the label unknown, and says why.
    rescue_unreadable = (
        week48.rescue_unreadable.reindex(aligned[t.PATIENT_ID]).fillna(False).to_numpy(dtype=bool)
    )
    validated[PROBLEMS] = _join_notes(
        patient_problems,
        base_assessment.problems.reindex(aligned[t.PATIENT_ID]).to_numpy(),
        validated[PROBLEMS].to_numpy(),
        np.where(rescue_unreadable, f"week48 {t.RESCUE}: {vocabulary.UNREADABLE_FACT}", ""),
    )
    validated[FLAGS] = _join_notes(
        base_assessment.flags.reindex(aligned[t.PATIENT_ID]).to_numpy(),
        validated[FLAGS].to_numpy(),
    )
    screening = eligibility.screen_frame(validated)
    label = _label(base_assessment.frame, week48.frame, aligned[t.PATIENT_ID])
    label[LABEL] = label[LABEL].astype("boolean").mask(rescue_unreadable)
    label[LABEL_REASONS] = label[LABEL_REASONS].astype("string").mask(rescue_unreadable)
    table = pd.concat([validated, screening, label], axis=1)
    _summarise(table, summary)
    return Cohort(_order_columns(table), summary)


def _derived_columns(labs_wide: pd.DataFrame) -> list[str]:
    """Every column the labs and assessments provide, present even when no row supplied it."""
    lab_fields = [spec.name for spec in FIELDS if spec.loinc or spec.analyte_names]
    limits = ["c3_lower_limit", "c4_lower_limit", "anti_dsdna_cutoff"]
    columns = [c for name in lab_fields + limits for c in (name, f"{name}_unit")]
    extra = [c for c in labs_wide.columns if c not in columns]
    return [*columns, *extra, "sledai_2k", *_ORGAN_ITEMS]


def _patient_problems(patients: pd.DataFrame) -> np.ndarray:
    notes = np.full(len(patients), "", dtype=object)
    ids = patients[t.PATIENT_ID].astype("string")
    notes[ids.isna().to_numpy()] = f"{t.PATIENT_ID}: missing"
    duplicated = ids.duplicated(keep=False) & ids.notna()
    notes[duplicated.to_numpy()] = f"{t.PATIENT_ID}: appears more than once in the patients table"
    return notes


def _join_notes(*columns: np.ndarray) -> pd.Series:
    joined = [
        join_notes(p for p in parts if isinstance(p, str)) for parts in zip(*columns, strict=True)
    ]
    return pd.Series(joined, dtype="string")


def _visits(assessments: pd.DataFrame) -> pd.DataFrame:
    frame = assessments.copy()
    frame[t.VISIT_WEEK] = pd.to_numeric(frame[t.VISIT_WEEK], errors="coerce")
    return frame


@dataclass(frozen=True)
class _Assessment:
    frame: pd.DataFrame  # indexed by patient_id: sledai_2k, organ flags, bilag_*, pga, rescue
    problems: pd.Series
    flags: pd.Series
    rescue_unreadable: pd.Series  # rescue therapy given but in no declared yes/no spelling


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _assessment_at(visits: pd.DataFrame, week: int, labs: pd.DataFrame) -> _Assessment:
    """SLEDAI-2K, organ involvement, BILAG, PGA and rescue therapy at one visit per patient."""
    rows = visits[visits[t.VISIT_WEEK] == week].drop_duplicates(t.PATIENT_ID, keep="last")
    rows = rows.set_index(t.PATIENT_ID)
    descriptors = pd.DataFrame(
        {name: _numeric(rows, column) for name, column in sledai.DESCRIPTOR_COLUMNS.items()},
        index=rows.index,
    )
    flags = pd.Series("", index=rows.index, dtype="string")
    derived = _serology_from_labs(labs.reindex(rows.index))
    for name in _SEROLOGY_DESCRIPTORS:
        given = descriptors[name]
        from_labs = derived[name].astype("Float64")
        disagree = given.notna() & from_labs.notna() & (given != from_labs)
        flags[disagree.fillna(False)] += f"sledai_{name}: descriptor disagrees with the labs; "
        descriptors[name] = given.fillna(from_labs.astype("float64"))
    descriptor_columns = descriptors.rename(columns=sledai.DESCRIPTOR_COLUMNS)
    descriptor_total = sledai.sledai_totals(descriptor_columns)
    total, problems = sledai.reconcile_total(_numeric(rows, t.SLEDAI_TOTAL), descriptor_total)
    out = pd.DataFrame(index=rows.index)
    out["sledai_2k"] = pd.Series(total, index=rows.index).astype("Float64")
    for organ, items in _ORGAN_ITEMS.items():
        present = descriptors[list(items)]
        out[organ] = (
            (present == 1)
            .any(axis=1)
            .astype("boolean")
            .where(present.notna().all(axis=1) | (present == 1).any(axis=1))
        )
    for domain in sri.BILAG_DOMAINS:
        column = f"{t.BILAG_PREFIX}{domain}"
        out[column] = (
            rows[column].astype("string").str.strip().str.upper() if column in rows else pd.NA
        )
    out[t.PGA] = _numeric(rows, t.PGA)
    rescue = rows[t.RESCUE] if t.RESCUE in rows else pd.Series(pd.NA, index=rows.index)
    out[t.RESCUE], unreadable = vocabulary.booleans(rescue)
    problem_series = pd.Series(problems, index=rows.index).astype("string").fillna("")
    unreadable_series = pd.Series(unreadable, index=rows.index)
    return _Assessment(out, problem_series, flags.str.rstrip("; "), unreadable_series)


def _serology_from_labs(labs: pd.DataFrame) -> pd.DataFrame:
    """The two SLEDAI-2K serology descriptors from the visit's labs, in canonical units."""
    canonical = _canonical_serology(labs)
    low, dna = sledai.serology_items(
        canonical["c3"],
        canonical["c4"],
        canonical["c3_lower_limit"].fillna(C3_LOWER_LIMIT_MG_DL),
        canonical["c4_lower_limit"].fillna(C4_LOWER_LIMIT_MG_DL),
        canonical["anti_dsdna"],
        canonical["anti_dsdna_cutoff"],
    )
    return pd.DataFrame(
        {
            "low_complement": pd.Series(low, index=labs.index).astype("boolean").astype("Int64"),
            "increased_dna_binding": pd.Series(dna, index=labs.index)
            .astype("boolean")
            .astype("Int64"),
        }
    )


def _canonical_serology(labs: pd.DataFrame) -> pd.DataFrame:
    """Serology fields of a visit's wide labs in canonical units; implausible values set missing."""
    names = ("c3", "c4", "c3_lower_limit", "c4_lower_limit", "anti_dsdna", "anti_dsdna_cutoff")
    out = pd.DataFrame(index=labs.index)
    for name in names:
        spec = FIELDS_BY_NAME[name]
        values = (
            pd.to_numeric(labs[name], errors="coerce")
            if name in labs
            else pd.Series(np.nan, index=labs.index)
        )
        units = (
            labs[spec.unit_column].to_numpy(dtype=object)
            if spec.unit_column in labs
            else np.full(len(labs), None)
        )
        factors, _ = spec.units.factors(units, field=name)
        canonical = values.astype("float64") * factors
        assert spec.hard is not None
        out[name] = canonical.where(canonical.between(*spec.hard))
    return out


def _label(baseline: pd.DataFrame, week48: pd.DataFrame, order: pd.Series) -> pd.DataFrame:
    base = baseline[["sledai_2k", *(f"{t.BILAG_PREFIX}{d}" for d in sri.BILAG_DOMAINS), t.PGA]]
    follow = week48[
        ["sledai_2k", *(f"{t.BILAG_PREFIX}{d}" for d in sri.BILAG_DOMAINS), t.PGA, t.RESCUE]
    ]
    ids = pd.Index(order.astype("string").dropna().unique())
    scored = sri.sri_frame(base.reindex(ids), follow, k=4)
    result = scored.reindex(order.astype("string").to_numpy())
    return pd.DataFrame(
        {
            LABEL: result["sri4"].astype("boolean").to_numpy(),
            LABEL_REASONS: result["sri4_reasons"]
            .astype("string")
            .fillna("missing_baseline")
            .to_numpy(),
        }
    )


def _count_notes(column: pd.Series) -> dict[str, int]:
    counter: Counter[str] = Counter()
    for text in column.dropna():
        for note in str(text).split(SEPARATOR):
            if note:
                counter[note] += 1
    return dict(counter.most_common())


def _summarise(table: pd.DataFrame, summary: CohortSummary) -> None:
    summary.rows_with_problems = int(table[PROBLEMS].ne("").sum())
    summary.rows_flagged = int(table[FLAGS].ne("").sum())
    summary.problems = _count_notes(table[PROBLEMS])
    summary.flags = _count_notes(table[FLAGS])
    eligible = table[eligibility.ELIGIBLE]
    summary.eligible = {
        "eligible": int(eligible.eq(True).sum()),
        "not eligible": int(eligible.eq(False).sum()),
        "unknown": int(eligible.isna().sum()),
    }
    label = table[LABEL]
    summary.label = {
        "responder": int(label.eq(True).sum()),
        "non-responder": int(label.eq(False).sum()),
        "unknown": int(label.isna().sum()),
    }
    reasons = table.loc[label.eq(False).fillna(False), LABEL_REASONS].str.split(";").explode()
    summary.non_response_reasons = {str(k): int(v) for k, v in reasons.value_counts().items()}


def _order_columns(table: pd.DataFrame) -> pd.DataFrame:
    first = [t.PATIENT_ID, t.SITE]
    last = [eligibility.ELIGIBLE, eligibility.REASONS, LABEL, LABEL_REASONS, PROBLEMS, FLAGS]
    middle = [c for c in table.columns if c not in first and c not in last]
    return table[[c for c in first if c in table.columns] + middle + last]


def write_cohort(cohort: Cohort, out: Path) -> tuple[Path, Path]:
    """Write the baseline table and its JSON summary beside it, both atomically."""
    write_table(cohort.table, out)
    summary = summary_path(out)
    with atomic_path(summary) as temporary:
        temporary.write_text(cohort.summary.to_json() + "\n")
    return out, summary


def summary_path(out: Path) -> Path:
    """Where the JSON summary of a baseline table written to ``out`` goes."""
    return out.with_name(out.stem + ".summary.json")
