"""Shape `Scorer.score`'s answers into the service's responses (``/predict``, ``/predict_batch``).

Validated JSON records become columns (`features.columns.from_records`) and are scored together
in one call of `scoring.scorer.Scorer.score`; each response is one row of that answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from features.columns import from_records
from features.record import FIELDS_BY_NAME
from features.schema import canonical_values, flags_of, outside_training_range, patient_model
from scoring.intervals import INTERVAL_LEVEL, IntervalEstimator
from scoring.scorer import Scorer, Scores, shown
from serving.http.schemas import (
    BatchItem,
    Contribution,
    Eligibility,
    ModelRef,
    PredictionResponse,
    ProbabilityInterval,
    Problem,
)


def model_ref(scorer: Scorer) -> ModelRef:
    return ModelRef(name=scorer.identity.name, version=scorer.identity.version)


def _response(
    scorer: Scorer, values: dict[str, Any], scores: Scores, row: int, flags: list[str]
) -> PredictionResponse:
    imputed = [
        name for name, missing in zip(scorer.fields, scores.imputed[row], strict=True) if missing
    ]
    effects = scores.contributions[row] if scores.contributions is not None else np.zeros(0)
    contributions = [
        Contribution(
            predictor=name,
            value=values.get(name),
            unit=FIELDS_BY_NAME[name].unit,
            log_odds=float(effect),
            imputed=name in imputed,
        )
        for name, effect in sorted(
            zip(scorer.shown_as, shown(effects).tolist(), strict=True),
            key=lambda item: -abs(item[1]),
        )
    ]
    screening = scores.screening
    return PredictionResponse(
        probability=float(shown(scores.probability[row : row + 1])[0]),
        risk_band=scores.band[row],
        contributions=contributions,
        imputed=imputed,
        flags=flags,
        eligibility=Eligibility(
            eligible=screening.eligible[row],
            reasons=list(screening.reasons(row)),
            unknown=list(screening.unknown_fields(row)),
        ),
        model=model_ref(scorer),
    )


def predict_values(scorer: Scorer, records: Sequence[dict[str, Any]]) -> list[PredictionResponse]:
    """Responses for validated records (canonical values, None when missing), scored together."""
    if not records:
        return []
    columns = from_records(records)
    scores = scorer.score(columns)
    outside = outside_training_range(columns)
    return [
        _response(scorer, values, scores, row, flags_of(outside[row]))
        for row, values in enumerate(records)
    ]


def predict_record(scorer: Scorer, record: BaseModel) -> PredictionResponse:
    """The response for one patient validated by the request model."""
    return predict_values(scorer, [canonical_values(record)])[0]


def interval_of(estimator: IntervalEstimator, record: BaseModel) -> ProbabilityInterval:
    """The probability's bootstrap interval for one validated patient."""
    lower, upper = estimator.intervals(from_records([canonical_values(record)]))
    return ProbabilityInterval(
        lower=float(shown(lower)[0]),
        upper=float(shown(upper)[0]),
        level=INTERVAL_LEVEL,
        refits=len(estimator),
    )


def problems_of(error: ValidationError) -> list[Problem]:
    """Every offending field with its reason, never the value (hide_input_in_errors)."""
    return [
        Problem(field=".".join(str(part) for part in item["loc"]), reason=item["msg"])
        for item in error.errors(include_input=False, include_url=False)
    ]


def predict_batch(
    scorer: Scorer, patients: list[dict[str, Any]], offset: int = 0
) -> list[BatchItem]:
    """One item per patient, in order: each record validated on its own (a bad one fails only
    itself), then every valid one scored together; ``offset`` is the first one's index in the
    request."""
    model = patient_model()
    problems: dict[int, list[Problem]] = {}
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(patients):
        try:
            valid.append((index, canonical_values(model.model_validate(raw))))
        except ValidationError as error:
            problems[index] = problems_of(error)
    responses = predict_values(scorer, [values for _, values in valid])
    answers = {index: response for (index, _), response in zip(valid, responses, strict=True)}
    return [
        BatchItem(
            index=offset + index,
            prediction=answers.get(index),
            problems=problems.get(index, []),
        )
        for index in range(len(patients))
    ]
