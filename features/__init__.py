"""Raw clinical records to validated baseline predictors, MRBS eligibility and the SRI-4 label.

`features.record` declares every field once; `features.schema` validates records and tables
from it; `features.cohort` assembles raw tables into one baseline row per patient;
`features.pipeline` holds the feature steps every model pipeline starts with.
"""

from features.cohort import LABEL, build_cohort
from features.eligibility import screen
from features.record import FIELDS, FIELDS_BY_NAME
from features.schema import patient_model, validate_table

__all__ = [
    "FIELDS",
    "FIELDS_BY_NAME",
    "LABEL",
    "build_cohort",
    "patient_model",
    "screen",
    "validate_table",
]
