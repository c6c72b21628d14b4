"""The service's single-patient path agrees with the logged pipeline itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.schema import patient_model
from serving.predictor import ModelIdentity, Predictor, risk_band
from serving.respond import predict_batch_item, predict_record
from serving.schemas import example_patient
from training.candidates import build_pipeline
from training.config import Candidate, load_config
from training.data import load_cohort


@pytest.fixture(scope="module", params=["logistic_spline", "xgboost"])
def predictor(request: pytest.FixtureRequest, development_cohort: Path) -> tuple[Predictor, object]:
    cohort = load_cohort(development_cohort, eligible_only=True)
    candidate = Candidate(name="m", kind=request.param, feature_set="extended")
    pipeline = build_pipeline(candidate, load_config().seed).fit(
        cohort.inputs("extended"), cohort.y
    )
    return Predictor(pipeline, ModelIdentity(name="mrbs-sri4", version="1")), cohort


def test_fast_path_equals_pipeline(predictor: tuple[Predictor, object]) -> None:
    model, cohort = predictor
    X = cohort.inputs("extended").head(300)  # type: ignore[attr-defined]
    records = [
        {
            k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v)
            for k, v in row.items()
        }
        for row in X.to_dict("records")
    ]
    np.testing.assert_allclose(
        model.fast_probabilities(records), model.probabilities(X), rtol=0, atol=1e-12
    )
    for record, p in zip(records[:20], model.probabilities(X.head(20)), strict=True):
        assert model.predict_one(record).probability == pytest.approx(p, abs=1e-12)


def test_response_for_example_patient(predictor: tuple[Predictor, object]) -> None:
    model, _ = predictor
    record = patient_model().model_validate(example_patient())
    response = predict_record(model, record)
    assert response.risk_band == risk_band(response.probability)
    assert response.eligibility.eligible is True
    assert "blys" in response.imputed
    by_name = {c.predictor: c for c in response.contributions}
    assert by_name["blys"].log_odds == 0.0
    assert by_name["c3"].value == pytest.approx(72.0)  # given as 0.72 g/L
    assert response.model.version == "1"


def test_bad_batch_record_fails_only_itself(predictor: tuple[Predictor, object]) -> None:
    model, _ = predictor
    bad = predict_batch_item(
        model, 1, {**example_patient(), "c3": 85, "c3_unit": "g/L", "colour": "x"}
    )
    good = predict_batch_item(model, 0, example_patient())
    assert good.prediction is not None
    assert bad.prediction is None
    assert {p.field for p in bad.problems} == {"c3", "colour"}
