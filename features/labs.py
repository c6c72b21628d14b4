"""From the long labs table to one row of laboratory fields per patient and visit.

Analytes are recognised by LOINC code or by name (case-insensitive), as declared in
`features.record`. Values stay in the unit they were reported in, with that unit beside them
(``c3`` and ``c3_unit``), so that the record validation converts them and names the unit when a
value is implausible. Reference limits that matter to SLEDAI-2K come along: the lower limits of
C3 and C4 (``ref_low``) and the anti-dsDNA assay's positivity cut-off (``ref_high``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from features import tables as t
from features.record import FIELDS

#: Where both are reported, a 24 h collection is preferred over a spot ratio.
_PREFERENCE: Final = {"2889-4": 0, "2890-2": 1}

#: Reference limits carried into the record: (field, lab column) -> record field.
_LIMITS: Final = {
    ("c3", t.REF_LOW): "c3_lower_limit",
    ("c4", t.REF_LOW): "c4_lower_limit",
    ("anti_dsdna", t.REF_HIGH): "anti_dsdna_cutoff",
}


def analyte_lookup() -> dict[str, str]:
    """Map every accepted LOINC code and name (lower case) to its record field."""
    lookup: dict[str, str] = {}
    for spec in FIELDS:
        for key in (*spec.loinc, *spec.analyte_names):
            lookup[key.lower()] = spec.name
    return lookup


@dataclass(frozen=True)
class LabsAtVisit:
    """Wide laboratory fields for one visit, and what was left aside."""

    wide: pd.DataFrame
    unrecognised_analytes: dict[str, int]


def labs_at_visit(labs: pd.DataFrame, week: int) -> LabsAtVisit:
    """One row per patient: each analyte's value, unit and reference limit at ``week``.

    Where a patient has several results for one analyte at that visit the last one listed wins
    (laboratories append corrections).
    """
    visit = labs[pd.to_numeric(labs[t.VISIT_WEEK], errors="coerce") == week].copy()
    keys = visit[t.ANALYTE].astype("string").str.strip().str.lower()
    visit["field"] = keys.map(analyte_lookup())
    unrecognised = keys[visit["field"].isna()].value_counts().to_dict()
    visit = visit[visit["field"].notna()]
    visit["preference"] = keys.loc[visit.index].map(_PREFERENCE).fillna(0)
    visit["order"] = np.arange(len(visit))
    visit = visit.sort_values(["preference", "order"], ascending=[False, True])
    latest = visit.drop_duplicates([t.PATIENT_ID, "field"], keep="last")
    columns: dict[str, pd.Series] = {}
    for field, group in latest.groupby("field", sort=False):
        indexed = group.set_index(t.PATIENT_ID)
        name = str(field)
        columns[name] = indexed[t.VALUE]
        columns[f"{name}_unit"] = indexed[t.UNIT]
        for (limit_field, column), target in _LIMITS.items():
            if limit_field == name and column in indexed.columns:
                columns[target] = indexed[column]
                columns[f"{target}_unit"] = indexed[t.UNIT]
    wide = pd.DataFrame(columns)
    wide.index.name = t.PATIENT_ID
    return LabsAtVisit(wide, {str(k): int(v) for k, v in unrecognised.items()})
