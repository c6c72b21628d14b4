"""The patient record: one declaration of every baseline field MRBS reads.

Each `FieldSpec` states a field's name, type, canonical unit and accepted alternatives, hard
plausible range (outside: rejected), soft range (roughly the training population of the BLISS
trials; outside: accepted but flagged), whether it is required, its meaning and its source. The
pydantic request model (`features.schema.patient_model`) and the table validation
(`features.schema.validate_table`) are both generated from `FIELDS`; nothing about a field is
written anywhere else.

Ranges are in the canonical unit. Hard ranges bound what a human body or an assay can report;
soft ranges follow the published baseline tables (CLINICAL.md section 7, mean +/- about 2.5 SD).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from features import units
from features.units import UnitSet

Kind = Literal["number", "integer", "boolean", "category"]
Role = Literal["predictor", "serology", "inclusion", "exclusion", "context"]


@dataclass(frozen=True)
class FieldSpec:
    """Everything MRBS knows about one baseline field."""

    name: str
    kind: Kind
    description: str
    source: str
    role: Role = "predictor"
    required: bool = False
    units: UnitSet = units.NONE
    hard: tuple[float, float] | None = None
    soft: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()
    #: Other spellings of a category, as (alias, category) pairs (`features.vocabulary`).
    aliases: tuple[tuple[str, str], ...] = ()
    loinc: tuple[str, ...] = ()
    analyte_names: tuple[str, ...] = ()

    @property
    def unit(self) -> str:
        """The canonical unit symbol ('' when the field has none)."""
        return self.units.canonical.symbol

    @property
    def label(self) -> str:
        """The short name a person reads (forms, charts); a field without one in `LABELS` is
        shown by its name, so a newly declared field is never left out of a display."""
        return LABELS.get(self.name) or self.name.replace("_", " ").capitalize()

    @property
    def has_alternative_units(self) -> bool:
        return bool(self.units.alternatives)

    @property
    def unit_column(self) -> str:
        """The optional column (or request field) naming the unit a value is given in."""
        return f"{self.name}_unit"

    def describe_range(self, bounds: tuple[float, float]) -> str:
        low, high = bounds
        suffix = f" {self.unit}" if self.unit else ""
        return f"{_fmt(low)}-{_fmt(high)}{suffix}"


def _fmt(value: float) -> str:
    return f"{value:g}"


BLISS = "Furie et al., Lupus Sci Med 2014 (pooled BLISS-52/76, Table 1)"
MRBS_PROTOCOL = "MRBS study protocol, exclusion criteria"


def _lab(
    name: str,
    description: str,
    unit_set: UnitSet,
    hard: tuple[float, float],
    soft: tuple[float, float],
    *,
    loinc: tuple[str, ...],
    names: tuple[str, ...],
    required: bool = False,
    role: Role = "predictor",
    source: str = "CLINICAL.md section 6",
) -> FieldSpec:
    return FieldSpec(
        name=name,
        kind="number",
        description=description,
        source=source,
        role=role,
        required=required,
        units=unit_set,
        hard=hard,
        soft=soft,
        loinc=loinc,
        analyte_names=names,
    )


def _flag(name: str, description: str, role: Role, source: str = MRBS_PROTOCOL) -> FieldSpec:
    return FieldSpec(name=name, kind="boolean", description=description, source=source, role=role)


PREDICTORS: Final[tuple[FieldSpec, ...]] = (
    FieldSpec(
        "sledai_2k",
        "integer",
        "SLEDAI-2K total at baseline (0-105), scored over the visit and the preceding 10 days.",
        "Gladman et al., J Rheumatol 2002; BLISS baseline 9.7 +/- 3.8",
        required=True,
        units=units.POINTS,
        hard=(0, 105),
        soft=(2, 24),
    ),
    _lab(
        "c3",
        "Serum complement C3.",
        units.PROTEIN_MG_DL,
        (5, 500),
        (30, 200),
        loinc=("4485-9",),
        names=("c3", "complement c3"),
        required=True,
    ),
    _lab(
        "c4",
        "Serum complement C4.",
        units.PROTEIN_MG_DL,
        (0.5, 150),
        (2, 60),
        loinc=("4498-2",),
        names=("c4", "complement c4"),
        required=True,
    ),
    _lab(
        "igg",
        "Serum immunoglobulin G; IgG < 400 mg/dL excludes from MRBS.",
        units.PROTEIN_MG_DL,
        (50, 8000),
        (400, 3500),
        loinc=("2465-3",),
        names=("igg", "immunoglobulin g"),
        required=True,
    ),
    _lab(
        "anti_dsdna",
        "Quantitative anti-dsDNA antibodies, in the units of the reporting assay.",
        units.IU_ML,
        (0, 100_000),
        (0, 1000),
        loinc=("5130-0", "33799-8"),
        names=("anti-dsdna", "anti_dsdna", "dsdna", "anti-ds dna"),
        required=True,
        role="serology",
    ),
    FieldSpec(
        "anti_dsdna_cutoff",
        "number",
        "Positivity cut-off of the anti-dsDNA assay used (ELISA 30 IU/mL in BLISS, EliA 10-15, "
        "bead assays 10). Values from different assays are compared as multiples of this.",
        "CLINICAL.md section 6",
        role="serology",
        required=True,
        units=units.IU_ML,
        hard=(1, 1000),
        soft=(5, 100),
    ),
    _lab(
        "iga",
        "Serum immunoglobulin A; IgA < 10 mg/dL excludes from MRBS.",
        units.PROTEIN_MG_DL,
        (0, 2000),
        (10, 700),
        loinc=("2458-8",),
        names=("iga", "immunoglobulin a"),
    ),
    FieldSpec(
        "age",
        "number",
        "Age at baseline. MRBS enrols adults over 18.",
        BLISS + ": 37.8 +/- 11.5",
        units=units.YEARS,
        hard=(0, 120),
        soft=(18, 75),
    ),
    FieldSpec(
        "sex",
        "category",
        "Sex: F or M (also read: female, woman, w, male, man; any case).",
        BLISS + ": 94.1 % women",
        categories=("F", "M"),
        aliases=(("female", "F"), ("woman", "F"), ("w", "F"), ("male", "M"), ("man", "M")),
    ),
    FieldSpec(
        "disease_duration",
        "number",
        "Years since SLE diagnosis; <= 2 years favours response (OR 1.9).",
        "Gatto et al. 2020; BLISS-52 5.3 +/- 5.3, BLISS-76 7.5 +/- 7.1",
        units=units.YEARS,
        hard=(0, 90),
        soft=(0, 30),
    ),
    FieldSpec(
        "sdi",
        "integer",
        "SLICC/ACR damage index (0-47); damage lowers response.",
        "Parodis et al. 2017; " + BLISS + ": 0.8 +/- 1.2",
        units=units.POINTS,
        hard=(0, 47),
        soft=(0, 6),
    ),
    FieldSpec(
        "prednisone_mg_day",
        "number",
        "Oral prednisone-equivalent dose at baseline.",
        BLISS + ": 86.3 % on corticosteroids, 58.0 % on > 7.5 mg/day",
        units=units.MG_DAY,
        hard=(0, 200),
        soft=(0, 40),
    ),
    _flag(
        "immunosuppressant",
        "Immunosuppressant use at baseline (azathioprine, mycophenolate, methotrexate, "
        "calcineurin inhibitors); crude OR 0.63 for response.",
        "predictor",
        BLISS,
    ),
    _flag("antimalarial", "Antimalarial (hydroxychloroquine) use at baseline.", "predictor", BLISS),
    _flag(
        "smoking_current",
        "Current smoker; lowers response (HR 0.10 to OR 0.19).",
        "predictor",
        "Parodis et al. 2017",
    ),
    _lab(
        "proteinuria",
        "Urine protein, as 24 h excretion or a spot protein/creatinine ratio (g/g read as g/24 h).",
        units.PROTEINURIA,
        (0, 30),
        (0, 5),
        loinc=("2889-4", "2890-2"),
        names=("proteinuria", "urine protein", "upcr", "24h urine protein"),
        source=BLISS + ": 0.49 +/- 0.93 g/24 h",
    ),
    _flag(
        "anti_sm_positive",
        "Anti-Sm antibodies present; favours response (HR 2.5).",
        "serology",
        "Parodis et al. 2017",
    ),
    _lab(
        "blys",
        "Serum BLyS (BAFF); >= 1.2 ng/mL favours response (HR 2.6).",
        units.NG_ML,
        (0, 100),
        (0, 10),
        loinc=(),
        names=("blys", "baff"),
        source="Roth et al. 2016; Parodis et al. 2017",
    ),
    _lab(
        "platelets",
        "Platelet count.",
        units.CELLS_10E9_L,
        (1, 2000),
        (50, 600),
        loinc=("777-3",),
        names=("platelets", "plt"),
    ),
    _lab(
        "leukocytes",
        "Leukocyte count.",
        units.CELLS_10E9_L,
        (0.1, 200),
        (1.5, 20),
        loinc=("6690-2",),
        names=("leukocytes", "wbc"),
    ),
    _lab(
        "creatinine",
        "Serum creatinine.",
        units.CREATININE,
        (10, 2500),
        (35, 200),
        loinc=("14682-9", "2160-0"),
        names=("creatinine",),
    ),
)

ORGANS: Final[tuple[FieldSpec, ...]] = tuple(
    _flag(
        f"{organ}_involvement",
        f"Active {organ} SLEDAI-2K items at baseline ({items}).",
        "predictor",
        "CLINICAL.md section 3; Manzi et al., ARD 2012",
    )
    for organ, items in (
        ("renal", "urinary casts, haematuria, proteinuria or pyuria"),
        ("musculoskeletal", "arthritis or myositis"),
        ("mucocutaneous", "rash, alopecia or mucosal ulcers"),
    )
)

SEROLOGY_LIMITS: Final[tuple[FieldSpec, ...]] = tuple(
    FieldSpec(
        f"{analyte}_lower_limit",
        "number",
        f"Reporting lab's lower reference limit for {analyte.upper()}; when absent the BLISS "
        f"threshold ({default:g} mg/dL) defines low {analyte.upper()}.",
        "CLINICAL.md section 6; van Vollenhoven et al., ARD 2012",
        role="serology",
        units=units.PROTEIN_MG_DL,
        hard=hard,
        soft=hard,
    )
    for analyte, default, hard in (("c3", 90.0, (20.0, 200.0)), ("c4", 16.0, (2.0, 60.0)))
)

INCLUSION: Final[tuple[FieldSpec, ...]] = (
    _flag(
        "acr_1997_criteria", "Fulfils the 1997 ACR revised classification criteria.", "inclusion"
    ),
    _flag(
        "refractory",
        "Refractory to corticosteroids, antimalarials and/or immunosuppressants (MRBS definition).",
        "inclusion",
    ),
)

EXCLUSIONS: Final[tuple[FieldSpec, ...]] = (
    _flag(
        "malignancy_5y",
        "Malignancy within 5 years (except treated skin/cervix in situ).",
        "exclusion",
    ),
    _flag("primary_immunodeficiency", "History of primary immunodeficiency.", "exclusion"),
    _flag("prior_cyclophosphamide", "Any cyclophosphamide treatment.", "exclusion"),
    _flag("prior_rituximab", "Any rituximab treatment.", "exclusion"),
    _flag(
        "chronic_infection_suppressive_therapy",
        "On suppressive therapy for a chronic infection.",
        "exclusion",
    ),
    _flag(
        "infection_hospitalisation_60d", "Hospitalised for infection within 60 days.", "exclusion"
    ),
    _flag("parenteral_antibiotics_60d", "Parenteral antibiotics within 60 days.", "exclusion"),
    _flag("substance_abuse_365d", "Drug or alcohol abuse within 365 days.", "exclusion"),
    _flag("hiv_positive", "HIV positive.", "exclusion"),
    _flag("hbsag_positive", "Hepatitis B surface antigen positive.", "exclusion"),
    _flag("hbcab_positive", "Hepatitis B core antibody positive.", "exclusion"),
    _flag("hcv_antibody_positive", "Hepatitis C antibody positive.", "exclusion"),
    _flag(
        "anaphylaxis_biologics",
        "Anaphylaxis to contrast agents, human/murine proteins or monoclonal antibodies.",
        "exclusion",
    ),
    _flag("suicide_risk", "Serious suicide risk.", "exclusion"),
)

CONTEXT: Final[tuple[FieldSpec, ...]] = (
    FieldSpec(
        "ethnicity",
        "category",
        "Self-reported ethnicity, for subgroup reporting only (not a predictor by default).",
        "CLINICAL.md section 3",
        role="context",
    ),
)

#: What a person reads for each field (`FieldSpec.label`).
LABELS: Final[Mapping[str, str]] = {
    "sledai_2k": "SLEDAI-2K",
    "c3": "Complement C3",
    "c4": "Complement C4",
    "igg": "IgG",
    "anti_dsdna": "Anti-dsDNA",
    "anti_dsdna_cutoff": "Anti-dsDNA assay cut-off",
    "iga": "IgA",
    "age": "Age",
    "sex": "Sex",
    "disease_duration": "Disease duration",
    "sdi": "SLICC/ACR damage index (SDI)",
    "prednisone_mg_day": "Prednisone-equivalent dose",
    "immunosuppressant": "Immunosuppressant use",
    "antimalarial": "Antimalarial use",
    "smoking_current": "Current smoker",
    "proteinuria": "Proteinuria",
    "anti_sm_positive": "Anti-Sm positive",
    "blys": "BLyS (BAFF)",
    "platelets": "Platelets",
    "leukocytes": "Leukocytes",
    "creatinine": "Creatinine",
    "renal_involvement": "Renal involvement",
    "musculoskeletal_involvement": "Musculoskeletal involvement",
    "mucocutaneous_involvement": "Mucocutaneous involvement",
    "c3_lower_limit": "C3 lower reference limit",
    "c4_lower_limit": "C4 lower reference limit",
    "acr_1997_criteria": "Fulfils ACR 1997 criteria",
    "refractory": "Refractory disease",
    "malignancy_5y": "Malignancy within 5 years",
    "primary_immunodeficiency": "Primary immunodeficiency",
    "prior_cyclophosphamide": "Any cyclophosphamide",
    "prior_rituximab": "Any rituximab",
    "chronic_infection_suppressive_therapy": "Suppressive therapy for chronic infection",
    "infection_hospitalisation_60d": "Hospitalised for infection (60 days)",
    "parenteral_antibiotics_60d": "Parenteral antibiotics (60 days)",
    "substance_abuse_365d": "Drug or alcohol abuse (365 days)",
    "hiv_positive": "HIV positive",
    "hbsag_positive": "HBsAg positive",
    "hbcab_positive": "HBcAb positive",
    "hcv_antibody_positive": "Hepatitis C antibody positive",
    "anaphylaxis_biologics": "Anaphylaxis to contrast or biologics",
    "suicide_risk": "Serious suicide risk",
    "ethnicity": "Ethnicity",
}

FIELDS: Final[tuple[FieldSpec, ...]] = (
    PREDICTORS + ORGANS + SEROLOGY_LIMITS + INCLUSION + EXCLUSIONS + CONTEXT
)
FIELDS_BY_NAME: Final[Mapping[str, FieldSpec]] = {spec.name: spec for spec in FIELDS}
REQUIRED: Final[tuple[str, ...]] = tuple(spec.name for spec in FIELDS if spec.required)
CORE_PREDICTORS: Final[tuple[str, ...]] = ("sledai_2k", "c3", "c4", "igg", "anti_dsdna")

# Trial thresholds used when the reporting lab gives no reference limit (BLISS definitions).
C3_LOWER_LIMIT_MG_DL: Final = 90.0
C4_LOWER_LIMIT_MG_DL: Final = 16.0


def field(name: str) -> FieldSpec:
    """The declaration of ``name``; KeyError listing the known fields otherwise."""
    try:
        return FIELDS_BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown field {name!r}; known fields: {', '.join(FIELDS_BY_NAME)}"
        ) from None
