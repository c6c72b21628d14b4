"""Calibration constants of the baseline: demography, treatment, disease activity and labs.

Sources are cited field by field. "Furie 2014" is the pooled BLISS-52/76 baseline table (Lupus
Sci Med 2014;1:e000031, Table 1; CLINICAL.md section 7); "Manzi 2012" the pooled BLISS organ-domain
table (ARD 2012, PMC3465857); the clinical-literature notes are
``shared/reference/clinical-literature.md``. Where no publication gives a number (the split of
a domain's activity into its SLEDAI-2K items, the loadings of the latent factors) the value is
an assumption, chosen so that the published marginal rates are reproduced after the entry
screen; this is said beside it. Intercepts and medians were tuned by simulation against the
targets that the data tests check.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Demography(BaseModel):
    """Sex, age, ethnicity, disease duration, damage and smoking."""

    model_config = _FROZEN

    female_share: float = Field(0.941, ge=0, le=1, description="Furie 2014: 94.1 % women.")
    age_mean: float = Field(37.8, gt=0, description="Furie 2014: 37.8 +/- 11.5 years.")
    age_sd: float = Field(11.5, gt=0, description="Furie 2014: 37.8 +/- 11.5 years.")
    age_min: int = Field(
        19,
        ge=0,
        description="Youngest enrolled age in completed years; MRBS enrols adults over 18. Ages "
        "are a shifted gamma with the published mean and SD (right-skewed as in adult cohorts).",
    )
    ethnicity_shares: dict[str, float] = Field(
        default_factory=lambda: {
            "White": 0.474,
            "Indigenous American": 0.227,
            "Asian": 0.211,
            "Black": 0.088,
            "Other": 0.008,
        },
        description="Pooled BLISS-52/76 race shares, N-weighted from the per-trial table "
        "(clinical-literature 3.1: 865 x 37.8/32.3/26.5/3.5/0.6 % and 819 x "
        "3.4/12.6/69.5/14.4/1.0 %); normalised to sum to 1.",
    )
    duration_mean: float = Field(
        6.4,
        gt=0,
        description="Disease duration, years: BLISS-52 5.3 +/- 5.3 and BLISS-76 7.5 +/- 7.1, "
        "pooled (865 x 5.3 + 819 x 7.5) / 1684 = 6.37.",
    )
    duration_sd: float = Field(
        6.3, gt=0, description="Pooled SD from the two trial SDs and means: 6.34 years."
    )
    sdi_mean: float = Field(0.8, ge=0, description="Furie 2014: SDI 0.8 +/- 1.2.")
    sdi_sd: float = Field(1.2, gt=0, description="Furie 2014: SDI 0.8 +/- 1.2.")
    sdi_duration_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of the expected SDI that scales with disease duration (damage "
        "accrues with time); assumption.",
    )
    smoking_share: float = Field(
        0.12,
        ge=0,
        le=1,
        description="Current smokers; assumption (no BLISS figure; European SLE cohorts report "
        "roughly 10-20 %).",
    )
    anti_sm_share: float = Field(
        0.243, ge=0, le=1, description="Anti-Sm positive 24.3 % (pooled trials, PMC10496079)."
    )

    @model_validator(mode="after")
    def _shares_positive(self) -> Demography:
        bad = [name for name, share in self.ethnicity_shares.items() if share <= 0]
        if bad or not self.ethnicity_shares:
            raise ValueError(f"ethnicity_shares: shares must be positive (bad: {bad})")
        return self


class Treatment(BaseModel):
    """Background therapy at baseline."""

    model_config = _FROZEN

    corticosteroid_share: float = Field(
        0.863, ge=0, le=1, description="Furie 2014: corticosteroid use 86.3 %."
    )
    prednisone_median_mg: float = Field(
        10.7,
        gt=0,
        description="Median prednisone dose of users (log-normal, rounded to 2.5 mg); tuned so "
        "that > 7.5 mg/day is 58.0 % of all patients (Furie 2014), i.e. 67 % of users.",
    )
    prednisone_sdlog: float = Field(0.5, gt=0, description="Log-SD of the dose; assumption.")
    prednisone_activity_loading: float = Field(
        0.3,
        ge=-1,
        le=1,
        description="Correlation of log dose with clinical activity (more active disease is "
        "treated with more prednisone); assumption.",
    )
    prednisone_step_mg: float = Field(2.5, gt=0, description="Doses are multiples of 2.5 mg.")
    prednisone_max_mg: float = Field(60.0, gt=0, description="Largest dose simulated.")
    immunosuppressant_renal: float = Field(
        0.75,
        ge=0,
        le=1,
        description="P(immunosuppressant | renal activity); nephritis is treated with MMF or "
        "azathioprine (BLISS-LN: MMF background 73.5 %).",
    )
    immunosuppressant_other: float = Field(
        0.445,
        ge=0,
        le=1,
        description="P(immunosuppressant | no renal activity); tuned to 48.7 % overall "
        "(Furie 2014).",
    )
    antimalarial_share: float = Field(
        0.654,
        ge=0,
        le=1,
        description="Antimalarials: BLISS-52 67.2 %, BLISS-76 63.4 %, N-weighted 65.4 %.",
    )


class Domain(BaseModel):
    """A SELENA-SLEDAI organ domain: when it is active, and which items it then shows.

    Active when ``intercept + activity_loading * A + serology_loading * S + e > 0`` with the
    latent clinical activity A, serological activity S and e all standard normal. Given an active
    domain each item is present with its probability; a domain with none drawn gets one item
    chosen in proportion to those probabilities. ``exclusive`` domains show exactly one item.
    """

    model_config = _FROZEN

    intercept: float
    activity_loading: float = 0.5
    serology_loading: float = 0.0
    items: dict[str, float]
    exclusive: bool = False

    @model_validator(mode="after")
    def _items_valid(self) -> Domain:
        bad = [name for name, p in self.items.items() if not 0 < p <= 1]
        if bad or not self.items:
            raise ValueError(f"items: probabilities must be in (0, 1] (bad: {bad})")
        return self


def _default_domains() -> dict[str, Domain]:
    # Targets after the entry screen (Manzi 2012, pooled BLISS placebo arm; belimumab arm alike):
    # mucocutaneous 83.5 %, musculoskeletal 66.2 %, renal 16.4 %, haematological 7.1 %,
    # vasculitis 6.6 %, serositis 5.7 %, CNS 2.0 %, constitutional 1.8 %; intercepts tuned to
    # them. Item splits within a domain and the loadings are assumptions (no published split was
    # found), chosen so that SLEDAI-2K has the published 9.7 +/- 3.8 with 52.1 % >= 10: a second
    # mucocutaneous item is common, extra renal items are rarer than proteinuria, and the 8-point
    # items depend little on general activity, which would otherwise stretch the upper tail.
    return {
        "mucocutaneous": Domain(
            intercept=0.53,
            activity_loading=0.2,
            items={"rash": 0.85, "alopecia": 0.55, "mucosal_ulcers": 0.40},
        ),
        "musculoskeletal": Domain(
            intercept=0.05, activity_loading=0.2, items={"arthritis": 0.97, "myositis": 0.05}
        ),
        "renal": Domain(
            intercept=-1.41,
            activity_loading=0.1,
            serology_loading=0.6,
            items={"proteinuria": 0.85, "haematuria": 0.25, "pyuria": 0.15, "urinary_casts": 0.08},
        ),
        "haematological": Domain(
            intercept=-1.64,
            activity_loading=0.1,
            serology_loading=0.3,
            items={"thrombocytopenia": 0.45, "leukopenia": 0.65},
        ),
        "vasculitis": Domain(intercept=-1.72, activity_loading=0.1, items={"vasculitis": 1.0}),
        "serositis": Domain(
            intercept=-1.68, activity_loading=0.1, items={"pleurisy": 0.65, "pericarditis": 0.45}
        ),
        "cns": Domain(
            intercept=-2.22,
            activity_loading=0.1,
            exclusive=True,
            items={
                "lupus_headache": 0.35,
                "seizure": 0.15,
                "cranial_nerve_disorder": 0.12,
                "psychosis": 0.10,
                "organic_brain_syndrome": 0.10,
                "visual_disturbance": 0.10,
                "cerebrovascular_accident": 0.08,
            },
        ),
        "constitutional": Domain(intercept=-2.11, activity_loading=0.1, items={"fever": 1.0}),
    }


class Activity(BaseModel):
    """Latent disease activity, the clinical SLEDAI-2K descriptors and the entry screen."""

    model_config = _FROZEN

    activity_serology_correlation: float = Field(
        0.25,
        ge=-1,
        le=1,
        description="Correlation of latent clinical and serological activity; SLEDAI correlates "
        "with anti-dsDNA and inversely with C3/C4 (Narayanan 2010); assumption.",
    )
    entry_min_sledai: int = Field(
        6,
        ge=4,
        le=105,
        description="Enrolment requires SLEDAI-2K >= 6 (BLISS-52/76 entry: SELENA-SLEDAI >= 6, "
        "Furie 2011); at least 4, so that every patient can reach a 4-point reduction.",
    )
    domains: dict[str, Domain] = Field(default_factory=_default_domains)


class Serology(BaseModel):
    """Complement, immunoglobulins, anti-dsDNA and BLyS, driven by serological activity S.

    Each log value is ``location + sdlog * (loading * S + sqrt(1 - loading^2) * e)``; C3 and C4
    also share a complement factor so that they correlate beyond S (both are consumed by the
    same immune complexes). Targets after the entry screen (Furie 2014): C3 < 90 mg/dL 45.0 %,
    C4 < 16 mg/dL 56.1 %, anti-dsDNA positive 69.4 %, P(low C3 or C4 | anti-dsDNA positive)
    about 0.72 (clinical-literature 8), IgG 16.5 +/- 6.1 g/L with 44.2 % above 16.2 g/L.
    """

    model_config = _FROZEN

    c3_median_mg_dl: float = Field(99.6, gt=0, description="Tuned to 45.0 % below 90 mg/dL.")
    c3_sdlog: float = Field(
        0.30, gt=0, description="Cohort C3 71-94 +/- 26-33 mg/dL (clinical-literature 6.1)."
    )
    c3_loading: float = Field(
        0.875,
        ge=0,
        le=1,
        description="C3 loading on -S; tuned to P(low C3 or C4 | anti-dsDNA positive) = 0.72.",
    )
    c4_median_mg_dl: float = Field(16.4, gt=0, description="Tuned to 56.1 % below 16 mg/dL.")
    c4_sdlog: float = Field(
        0.50, gt=0, description="C4 is log-normal (Clin Lab 2014); SD/mean about 0.5 in SLE."
    )
    c4_loading: float = Field(0.875, ge=0, le=1, description="C4 loading on -S, as C3.")
    complement_shared: float = Field(
        0.95,
        ge=0,
        le=1,
        description="Loading of C3 and C4 on their shared factor. The published rates imply that "
        "low C3 nearly always comes with low C4: immunological SELENA-SLEDAI activity in about "
        "80 % (Manzi 2012) with 69.4 % anti-dsDNA positive and about 50 % both leaves P(low C3 "
        "or C4) near 0.6, barely above P(low C4) = 0.561.",
    )
    dsdna_log_mean: float = Field(
        0.235,
        description="Mean of log(anti-dsDNA / assay cut-off); tuned to 69.4 % positive.",
    )
    dsdna_sdlog: float = Field(
        1.2,
        gt=0,
        description="Anti-dsDNA is heavily right-skewed (SD above the mean; clinical-literature "
        "6.1), hence a wide log-normal.",
    )
    dsdna_loading: float = Field(0.875, ge=0, le=1, description="Loading on S, as C3 and C4.")
    igg_median_g_l: float = Field(
        15.0,
        gt=0,
        description="Median IgG; with igg_sdlog, tuned so that the enrolled cohort has the "
        "published 16.5 +/- 6.1 g/L and 44.2 % above 16.2 g/L (Furie 2014).",
    )
    igg_sdlog: float = Field(
        0.358, gt=0, description="Log-SD of the log-normal with mean 16.5 and SD 6.1 g/L."
    )
    igg_loading: float = Field(
        0.35,
        ge=0,
        le=1,
        description="IgG loading on S (hypergammaglobulinaemia with serological activity, "
        "clinical-literature 8); assumption.",
    )
    iga_median_mg_dl: float = Field(
        250.0, gt=0, description="Within the adult range 61-356 mg/dL (Mayo)."
    )
    iga_sdlog: float = Field(0.4, gt=0, description="Log-SD of IgA; assumption.")
    blys_median_ng_ml: float = Field(
        1.18,
        gt=0,
        description="Tuned so that about 23 % have BLyS >= 2 ng/mL (Roth, Lupus 2016).",
    )
    blys_sdlog: float = Field(0.6, gt=0, description="Log-SD of BLyS; assumption.")
    blys_loading: float = Field(
        0.35,
        ge=0,
        le=1,
        description="BLyS rises with serological activity (low C3, anti-dsDNA; Roth 2016).",
    )
    blys_anti_sm_log_shift: float = Field(
        0.2, description="Anti-Sm is independently associated with high BLyS (Roth 2016)."
    )


class OtherLabs(BaseModel):
    """Proteinuria, blood counts and creatinine, consistent with the SLEDAI-2K items."""

    model_config = _FROZEN

    proteinuria_threshold_g: float = Field(
        0.5, gt=0, description="SLEDAI-2K proteinuria item: > 0.5 g/24 h (Gladman 2002)."
    )
    proteinuria_margin_g: float = Field(
        0.05,
        ge=0,
        description="Values stay this far from the threshold so that rounding in any reporting "
        "unit cannot move them across it.",
    )
    proteinuria_low_median_g: float = Field(
        0.12, gt=0, description="Median without the proteinuria item; assumption."
    )
    proteinuria_low_sdlog: float = Field(0.8, gt=0, description="Assumption.")
    proteinuria_high_median_g: float = Field(
        1.3,
        gt=0,
        description="Median excess over the threshold with the item; tuned so that the mean is "
        "0.49 g/24 h (Furie 2014).",
    )
    proteinuria_high_sdlog: float = Field(0.8, gt=0, description="Assumption.")
    platelets_median: float = Field(230.0, gt=0, description="Reference 150-400 x10^9/L (OSCAR).")
    platelets_sdlog: float = Field(0.3, gt=0, description="Assumption.")
    thrombocytopenia_below: float = Field(
        100.0, gt=0, description="SLEDAI-2K item: platelets < 100 x10^9/L."
    )
    thrombocytopenia_low: float = Field(20.0, gt=0, description="Lowest simulated count.")
    leukocytes_median: float = Field(5.5, gt=0, description="Reference 4-11 x10^9/L (OSCAR).")
    leukocytes_sdlog: float = Field(0.35, gt=0, description="Assumption.")
    leukopenia_below: float = Field(3.0, gt=0, description="SLEDAI-2K item: WBC < 3 x10^9/L.")
    leukopenia_low: float = Field(1.5, gt=0, description="Lowest simulated count.")
    creatinine_median_umol_l: float = Field(
        68.0, gt=0, description="Reference 50-110 umol/L (OSCAR)."
    )
    creatinine_sdlog: float = Field(0.2, gt=0, description="Assumption.")
    creatinine_renal_factor: float = Field(
        1.3, gt=0, description="Renal activity raises creatinine; assumption."
    )
