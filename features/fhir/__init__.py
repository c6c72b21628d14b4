"""FHIR R4 to the MRBS record and back: the mapping declared once beside `features.record`.

`features.fhir.mapping` declares how each record field is found in FHIR (resource, code system
and code, UCUM unit spelling, baseline window); `features.fhir.read` turns a patient's resources
into a record with the resource that supplied each field, and every problem with its FHIRPath
expression; `features.fhir.bulk` reads a FHIR Bulk Data export into the raw cohort tables and
writes raw tables as such an export. Resources are parsed with the R4B models of
`fhir.resources`, which read R4 content.
"""

from features.fhir.mapping import BASELINE_WINDOW_DAYS, Issue

__all__ = ["BASELINE_WINDOW_DAYS", "Issue"]
