"""Column layout of the raw cohort tables that `mrbs cohort build` reads and `mrbs simulate` writes.

A cohort arrives as three tables (CSV or Parquet, one file each, in one folder):

``patients``
    One row per patient: identifier, site, demographics, history and the exclusion facts.
    Booleans may be missing, meaning "not known".
``labs``
    One row per measurement, long format: patient, visit week (0 = baseline), analyte (LOINC
    code or name), value, unit, and optionally the reporting lab's reference limits.
``assessments``
    One row per patient and visit week: the 24 SLEDAI-2K descriptors (0/1) and/or the SLEDAI-2K
    total, the nine BILAG-2004 domain grades (A to E), the physician global assessment (0-3) and
    whether rescue therapy was given since baseline.
"""

from __future__ import annotations

from typing import Final

PATIENTS: Final = "patients"
LABS: Final = "labs"
ASSESSMENTS: Final = "assessments"
TABLE_NAMES: Final = (PATIENTS, LABS, ASSESSMENTS)

PATIENT_ID: Final = "patient_id"
SITE: Final = "site"
VISIT_WEEK: Final = "visit_week"
BASELINE_WEEK: Final = 0
OUTCOME_WEEK: Final = 48

# labs table
ANALYTE: Final = "analyte"
VALUE: Final = "value"
UNIT: Final = "unit"
REF_LOW: Final = "ref_low"
REF_HIGH: Final = "ref_high"
LAB_COLUMNS: Final = (PATIENT_ID, VISIT_WEEK, ANALYTE, VALUE, UNIT, REF_LOW, REF_HIGH)
LAB_REQUIRED_COLUMNS: Final = (PATIENT_ID, VISIT_WEEK, ANALYTE, VALUE, UNIT)

# assessments table
SLEDAI_PREFIX: Final = "sledai_"
SLEDAI_TOTAL: Final = "sledai_2k_total"
BILAG_PREFIX: Final = "bilag_"
PGA: Final = "pga"
RESCUE: Final = "rescue_therapy"


def _patient_columns() -> tuple[str, ...]:
    from features.record import EXCLUSIONS, INCLUSION

    return (
        PATIENT_ID,
        SITE,
        "age",
        "sex",
        "ethnicity",
        "disease_duration",
        "sdi",
        "prednisone_mg_day",
        "immunosuppressant",
        "antimalarial",
        "smoking_current",
        "anti_sm_positive",
        *(spec.name for spec in (*INCLUSION, *EXCLUSIONS)),
    )


#: The columns of the ``patients`` table, in order, as `mrbs simulate` and a Bulk FHIR export
#: write them (the inclusion and exclusion facts last, as the record declares them).
PATIENT_COLUMNS: Final = _patient_columns()
