"""How every MRBS record field is found in FHIR R4: the one declaration of the mapping.

Laboratory fields are recognised by the LOINC codes `features.record` declares for them; their
``valueQuantity`` must carry a UCUM code (``system`` http://unitsofmeasure.org), which
`UCUM_UNITS` maps to the record's own spelling of an accepted unit. UCUM codes are
case-sensitive and are never guessed: a code missing from the table is refused. ``U/mL`` is an
enzyme unit in UCUM; anti-dsDNA assays that report "U/mL" mean the assay's arbitrary units,
which the record already accepts beside IU/mL, so it is declared here as that assay convention.

What LOINC has no code for (SLEDAI-2K and its 24 descriptors, the physician global assessment,
BILAG-2004 grades, rescue therapy, BLyS, anti-Sm, the MRBS eligibility facts) uses MRBS's own
code systems below. The SLICC/ACR damage index uses LOINC 64392-4, smoking status LOINC 72166-2
with its SNOMED CT answers, SLE itself SNOMED CT 55464009, medications RxNorm ingredients (and
belimumab its ATC code, L04AG04).

Values count when dated within `BASELINE_WINDOW_DAYS` before the index date (the index date
itself included); the latest one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from features.record import EXCLUSIONS, FIELDS, INCLUSION
from features.sledai import DESCRIPTORS
from features.sri import BILAG_DOMAINS

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SNOMED: Final = "http://snomed.info/sct"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC: Final = "http://www.whocc.no/atc"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

#: MRBS's own code systems (URNs: identifiers, not addresses to fetch).
MRBS_ASSESSMENT: Final = "urn:mrbs:fhir:assessment"
MRBS_SLEDAI_DESCRIPTOR: Final = "urn:mrbs:fhir:sledai-2k-descriptor"
MRBS_BILAG_DOMAIN: Final = "urn:mrbs:fhir:bilag-2004-domain"
MRBS_FACT: Final = "urn:mrbs:fhir:eligibility-fact"
MRBS_SITE: Final = "urn:mrbs:fhir:site"
#: Medication classes when the ingredient is not known (codes: the class names below).
MRBS_MEDICATION_CLASS: Final = "urn:mrbs:fhir:medication-class"
ETHNICITY_EXTENSION: Final = "urn:mrbs:fhir:extension:ethnicity"

#: Codes of `MRBS_ASSESSMENT`.
SLEDAI_CODE: Final = "sledai-2k"
PGA_CODE: Final = "pga"
BILAG_CODE: Final = "bilag-2004"
RESCUE_CODE: Final = "rescue-therapy"
BLYS_CODE: Final = "blys"
ANTI_SM_CODE: Final = "anti-sm"
SMOKING_CODE: Final = "smoking-current"
SDI_LOINC: Final = "64392-4"
SMOKING_LOINC: Final = "72166-2"
#: SNOMED CT answers to smoking status meaning a current smoker, and those meaning not.
SMOKER_CURRENT: Final = frozenset({"77176002", "449868002", "428041000124106"})
SMOKER_NOT_CURRENT: Final = frozenset({"8517006", "266919005"})
SLE_SNOMED: Final = "55464009"

#: How far before the index date a value still describes the baseline. Three months: a
#: screening visit's labs and the medication list of the preceding clinic visit still count;
#: anything older is left aside rather than presented as current.
BASELINE_WINDOW_DAYS: Final = 90
#: Visit weeks MRBS reads from dated assessments (a bulk export): week 48 is the date 48 weeks
#: after the baseline visit, within this many days either side.
OUTCOME_WINDOW_DAYS: Final = 28

#: The most entries one Bundle may carry; a chart needs a few dozen, a cohort `mrbs cohort
#: build` with a Bulk FHIR export.
MAX_BUNDLE_ENTRIES: Final = 2000

#: Anti-dsDNA results that cannot be expressed in IU/mL: refused with this reason.
UNCONVERTIBLE_LOINC: Final[Mapping[str, str]] = MappingProxyType(
    {
        "11013-0": "an anti-dsDNA titer cannot be converted to IU/mL",
        "81716-3": "a line-blot anti-dsDNA result cannot be converted to IU/mL",
        "31348-6": "a qualitative anti-dsDNA result has no IU/mL value",
    }
)

#: UCUM code -> the record's spelling, per record field with a unit.
UCUM_UNITS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        **{
            name: {"mg/dL": "mg/dL", "g/L": "g/L"}
            for name in ("c3", "c4", "igg", "iga", "c3_lower_limit", "c4_lower_limit")
        },
        "anti_dsdna": {"[IU]/mL": "IU/mL", "U/mL": "U/mL"},
        "anti_dsdna_cutoff": {"[IU]/mL": "IU/mL", "U/mL": "U/mL"},
        "proteinuria": {
            "g/(24.h)": "g/24h",
            "g/d": "g/24h",
            "mg/(24.h)": "mg/24h",
            "mg/d": "mg/24h",
            "g/g": "g/g",
            "mg/mg": "mg/mg",
            "mg/g": "mg/g",
            "mg/mmol": "mg/mmol",
        },
        "blys": {"ng/mL": "ng/mL", "ug/L": "ug/L"},
        "platelets": {"10*9/L": "10^9/L", "10*3/uL": "10^3/uL"},
        "leukocytes": {"10*9/L": "10^9/L", "10*3/uL": "10^3/uL"},
        "creatinine": {"umol/L": "umol/L", "mg/dL": "mg/dL"},
    }
)
#: The record spelling -> its UCUM code, for writing FHIR (the first UCUM code of each).
RECORD_TO_UCUM: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        name: {record: code for code, record in reversed(list(table.items()))}
        for name, table in UCUM_UNITS.items()
    }
)

#: LOINC code -> record field, from the record declaration.
LAB_LOINC: Final[Mapping[str, str]] = MappingProxyType(
    {code: spec.name for spec in FIELDS for code in spec.loinc}
)
#: Record field -> its LOINC codes (the first is written when a table names the analyte).
FIELD_LOINC: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {spec.name: spec.loinc for spec in FIELDS if spec.loinc}
)
#: Lab fields a text (``code.text`` or a coding's display) may name instead of a code.
TEXT_NAMED_LABS: Final[Mapping[str, str]] = MappingProxyType(
    {name: "blys" for name in ("blys", "baff", "b-lymphocyte stimulator")}
)
#: Where two codes give one field, the preferred one (a 24 h collection over a spot ratio).
LOINC_PREFERENCE: Final[Mapping[str, int]] = MappingProxyType({"2889-4": 1, "2890-2": 0})
#: Reference limits carried into the record: lab field -> (range end, record field).
REFERENCE_LIMITS: Final[Mapping[str, tuple[Literal["low", "high"], str]]] = MappingProxyType(
    {
        "c3": ("low", "c3_lower_limit"),
        "c4": ("low", "c4_lower_limit"),
        "anti_dsdna": ("high", "anti_dsdna_cutoff"),
    }
)

#: Descriptor codes of `MRBS_SLEDAI_DESCRIPTOR` and domain codes of `MRBS_BILAG_DOMAIN`.
SLEDAI_DESCRIPTOR_CODES: Final = DESCRIPTORS
BILAG_DOMAIN_CODES: Final = BILAG_DOMAINS

#: The eligibility facts, each a Condition coded in `MRBS_FACT` by its record field name
#: (and HIV also by SNOMED CT 86406008): verificationStatus ``refuted`` means the fact is
#: known to be absent, ``confirmed`` (or ``provisional``/``differential``/``unconfirmed``
#: with an active clinical status) that it holds; no Condition means it is unknown.
FACT_FIELDS: Final = tuple(spec.name for spec in (*INCLUSION, *EXCLUSIONS))
FACT_CODES: Final[Mapping[tuple[str, str], str]] = MappingProxyType(
    {
        **{(MRBS_FACT, name): name for name in FACT_FIELDS},
        (SNOMED, "86406008"): "hiv_positive",
    }
)
#: Medication facts rather than Conditions: any cyclophosphamide or rituximab, ever.
PRIOR_DRUG_FIELDS: Final[Mapping[str, str]] = MappingProxyType(
    {"3002": "prior_cyclophosphamide", "121191": "prior_rituximab"}
)

MedicationClass = Literal["glucocorticoid", "immunosuppressant", "antimalarial"]


@dataclass(frozen=True)
class Drug:
    """An RxNorm ingredient MRBS reads: its class and, for a glucocorticoid, the factor that
    turns its mg into prednisone-equivalent mg (Liu et al., Allergy Asthma Clin Immunol 2013)."""

    name: str
    kind: MedicationClass
    prednisone_factor: float = 0.0


DRUGS: Final[Mapping[str, Drug]] = MappingProxyType(
    {
        "8640": Drug("prednisone", "glucocorticoid", 1.0),
        "8638": Drug("prednisolone", "glucocorticoid", 1.0),
        "6902": Drug("methylprednisolone", "glucocorticoid", 1.25),
        "5492": Drug("hydrocortisone", "glucocorticoid", 0.25),
        "3264": Drug("dexamethasone", "glucocorticoid", 6.67),
        "1256": Drug("azathioprine", "immunosuppressant"),
        "68149": Drug("mycophenolate mofetil", "immunosuppressant"),
        "6851": Drug("methotrexate", "immunosuppressant"),
        "42316": Drug("tacrolimus", "immunosuppressant"),
        "3008": Drug("cyclosporine", "immunosuppressant"),
        "5521": Drug("hydroxychloroquine", "antimalarial"),
        "2393": Drug("chloroquine", "antimalarial"),
    }
)
#: Record field set by each medication class (taken: true; known not taken: false).
CLASS_FIELDS: Final[Mapping[MedicationClass, str]] = MappingProxyType(
    {"immunosuppressant": "immunosuppressant", "antimalarial": "antimalarial"}
)
BELIMUMAB_ATC: Final = "L04AG04"
#: Periods of ``timing.repeat.periodUnit`` in days.
PERIOD_DAYS: Final[Mapping[str, float]] = MappingProxyType(
    {"h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.4375, "a": 365.25}
)

#: MedicationStatement statuses meaning the drug is (or was) taken, and the one meaning not.
TAKEN: Final = frozenset({"active", "completed", "intended", "on-hold", "stopped"})
CURRENT: Final = frozenset({"active", "intended", "on-hold"})
NOT_TAKEN: Final = "not-taken"

#: FHIR ``Patient.gender`` -> the record's ``sex``.
GENDER: Final[Mapping[str, str]] = MappingProxyType({"female": "F", "male": "M"})


@dataclass(frozen=True)
class Issue:
    """One problem with the FHIR input: where (FHIRPath), what kind, and why (never a value)."""

    expression: str
    code: str
    message: str
    severity: Literal["error", "warning"] = "error"
