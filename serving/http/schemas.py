"""The service contract: typed request and response models, and the one example patient.

The patient record itself is generated from `features.record` (`features.schema.patient_model`),
so its units, ranges, descriptions and sources appear in the OpenAPI document exactly as
declared. The example patient (`example_patient.json`) is the OpenAPI example, the README's
curl body and a test fixture.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from features.schema import patient_model

#: Most patients one /predict_batch request may carry (a cohort belongs in `mrbs score`).
MAX_BATCH: Final = 500

_HIDDEN = ConfigDict(extra="forbid", hide_input_in_errors=True)


@functools.cache
def example_patient() -> dict[str, Any]:
    text = resources.files("serving.http").joinpath("example_patient.json").read_text()
    return dict(json.loads(text))


@functools.cache
def predict_request() -> type[BaseModel]:
    """Body of POST /predict: one patient's baseline record."""
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(
            extra="forbid",
            hide_input_in_errors=True,
            json_schema_extra={"example": {"patient": example_patient()}},
        ),
        patient=(patient_model(), Field(description="Baseline record; units as declared.")),
        interval=(
            bool,
            Field(
                False,
                description="Also return the probability's 95 % uncertainty interval from the "
                "model's bootstrap refits (some milliseconds more per request).",
            ),
        ),
    )


class BatchRequest(BaseModel):
    """Body of POST /predict_batch: patients validated one by one, so one bad record fails
    only itself."""

    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,
        json_schema_extra={"example": {"patients": [example_patient()]}},
    )
    patients: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} baseline records, each shaped like /predict's patient.",
    )


class EmptyRequest(BaseModel):
    model_config = _HIDDEN


class Contribution(BaseModel):
    predictor: str = Field(description="Record field.")
    value: float | str | bool | None = Field(description="The value used (canonical unit).")
    unit: str = Field(description="Canonical unit of the value ('' when none).")
    log_odds: float = Field(
        description="Change in log-odds of response against the development cohort's median "
        "for this predictor, others unchanged; positive favours response."
    )
    imputed: bool = Field(description="The value was missing and the median was used.")


class Eligibility(BaseModel):
    eligible: bool | None = Field(
        description="Inside the MRBS population: true, false, or null when a criterion is unknown."
    )
    reasons: list[str] = Field(description="Every criterion the patient fails.")
    unknown: list[str] = Field(description="Criteria that could not be checked (field missing).")


class ModelRef(BaseModel):
    name: str
    version: str


class ProbabilityInterval(BaseModel):
    """How far the probability moves when the model is rebuilt from another sample of the
    development population: the model's sampling uncertainty, not the patient's outcome."""

    lower: float = Field(ge=0, le=1)
    upper: float = Field(ge=0, le=1)
    level: float = Field(description="Coverage, e.g. 0.95 for the 2.5 and 97.5 percentiles.")
    refits: int = Field(ge=1, description="Bootstrap refits of the pipeline it comes from.")


class PredictionResponse(BaseModel):
    """One patient's prediction and everything a clinician needs to check it."""

    probability: float = Field(ge=0, le=1, description="Probability of SRI-4 response at week 48.")
    risk_band: Literal["low", "intermediate", "high"] = Field(
        description="Display band: low < 0.35 <= intermediate < 0.65 <= high."
    )
    contributions: list[Contribution] = Field(description="Each predictor's contribution.")
    imputed: list[str] = Field(description="Optional inputs that were missing and imputed.")
    flags: list[str] = Field(description="Values outside the training population's range.")
    eligibility: Eligibility
    model: ModelRef
    interval: Annotated[
        ProbabilityInterval | None,
        # OpenAPI 3.0 (what BentoML serves) marks a nullable object with 'nullable', not with
        # pydantic's anyOf of the object and null.
        WithJsonSchema({**ProbabilityInterval.model_json_schema(), "nullable": True}),
    ] = Field(
        None,
        description="Only when asked for (request 'interval': true) and the model carries "
        "bootstrap refits (see /model's interval_refits); null otherwise.",
    )


class Problem(BaseModel):
    field: str = Field(description="The offending field ('' for the record as a whole).")
    reason: str


class BatchItem(BaseModel):
    index: int = Field(ge=0, description="Position of the patient in the request.")
    prediction: PredictionResponse | None = Field(description="Null when the record has problems.")
    problems: list[Problem] = Field(description="Why no prediction was made (empty if one was).")


class BatchResponse(BaseModel):
    results: list[BatchItem]
    model: ModelRef


class PredictorInfo(BaseModel):
    name: str
    unit: str
    accepted_units: list[str]
    plausible_range: list[float] | None
    training_range: list[float] | None
    required: bool
    description: str


class ModelDescription(BaseModel):
    """GET /model: what is answering, for whom, from what, and how well."""

    name: str
    version: str
    trained_at: str
    run_id: str
    intended_use: str
    population: str
    predictors: list[PredictorInfo]
    metrics: dict[str, float] = Field(description="Headline validated metrics.")
    interval_refits: int = Field(
        description="Bootstrap refits behind /predict's optional interval (0: none)."
    )
    model_card: str = Field(description="Where the model card (HTML) is kept.")
