"""Shape predictions into the service's responses (shared by /predict and /predict_batch)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from features.record import FIELDS_BY_NAME
from features.schema import canonical_values, patient_model, soft_range_flags
from serving.predictor import Prediction, Predictor
from serving.schemas import (
    BatchItem,
    Contribution,
    Eligibility,
    ModelRef,
    PredictionResponse,
    Problem,
)


def model_ref(predictor: Predictor) -> ModelRef:
    return ModelRef(name=predictor.identity.name, version=predictor.identity.version)


def prediction_response(
    predictor: Predictor, values: dict[str, Any], prediction: Prediction
) -> PredictionResponse:
    contributions = [
        Contribution(
            predictor=name,
            value=values.get(name),
            unit=FIELDS_BY_NAME[name].unit,
            log_odds=round(effect, 6),
            imputed=name in prediction.imputed,
        )
        for name, effect in sorted(prediction.contributions.items(), key=lambda item: -abs(item[1]))
    ]
    return PredictionResponse(
        probability=round(prediction.probability, 6),
        risk_band=prediction.band,
        contributions=contributions,
        imputed=list(prediction.imputed),
        flags=soft_range_flags(values),
        eligibility=Eligibility(
            eligible=prediction.eligible,
            reasons=list(prediction.eligibility_reasons),
            unknown=list(prediction.unknown_criteria),
        ),
        model=model_ref(predictor),
    )


def predict_record(predictor: Predictor, record: BaseModel) -> PredictionResponse:
    values = canonical_values(record)
    return prediction_response(predictor, values, predictor.predict_one(values))


def problems_of(error: ValidationError) -> list[Problem]:
    """Every offending field with its reason, never the value (hide_input_in_errors)."""
    return [
        Problem(field=".".join(str(part) for part in item["loc"]), reason=item["msg"])
        for item in error.errors(include_input=False, include_url=False)
    ]


def predict_batch(predictor: Predictor, patients: list[dict[str, Any]]) -> list[BatchItem]:
    """One item per patient, in order: each record validated on its own (a bad one fails only
    itself), then every valid one predicted together."""
    model = patient_model()
    problems: dict[int, list[Problem]] = {}
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(patients):
        try:
            valid.append((index, canonical_values(model.model_validate(raw))))
        except ValidationError as error:
            problems[index] = problems_of(error)
    predictions = predictor.predict_many([values for _, values in valid])
    answers = {
        index: prediction_response(predictor, values, prediction)
        for (index, values), prediction in zip(valid, predictions, strict=True)
    }
    return [
        BatchItem(index=index, prediction=answers.get(index), problems=problems.get(index, []))
        for index in range(len(patients))
    ]
