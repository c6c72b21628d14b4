"""Raw clinical records to validated baseline predictors, MRBS eligibility and the SRI-4 label.

`features.record` declares every field once; `features.schema` validates records and tables
from it; `features.cohort` assembles raw tables into one baseline row per patient;
`features.pipeline` holds the feature steps every model pipeline starts with. The package
itself imports only the declaration, so that importing one module never loads the others.
"""

from features.record import FIELDS, FIELDS_BY_NAME, REQUIRED, FieldSpec, field

__all__ = ["FIELDS", "FIELDS_BY_NAME", "REQUIRED", "FieldSpec", "field"]
