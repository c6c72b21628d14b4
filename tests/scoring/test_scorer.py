"""The one scoring function: probabilities from the logged pipeline itself, contributions by
occlusion, imputation, bands and eligibility, for one record or many."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from features.columns import frame_of, from_frame, from_records
from features.pipeline import MissingPredictorsError
from features.schema import canonical_values, patient_model
from infra.store import ModelIdentity
from scoring import scorer as scorer_module
from scoring.scorer import CLIP, RISK_BANDS, Scorer, bands, shown
from serving.http.schemas import example_patient
from tests.scoring.conftest import Fitted

#: Agreement required between the same record scored in calls of different sizes (probability
#: and log-odds): XGBoost sums its trees in 32-bit floats and may order the sums differently for
#: another number of rows, which moves a log-odds by up to about 1e-7.
ROW_TOLERANCE = 1e-6


def test_probabilities_are_the_logged_pipelines_own(fitted: Fitted) -> None:
    X = fitted.inputs.head(300)
    scores = fitted.scorer.score(from_frame(X), contributions=False)
    expected = np.clip(fitted.scorer.pipeline.predict_proba(X)[:, 1], CLIP, 1 - CLIP)
    np.testing.assert_allclose(scores.probability, expected, rtol=0, atol=ROW_TOLERANCE)
    assert scores.contributions is None


def test_one_record_is_scored_as_it_is_among_many(
    fitted: Fitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    X = fitted.inputs.head(40).copy()
    X.loc[X.index[0], "blys"] = np.nan
    monkeypatch.setattr(scorer_module, "EXPLAIN_BLOCK_ROWS", 7)  # several blocks
    many = fitted.scorer.score(from_frame(X))
    assert many.contributions is not None
    for position, record in enumerate(X.to_dict("records")):
        values = {k: None if pd.isna(v) else v for k, v in record.items()}
        one = fitted.scorer.score(from_records([values]))
        assert one.contributions is not None
        assert one.probability[0] == pytest.approx(many.probability[position], abs=ROW_TOLERANCE)
        np.testing.assert_allclose(
            one.contributions[0], many.contributions[position], rtol=0, atol=ROW_TOLERANCE
        )


def test_contributions_equal_moving_each_input_to_its_median_through_the_pipeline(
    fitted: Fitted,
) -> None:
    """Occlusion computed the slow, obvious way: each predictor set to its development median
    in the record itself, through the whole pipeline on a DataFrame."""
    scorer = fitted.scorer
    X = fitted.inputs.head(25).reset_index(drop=True)
    explained = scorer.score(from_frame(X)).contributions
    assert explained is not None
    original = logit(np.clip(scorer.pipeline.predict_proba(X)[:, 1], CLIP, 1 - CLIP))
    derived = scorer.derive(from_frame(X))
    for j, name in enumerate(scorer.model_inputs):
        moved = derived.copy()
        given = ~np.isnan(moved[:, j])
        moved[given, j] = scorer.medians[j]
        occluded = logit(np.clip(scorer.probabilities(moved), CLIP, 1 - CLIP))
        expected = np.where(given, original - occluded, 0.0)
        np.testing.assert_allclose(
            explained[:, j], expected, rtol=0, atol=ROW_TOLERANCE, err_msg=name
        )


def test_an_imputed_input_or_one_at_the_median_contributes_nothing(fitted: Fitted) -> None:
    scorer = fitted.scorer
    X = fitted.inputs.head(3).copy()
    X.loc[X.index[0], "blys"] = np.nan
    sledai = scorer.model_inputs.index("sledai_2k")
    X.loc[X.index[1], "sledai_2k"] = scorer.medians[sledai]
    scores = scorer.score(from_frame(X))
    assert scores.contributions is not None
    assert scores.contributions[0, scorer.model_inputs.index("blys")] == 0.0
    assert scores.contributions[1, sledai] == 0.0
    assert scores.imputed[0, scorer.fields.index("blys")]
    assert not scores.imputed[1].any()


def test_scoring_warns_about_nothing_and_leaves_the_pipeline_as_fitted(fitted: Fitted) -> None:
    X = fitted.inputs.head(30)
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Scorer(fitted.scorer.pipeline, fitted.scorer.identity).score(from_frame(X))
    assert warnings.filters == filters
    # No step after the feature step was fitted on named columns.
    for _, step in fitted.scorer.pipeline.steps[1:]:
        assert not hasattr(step, "feature_names_in_")


def test_no_records_give_empty_answers(fitted: Fitted) -> None:
    empty = fitted.scorer.score(from_records([]))
    assert empty.probability.shape == (0,)
    assert empty.contributions is not None
    assert empty.contributions.shape == (0, len(fitted.scorer.model_inputs))
    assert len(empty) == 0


def test_a_missing_required_predictor_is_refused_not_guessed(fitted: Fitted) -> None:
    values = canonical_values(patient_model().model_validate(example_patient()))
    with pytest.raises(MissingPredictorsError, match="c3"):
        fitted.scorer.score(from_records([{**values, "c3": None}]))


def test_the_example_patient_is_screened_and_banded(fitted: Fitted) -> None:
    values = canonical_values(patient_model().model_validate(example_patient()))
    scores = fitted.scorer.score(from_records([values, {**values, "igg": 350.0}]))
    assert scores.screening.eligible.tolist() == [True, False]
    assert scores.screening.reasons(1) == ("IgG below 400 mg/dL",)
    assert scores.band.tolist() == bands(scores.probability).tolist()
    assert fitted.scorer.fields.index("blys") in np.flatnonzero(scores.imputed[0])


@pytest.mark.parametrize(
    ("probability", "band"),
    [
        (0.0, "low"),
        (0.3499, "low"),
        (0.35, "intermediate"),
        (0.6499, "intermediate"),
        (0.65, "high"),
        (1.0, "high"),
    ],
)
def test_bands_change_exactly_at_their_limits(probability: float, band: str) -> None:
    assert bands(np.array([probability])).tolist() == [band]
    assert [upper for upper, _ in RISK_BANDS][:2] == [0.35, 0.65]


def test_shown_values_are_rounded_to_six_decimals() -> None:
    np.testing.assert_array_equal(
        shown(np.array([0.1234564, 0.1234566, -0.0000004])), [0.123456, 0.123457, -0.0]
    )


def test_only_an_mrbs_pipeline_is_accepted(fitted: Fitted) -> None:
    identity = ModelIdentity(name="m", version="1")
    with pytest.raises(TypeError, match="first step is not BaselineFeatures"):
        Scorer(fitted.scorer.pipeline[1:], identity)
    steps = fitted.scorer.pipeline.steps
    from sklearn.pipeline import Pipeline

    with pytest.raises(TypeError, match="not followed by impute"):
        Scorer(Pipeline([steps[0], steps[2], steps[-1]]), identity)


def test_frames_of_columns_are_what_the_pipeline_takes(fitted: Fitted) -> None:
    X = fitted.inputs.head(5)
    rebuilt = frame_of(from_frame(X), fitted.scorer.fields)
    np.testing.assert_array_equal(
        fitted.scorer.pipeline.predict_proba(rebuilt), fitted.scorer.pipeline.predict_proba(X)
    )
