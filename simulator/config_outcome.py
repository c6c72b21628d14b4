"""Calibration constants of the assessments, the response model, week 48 and the data mess.

The response model's directions of effect are the published ones (CLINICAL.md section 7, last
paragraph; clinical-literature sections 3.2, 4.2, 5 and 9); its sizes were tuned by simulation so
that the SRI-4 rates of the belimumab 10 mg/kg arm are reproduced (overall 50.6 %, Furie 2014;
SELENA-SLEDAI >= 10 63.2 % and low complement with anti-dsDNA positive 51.5 %, van Vollenhoven
2012) and the best possible AUROC stays within what baseline models reach on real data
(0.55-0.78, SLICC inception cohort 0.777). A coefficient is on the log-odds scale.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.sri import BILAG_DOMAINS, PGA_WORSENING

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Assessments(BaseModel):
    """Baseline physician global assessment and BILAG-2004 grades."""

    model_config = _FROZEN

    pga_mean: float = Field(1.4, ge=0, le=3, description="Furie 2014: PGA 1.4 +/- 0.5.")
    pga_sd: float = Field(0.5, gt=0, description="Furie 2014: PGA 1.4 +/- 0.5.")
    pga_activity_correlation: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Correlation of PGA with the clinical SLEDAI-2K (responders 1.5 vs "
        "non-responders 1.4, Furie 2014, follow from it); assumption.",
    )
    pga_clinical_centre: float = Field(
        7.8, description="Mean clinical SLEDAI-2K of the default cohort, to standardise it."
    )
    pga_clinical_scale: float = Field(
        3.6, gt=0, description="SD of clinical SLEDAI-2K of the default cohort."
    )
    bilag_a_if_active: dict[str, float] = Field(
        default_factory=lambda: {
            "constitutional": 0.10,
            "mucocutaneous": 0.05,
            "neuropsychiatric": 0.33,
            "musculoskeletal": 0.08,
            "cardiorespiratory": 0.20,
            "ophthalmic": 0.33,
            "renal": 0.23,
            "haematological": 0.13,
        },
        description="P(grade A | domain has an active SLEDAI-2K item), by BILAG domain (the "
        "gastrointestinal domain has no SLEDAI-2K item, so it is never active here); tuned so "
        "that about 15 % have >= 1 A (BLISS-52 19.0 %, BLISS-76 12.1 %) and about 60 % >= 1 A "
        "or 2 B (Furie 2014: 60.8 %).",
    )
    bilag_c_if_active: float = Field(
        0.1,
        ge=0,
        le=1,
        description="P(grade C | active, not A): mild activity; tuned with bilag_a_if_active.",
    )
    bilag_c_if_inactive: float = Field(
        0.12, ge=0, le=1, description="P(C | no active descriptor); assumption."
    )
    bilag_d_if_inactive: float = Field(
        0.38, ge=0, le=1, description="P(D, previously involved | inactive); assumption."
    )

    @model_validator(mode="after")
    def _shares_valid(self) -> Assessments:
        if self.bilag_c_if_inactive + self.bilag_d_if_inactive > 1:
            raise ValueError("bilag_c_if_inactive + bilag_d_if_inactive: must not exceed 1")
        unknown = [k for k in self.bilag_a_if_active if k not in BILAG_DOMAINS]
        if unknown:
            raise ValueError(
                f"bilag_a_if_active: unknown BILAG domain(s) {', '.join(unknown)}; "
                f"known: {', '.join(BILAG_DOMAINS)}"
            )
        bad = [k for k, p in self.bilag_a_if_active.items() if not 0 <= p <= 1]
        if bad:
            raise ValueError(f"bilag_a_if_active: {', '.join(bad)} not a probability in 0..1")
        return self


class ResponseModel(BaseModel):
    """Log-odds of SRI-4 response at week 48 given the baseline (see `simulator.response`)."""

    model_config = _FROZEN

    intercept: float = Field(-0.72, description="Tuned to 50.6 % responders overall.")
    clinical_sledai_coef: float = Field(
        2.23,
        description="Per unit of log((clinical SLEDAI-2K + 1) / (reference + 1)). Higher "
        "baseline activity is the strongest published predictor (SLEDAI >= 10: OR 3.1-3.5, "
        "Gatto 2020); a 4-point reduction is easier from a higher score. Concave: each further "
        "point matters less. Tuned to 63.2 % responders with SELENA-SLEDAI >= 10 (van "
        "Vollenhoven 2012), which leaves about 37 % with <= 9.",
    )
    clinical_sledai_reference: float = Field(6.0, ge=0, description="Centre of the term.")
    serology_coef: float = Field(
        0.29,
        description="Low C3/C4 with anti-dsDNA positive, at equal clinical SLEDAI-2K: tuned to "
        "the subgroup's 51.5 % on belimumab (van Vollenhoven 2012). Serologically active "
        "disease is where belimumab adds most over placebo (subgroup OR 2.29 vs 1.62 overall).",
    )
    duration_coef: float = Field(
        1.1,
        description="Times exp(-duration / duration_scale_years): recent disease responds "
        "better (duration <= 2 years OR 1.94, Gatto 2020); smooth, not a step.",
    )
    duration_scale_years: float = Field(2.0, gt=0, description="Decay of the duration effect.")
    sdi_zero_coef: float = Field(0.2, description="SDI = 0 favours response (OR 1.74, Gatto).")
    sdi_over_one_coef: float = Field(
        -0.45, description="SDI > 1 lowers response (HR 0.45, Parodis 2017)."
    )
    smoking_coef: float = Field(
        math.log(0.3),
        description="Current smoking strongly lowers response (HR 0.10 Parodis 2017; OR 0.19 "
        "Gatto 2020); OR 0.3 used, the small-cohort estimates being extreme.",
    )
    blys_coef: float = Field(
        0.5, description="High BLyS favours response (BLyS >= 1.2 ng/mL: HR 2.6, Parodis 2017)."
    )
    blys_threshold_ng_ml: float = Field(1.2, gt=0, description="Parodis 2017 threshold.")
    blys_width_log: float = Field(
        0.2, gt=0, description="Width of the logistic step in log BLyS; assumption."
    )
    anti_sm_coef: float = Field(
        math.log(1.8), description="Anti-Sm positive favours response (HR 2.52, Parodis 2020)."
    )
    immunosuppressant_coef: float = Field(
        math.log(0.55),
        description="Immunosuppressant use (crude OR 0.63, Furie 2014; a marker of refractory "
        "disease); alongside the other terms the crude OR comes out near 0.67.",
    )
    prednisone_coef: float = Field(
        0.2,
        description="Prednisone > 7.5 mg/day mildly favours response (61.9 % vs 54.7 %, Furie "
        "2014; larger belimumab effect with corticosteroids, van Vollenhoven 2012).",
    )
    prednisone_threshold_mg: float = Field(7.5, gt=0, description="Furie 2014 threshold.")
    prednisone_width_mg: float = Field(2.5, gt=0, description="Width of the logistic step.")
    proteinuria_coef: float = Field(
        -0.45,
        description="Per g/24 h above proteinuria_knee_g, capped at proteinuria_cap_g: heavy "
        "proteinuria does not respond (UPCR >= 3 g/g: no benefit, BLISS-LN post hoc); it "
        "offsets the 4 points the proteinuria item adds to SLEDAI-2K.",
    )
    proteinuria_knee_g: float = Field(1.0, ge=0, description="Below this: no effect.")
    proteinuria_cap_g: float = Field(3.0, gt=0, description="Excess counted up to this.")
    age_coef: float = Field(
        -0.05, description="Per decade above 38: responders slightly younger (Furie 2014)."
    )
    age_centre: float = Field(38.0, description="Centre of the age term.")


class Outcome(BaseModel):
    """How the week-48 visit is made consistent with the simulated response status."""

    model_config = _FROZEN

    dropout_share: float = Field(
        0.12,
        ge=0,
        le=1,
        description="Share of non-responders who drop out (no week-48 visit); about 6 % of the "
        "cohort. Dropouts count as non-responders (Furie 2009).",
    )
    rescue_share: float = Field(
        0.10,
        ge=0,
        le=1,
        description="Share of non-responders who received rescue therapy (about 5 % of all).",
    )
    rescue_clinical_pass: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Share of rescued patients whose week-48 scores alone would pass SRI-4 "
        "(the rescue improved them); they are non-responders all the same.",
    )
    fail_sledai: float = Field(
        0.88,
        ge=0,
        le=1,
        description="P(non-responder misses the 4-point SLEDAI reduction); in BLISS almost all "
        "SRI failures missed it (label: SLEDAI reduction 47-58 % vs SRI 43-58 %).",
    )
    fail_bilag: float = Field(
        0.30,
        ge=0,
        le=1,
        description="P(non-responder has BILAG worsening); label: 69-81 % without BILAG "
        "worsening on belimumab.",
    )
    fail_pga: float = Field(
        0.35,
        ge=0,
        le=1,
        description="P(non-responder has PGA worsening >= 0.3); label: 69-80 % without.",
    )
    bilag_new_a_share: float = Field(
        0.6, ge=0, le=1, description="BILAG failures by a new A (rest: two new B); assumption."
    )
    responder_new_b: float = Field(
        0.05, ge=0, le=1, description="Responders with one (allowed) new B; assumption."
    )
    resolve_clinical_responder: float = Field(
        0.7, ge=0, le=1, description="P(a baseline clinical item resolves | responder)."
    )
    resolve_clinical_other: float = Field(
        0.3, ge=0, le=1, description="P(a baseline clinical item resolves | non-responder)."
    )
    resolve_serology_responder: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Serology normalises less often (C3 +14.5 %, anti-dsDNA -34 % in "
        "responders, Furie 2014 Table 2).",
    )
    resolve_serology_other: float = Field(0.15, ge=0, le=1, description="Non-responders.")
    new_item_responder: float = Field(
        0.005, ge=0, le=1, description="P(a clinical item absent at baseline appears)."
    )
    new_item_other: float = Field(0.02, ge=0, le=1, description="Non-responders.")
    improve_bilag_responder: float = Field(
        0.6, ge=0, le=1, description="P(a domain improves one grade | responder)."
    )
    improve_bilag_other: float = Field(0.25, ge=0, le=1, description="Non-responders.")
    pga_rise_min: float = Field(
        PGA_WORSENING,
        gt=0,
        description="Smallest PGA rise of a PGA failure (SRI: rise < 0.30 passes).",
    )
    pga_rise_max: float = Field(1.0, gt=0, description="Largest PGA rise simulated.")
    pga_fall_max: float = Field(1.2, ge=0, description="Largest PGA fall simulated.")
    pga_rise_allowed: float = Field(
        0.2,
        ge=0,
        lt=PGA_WORSENING,
        description="Largest PGA rise of a patient not failing on PGA (below SRI's 0.30).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        if self.dropout_share + self.rescue_share > 1:
            raise ValueError("dropout_share + rescue_share: must not exceed 1")
        if self.pga_rise_min < PGA_WORSENING:
            raise ValueError(
                f"pga_rise_min: {self.pga_rise_min} is below the SRI worsening {PGA_WORSENING}"
            )
        if self.pga_rise_max < self.pga_rise_min:
            raise ValueError("pga_rise_max: must not be below pga_rise_min")
        return self


class Mess(BaseModel):
    """Missing values, eligibility failures and implausible values in the raw tables."""

    model_config = _FROZEN

    optional_missing: dict[str, float] = Field(
        default_factory=lambda: {
            "blys": 0.08,
            "iga": 0.06,
            "creatinine": 0.05,
            "urine_protein": 0.07,
            "blood_counts": 0.06,
        },
        description="Share of patients without each optional baseline lab (5-10 %).",
    )
    unknown_facts_share: float = Field(
        0.03, ge=0, le=1, description="Share of patients with some unknown exclusion facts."
    )
    unknown_fact_rate: float = Field(
        0.3, ge=0, le=1, description="Share of facts unknown within such a patient."
    )
    unknown_predictor_share: float = Field(
        0.03, ge=0, le=1, description="Share missing for smoking and anti-Sm status each."
    )
    ineligible_share: float = Field(
        0.04, ge=0, le=1, description="Share failing one MRBS criterion (3-5 %)."
    )
    ineligible_reasons: dict[str, float] = Field(
        default_factory=lambda: {
            "age_18_or_under": 1.0,
            "igg_below_400": 1.0,
            "iga_below_10": 0.5,
            "acr_1997_criteria": 0.5,
            "refractory": 0.5,
            "malignancy_5y": 0.5,
            "primary_immunodeficiency": 0.3,
            "prior_cyclophosphamide": 1.0,
            "prior_rituximab": 1.0,
            "chronic_infection_suppressive_therapy": 0.3,
            "infection_hospitalisation_60d": 0.5,
            "parenteral_antibiotics_60d": 0.5,
            "substance_abuse_365d": 0.3,
            "hiv_positive": 0.2,
            "hbsag_positive": 0.3,
            "hbcab_positive": 1.0,
            "hcv_antibody_positive": 0.3,
            "anaphylaxis_biologics": 0.2,
            "suicide_risk": 0.2,
        },
        description="Relative frequency of each failing criterion; assumption.",
    )
    injected_error_share: float = Field(
        0.006, ge=0, le=1, description="Share of patients with one implausible lab value."
    )

    @model_validator(mode="after")
    def _rates_valid(self) -> Mess:
        for name, rate in self.optional_missing.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"optional_missing.{name}: {rate} is not a share in 0..1")
        for name, weight in self.ineligible_reasons.items():
            if weight <= 0:
                raise ValueError(f"ineligible_reasons.{name}: weight {weight} must be positive")
        return self
