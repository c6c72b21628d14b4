"""`SimulationConfig`: every calibration constant of the simulator, typed and validated.

The defaults reproduce the published targets (CLINICAL.md section 7); each constant documents its
source in its field description (`simulator.config_baseline`, `simulator.config_outcome`,
`simulator.sites`). Change a constant by constructing a config, e.g.
``SimulationConfig(outcome=Outcome(dropout_share=0.2))``; the simulator never reads settings
from anywhere else.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.record import EXCLUSIONS, INCLUSION
from simulator.config_baseline import Activity, Demography, OtherLabs, Serology, Treatment
from simulator.config_outcome import Assessments, Mess, Outcome, ResponseModel
from simulator.descriptors import check_names
from simulator.sites import SiteProfile, default_sites

OPTIONAL_LAB_GROUPS: Final = ("blys", "iga", "creatinine", "urine_protein", "blood_counts")
"""Optional baseline labs that may be missing; platelets and leukocytes go together."""

INELIGIBLE_REASONS: Final = (
    "age_18_or_under",
    "igg_below_400",
    "iga_below_10",
    *(spec.name for spec in INCLUSION),
    *(spec.name for spec in EXCLUSIONS),
)
"""MRBS criteria a simulated patient can fail (CLINICAL.md section 2)."""


class SimulationConfig(BaseModel):
    """All calibration constants; the defaults reproduce CLINICAL.md section 7."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    demography: Demography = Field(default_factory=Demography)
    treatment: Treatment = Field(default_factory=Treatment)
    activity: Activity = Field(default_factory=Activity)
    serology: Serology = Field(default_factory=Serology)
    other_labs: OtherLabs = Field(default_factory=OtherLabs)
    assessments: Assessments = Field(default_factory=Assessments)
    response: ResponseModel = Field(default_factory=ResponseModel)
    outcome: Outcome = Field(default_factory=Outcome)
    mess: Mess = Field(default_factory=Mess)
    sites: tuple[SiteProfile, ...] = Field(default_factory=default_sites, min_length=1)

    @model_validator(mode="after")
    def _names_known(self) -> SimulationConfig:
        for domain_name, domain in self.activity.domains.items():
            check_names(domain.items, field=f"activity.domains.{domain_name}.items")
        unknown = [k for k in self.mess.optional_missing if k not in OPTIONAL_LAB_GROUPS]
        if unknown:
            raise ValueError(
                f"mess.optional_missing: unknown lab group(s) {', '.join(unknown)}; "
                f"known: {', '.join(OPTIONAL_LAB_GROUPS)}"
            )
        unknown = [k for k in self.mess.ineligible_reasons if k not in INELIGIBLE_REASONS]
        if unknown:
            raise ValueError(
                f"mess.ineligible_reasons: unknown reason(s) {', '.join(unknown)}; "
                f"known: {', '.join(INELIGIBLE_REASONS)}"
            )
        ids = [site.site_id for site in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError(f"sites: site_id values must be unique (got {', '.join(ids)})")
        return self
