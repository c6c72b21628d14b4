"""The service's single-patient path agrees with the logged pipeline itself."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.schema import canonical_values, patient_model
from serving import predictor as predictor_module
from serving.predictor import IntervalEstimator, ModelIdentity, Predictor, risk_band
from serving.respond import predict_batch, predict_record
from serving.schemas import example_patient
from training.candidates import build_pipeline, with_recalibration
from training.config import Candidate, load_config
from training.data import load_cohort


@pytest.fixture(
    scope="module", params=["logistic_spline", "xgboost", "xgboost recalibrated (sigmoid)"]
)
def predictor(request: pytest.FixtureRequest, development_cohort: Path) -> tuple[Predictor, object]:
    cohort = load_cohort(development_cohort, eligible_only=True)
    kind, _, recalibrated = request.param.partition(" ")
    candidate = Candidate(name="m", kind=kind, feature_set="extended")
    pipeline = build_pipeline(candidate, load_config().seed)
    if recalibrated:
        pipeline = with_recalibration(pipeline, "sigmoid", cv_folds=3)
    pipeline.fit(cohort.inputs("extended"), cohort.y)
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


def test_the_array_path_warns_about_nothing_and_leaves_warning_filters_alone(
    predictor: tuple[Predictor, object],
) -> None:
    model, cohort = predictor
    X = cohort.inputs("extended").head(30)  # type: ignore[attr-defined]
    derived = model.features.transform(X).to_numpy(dtype=float)
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = Predictor(model.pipeline, model.identity)
        explained = again.explain(derived)
    assert warnings.filters == filters
    assert explained.contributions is not None
    assert np.isfinite(explained.contributions).all()
    # The logged pipeline itself keeps the names it was fitted with.
    assert list(model.pipeline[-1].feature_names_in_) == list(
        model.pipeline[:-1].get_feature_names_out()
    )


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
    bad_record = {**example_patient(), "c3": 85, "c3_unit": "g/L", "colour": "x"}
    older = {**example_patient(), "age": 64.0}
    good, bad, other = predict_batch(model, [example_patient(), bad_record, older])
    assert [item.index for item in (good, bad, other)] == [0, 1, 2]
    assert bad.prediction is None
    assert {p.field for p in bad.problems} == {"c3", "colour"}
    for item, record in ((good, example_patient()), (other, older)):
        assert item.problems == []
        assert item.prediction == predict_record(model, patient_model().model_validate(record))


def test_explaining_many_rows_equals_one_patient_at_a_time(
    predictor: tuple[Predictor, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, cohort = predictor
    X = cohort.inputs("extended").head(40)  # type: ignore[attr-defined]
    X.loc[X.index[0], "blys"] = np.nan
    X.loc[X.index[1], "sledai_2k"] = model.medians[model.model_inputs.index("sledai_2k")]
    derived = model.features.transform(X).to_numpy(dtype=float, na_value=np.nan)
    monkeypatch.setattr(predictor_module, "EXPLAIN_BLOCK_ROWS", 7)  # several blocks
    many = model.explain(derived)
    assert many.contributions is not None
    assert many.contributions[0, model.model_inputs.index("blys")] == 0.0  # imputed
    assert many.contributions[1, model.model_inputs.index("sledai_2k")] == 0.0  # at the median
    lean = model.explain(derived, contributions=False)
    assert lean.contributions is None
    np.testing.assert_array_equal(lean.probability, many.probability)
    for position, record in enumerate(X.to_dict("records")):
        one = model.predict_one({k: None if pd.isna(v) else v for k, v in record.items()})
        assert one.probability == pytest.approx(many.probability[position], abs=1e-12)
        np.testing.assert_allclose(
            list(one.contributions.values()), many.contributions[position], rtol=0, atol=1e-12
        )


def test_explain_of_no_rows_is_empty(predictor: tuple[Predictor, object]) -> None:
    model, _ = predictor
    empty = model.explain(np.empty((0, len(model.model_inputs))))
    assert empty.probability.shape == (0,)
    assert empty.contributions is not None
    assert empty.contributions.shape == (0, len(model.model_inputs))


def test_contributions_equal_moving_each_input_to_its_median_through_the_pipeline(
    predictor: tuple[Predictor, object],
) -> None:
    """Occlusion computed the slow, obvious way: the logged steps on a named DataFrame."""
    model, cohort = predictor
    X = cohort.inputs("extended").head(25)  # type: ignore[attr-defined]
    derived = model.features.transform(X)
    after_features = model.pipeline[1:]
    original = after_features.predict_proba(derived)[:, 1]
    explained = model.explain(derived.to_numpy(dtype=float)).contributions
    assert explained is not None
    for j, name in enumerate(model.model_inputs):
        moved = derived.copy()
        given = moved[name].notna()
        moved.loc[given, name] = model.medians[j]
        occluded = after_features.predict_proba(moved)[:, 1]
        expected = np.where(given, _logit(original) - _logit(occluded), 0.0)
        np.testing.assert_allclose(explained[:, j], expected, atol=1e-6, err_msg=name)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, predictor_module.CLIP, 1 - predictor_module.CLIP)
    return np.log(p / (1 - p))


def test_an_interval_from_identical_refits_is_the_probability_itself(
    predictor: tuple[Predictor, object],
) -> None:
    model, _ = predictor
    record = canonical_values(patient_model().model_validate(example_patient()))
    estimator = IntervalEstimator([model.pipeline] * 5, model.identity)
    lower, upper = estimator.interval(record)
    assert lower == upper == model.predict_one(record).probability
