"""Recruiting sites and how each one reports its laboratory results (codes, units, assays).

Real multi-centre cohorts do not agree on units or codes, and a validating pipeline must cope:

* complement and immunoglobulins are reported in mg/dL (US catalogues such as Mayo and ARUP) or
  in g/L (RCPA, NHS, Ontario OSCAR configuration); 1 g/L = 100 mg/dL (CLINICAL.md section 6);
* analytes are coded by LOINC at most sites and by a local name at some;
* anti-dsDNA assays differ: ELISA positive at >= 30 IU/mL (BLISS), EliA >= 10-15 IU/mL, bead
  assays >= 10 IU/mL. Values are never converted between assays, so each result carries its
  own cut-off in ``ref_high`` (CLINICAL.md section 6; clinical-literature section 6.1);
* urine protein comes as a 24 h collection (g/24 h) or a spot protein/creatinine ratio (g/g, or
  mg/mmol with 1 g/g = 113 mg/mmol);
* creatinine in umol/L (LOINC 14682-9) or mg/dL (LOINC 2160-0; x 88.4 = umol/L);
* some sites record only the SLEDAI-2K total at week 48, not the 24 descriptors.

The twelve default profiles below are an illustrative mix, not a census of real sites: eight
report proteins in mg/dL and four in g/L, ten code analytes by LOINC and two by local name,
four use a non-ELISA anti-dsDNA assay and two record only the week-48 total.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ProteinUnit = Literal["mg/dL", "g/L"]
AnalyteCoding = Literal["loinc", "name"]
UrineProtein = Literal["24h", "upcr_g_g", "upcr_mg_mmol"]
CreatinineUnit = Literal["umol/L", "mg/dL"]


class SiteProfile(BaseModel):
    """How one site reports: enrolment weight, units, analyte coding and assay cut-offs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: str = Field(pattern=r"^S\d{2}$", description="Site code, 'S01'..'S99'.")
    weight: float = Field(default=1.0, gt=0, description="Relative enrolment share.")
    protein_unit: ProteinUnit = Field(
        default="mg/dL", description="Unit for C3, C4, IgG and IgA (mg/dL or g/L)."
    )
    coding: AnalyteCoding = Field(
        default="loinc",
        description="Code C3, C4, IgG, IgA and anti-dsDNA by LOINC or by local name.",
    )
    dsdna_cutoff_iu_ml: float = Field(
        default=30.0,
        gt=0,
        description="Positivity cut-off of the site's anti-dsDNA assay (ELISA 30 IU/mL, EliA "
        "10-15, bead assays 10; CLINICAL.md section 6).",
    )
    urine_protein: UrineProtein = Field(
        default="24h", description="24 h urine protein or spot UPCR (g/g or mg/mmol)."
    )
    creatinine_unit: CreatinineUnit = Field(default="umol/L", description="Creatinine unit.")
    week48_total_only: bool = Field(
        default=False,
        description="Week-48 visits record only the SLEDAI-2K total, not the descriptors.",
    )


def default_sites() -> tuple[SiteProfile, ...]:
    """The twelve default site profiles (equal enrolment weights)."""
    return (
        SiteProfile(site_id="S01"),
        SiteProfile(site_id="S02", urine_protein="upcr_g_g"),
        SiteProfile(site_id="S03", protein_unit="g/L", urine_protein="upcr_mg_mmol"),
        SiteProfile(site_id="S04", coding="name", dsdna_cutoff_iu_ml=15.0, creatinine_unit="mg/dL"),
        SiteProfile(site_id="S05", protein_unit="g/L", week48_total_only=True),
        SiteProfile(
            site_id="S06",
            dsdna_cutoff_iu_ml=10.0,
            urine_protein="upcr_g_g",
            creatinine_unit="mg/dL",
        ),
        SiteProfile(site_id="S07", creatinine_unit="mg/dL"),
        SiteProfile(site_id="S08", protein_unit="g/L", coding="name", urine_protein="upcr_mg_mmol"),
        SiteProfile(site_id="S09", creatinine_unit="mg/dL", week48_total_only=True),
        SiteProfile(site_id="S10", dsdna_cutoff_iu_ml=15.0, urine_protein="upcr_g_g"),
        SiteProfile(site_id="S11", protein_unit="g/L", dsdna_cutoff_iu_ml=10.0),
        SiteProfile(site_id="S12", creatinine_unit="mg/dL"),
    )
