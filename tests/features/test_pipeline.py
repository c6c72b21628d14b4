"""The feature steps of every MRBS pipeline: derivation of the model inputs, median imputation,
and SLEDAI-2K split into clinical and serological activity (BLISS definitions). Hand-computed
cases, boundaries and the scikit-learn estimator contract.

scikit-learn's estimator checks run on `MedianImputer`. They generate inputs of arbitrary
width, which `ClinicalTerms` (exactly its feature set's inputs) and `BaselineFeatures` (named
record fields) rightly refuse; their contract is checked here one rule at a time instead.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from features.columns import from_records
from features.pipeline import (
    CLINICAL_SLEDAI,
    CORE_FEATURES,
    EXTENDED_FEATURES,
    SEROLOGY_ACTIVE,
    BaselineFeatures,
    ClinicalTerms,
    MedianImputer,
    MissingPredictorsError,
    input_fields,
    model_terms,
)


def _core(rows: list[tuple[float, float, float, float, float]]) -> pd.DataFrame:
    """Core model inputs: sledai_2k, c3 (mg/dL), c4 (mg/dL), igg (mg/dL), log anti-dsDNA xULN."""
    return pd.DataFrame(rows, columns=list(CORE_FEATURES))


@pytest.mark.parametrize(
    ("row", "clinical", "serology"),
    [
        # Low C3 and anti-dsDNA twice the cut-off: both items, 4 points off the total.
        ((10, 80.0, 20.0, 1200.0, np.log(2.0)), 6, 1),
        # Normal complement, anti-dsDNA positive: 2 points off, not serologically active.
        ((10, 95.0, 20.0, 1200.0, np.log(2.0)), 8, 0),
        # Low C4 only, anti-dsDNA negative: 2 points off.
        ((10, 95.0, 12.0, 1200.0, np.log(0.5)), 8, 0),
        # Neither item: the total is all clinical.
        ((10, 95.0, 20.0, 1200.0, np.log(0.5)), 10, 0),
        # A total below the serology points (scored with other limits) stays at 0.
        ((2, 80.0, 12.0, 1200.0, np.log(3.0)), 0, 1),
        # Boundaries: C3 = 90 and C4 = 16 are not low; anti-dsDNA at the cut-off is positive.
        ((12, 90.0, 16.0, 1200.0, 0.0), 10, 0),
        ((12, 89.0, 16.0, 1200.0, 0.0), 8, 1),
        ((12, 90.0, 15.0, 1200.0, -0.01), 10, 0),
    ],
)
def test_clinical_sledai_and_serology_by_hand(
    row: tuple[float, float, float, float, float], clinical: float, serology: float
) -> None:
    out = ClinicalTerms("core").set_output(transform="pandas").fit_transform(_core([row]))
    terms = [CLINICAL_SLEDAI, "c3", "c4", "igg", "log_anti_dsdna_xuln", SEROLOGY_ACTIVE]
    assert list(out.columns) == terms
    assert out[CLINICAL_SLEDAI].iloc[0] == clinical
    assert out[SEROLOGY_ACTIVE].iloc[0] == serology
    pd.testing.assert_series_equal(out["c3"], _core([row])["c3"].astype(float), check_names=False)


def test_arrays_and_frames_give_the_same_terms() -> None:
    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame(
        rng.uniform(0, 1, size=(n, len(EXTENDED_FEATURES))), columns=EXTENDED_FEATURES
    )
    frame["sledai_2k"] = rng.integers(6, 25, size=n).astype(float)
    frame["c3"] = rng.uniform(40, 160, size=n)
    frame["c4"] = rng.uniform(4, 40, size=n)
    frame["log_anti_dsdna_xuln"] = rng.normal(0, 1, size=n)
    terms = ClinicalTerms("extended").set_output(transform="pandas").fit(frame)
    as_frame = terms.transform(frame)
    assert tuple(as_frame.columns) == model_terms("extended")
    values = frame.to_numpy()
    as_array = clone(terms).set_output(transform="default").fit(values).transform(values)
    np.testing.assert_array_equal(as_array, as_frame.to_numpy())
    assert tuple(terms.get_feature_names_out()) == model_terms("extended")


def test_estimator_contract() -> None:
    terms = ClinicalTerms("core")
    assert terms.get_params() == {"feature_set": "core"}
    with pytest.raises(NotFittedError):
        terms.transform(_core([(10, 80.0, 20.0, 1200.0, 0.5)]))
    fitted = terms.fit(_core([(10, 80.0, 20.0, 1200.0, 0.5)]))
    assert fitted is terms
    assert terms.n_features_in_ == len(CORE_FEATURES)


def test_wrong_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="needs the 5 model inputs"):
        ClinicalTerms("core").fit(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="feature_set: 'all' is not one of"):
        ClinicalTerms("all").fit(np.zeros((3, 5)))


def test_terms_of_a_float_array_equal_those_of_validated_input() -> None:
    values = _core([(10, 80.0, 20.0, 1200.0, 0.5), (4, 95.0, 8.0, 900.0, -1.0)]).to_numpy()
    terms = ClinicalTerms("core").fit(values)
    np.testing.assert_array_equal(terms.transform(values), terms.transform(values.tolist()))
    with pytest.raises(ValueError, match=r"infinity|inf"):
        terms.transform(np.where(values == 0.5, np.inf, values))


def test_clinical_terms_keep_the_estimator_contract() -> None:
    rows = _core([(10, 80.0, 20.0, 1200.0, 0.5), (4, 95.0, 8.0, 900.0, -1.0)]).to_numpy()
    terms = ClinicalTerms("core")
    assert clone(terms).get_params() == terms.get_params()
    fitted = terms.fit(rows)
    once = fitted.transform(rows)
    np.testing.assert_array_equal(clone(terms).fit(rows).fit(rows).transform(rows), once)
    np.testing.assert_array_equal(fitted.transform(rows[::-1]), once[::-1])  # row order
    np.testing.assert_array_equal(
        rows, _core([(10, 80.0, 20.0, 1200.0, 0.5), (4, 95.0, 8.0, 900.0, -1.0)]).to_numpy()
    )
    with pytest.raises(ValueError, match=r"has 4 features|expecting 5"):
        fitted.transform(rows[:, :4])


#: The one check that does not apply: MRBS runs on numpy arrays only, and the check needs
#: scipy's array-API mode (SCIPY_ARRAY_API), which no MRBS process switches on.
NOT_APPLICABLE: Final = frozenset({"check_array_api_input"})


def test_median_imputer_passes_scikit_learns_checks() -> None:
    results = check_estimator(MedianImputer(), on_fail=None, on_skip=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert not failed
    assert skipped <= NOT_APPLICABLE
    assert len(results) > 40


def test_median_imputer_fills_missing_values_with_each_columns_median() -> None:
    X = np.array(
        [[1.0, np.nan, 5.0], [3.0, np.nan, np.nan], [2.0, np.nan, 7.0], [10.0, np.nan, 6.0]]
    )
    imputer = MedianImputer().fit(X)
    # Medians over known values: (2+3)/2; a column with none gets 0; (5, 6, 7) -> 6.
    np.testing.assert_array_equal(imputer.statistics_, [2.5, 0.0, 6.0])
    filled = imputer.transform(np.array([[np.nan, np.nan, np.nan], [4.0, 1.0, np.nan]]))
    np.testing.assert_array_equal(filled, [[2.5, 0.0, 6.0], [4.0, 1.0, 6.0]])
    assert np.isnan(X).sum() == 5  # the input is never changed


def _records(**changes: object) -> pd.DataFrame:
    base = {
        "sledai_2k": 10.0,
        "c3": 80.0,
        "c4": 12.0,
        "igg": 1300.0,
        "anti_dsdna": 60.0,
        "anti_dsdna_cutoff": 30.0,
    }
    return pd.DataFrame([{**base, **changes}])


@pytest.mark.parametrize(
    ("anti_dsdna", "cutoff", "expected"),
    [
        (60.0, 30.0, np.log(2.0)),  # twice the cut-off
        (30.0, 30.0, 0.0),  # at the cut-off
        (15.0, 30.0, np.log(0.5)),
        (0.3, 30.0, np.log(0.01)),  # 1 % of the cut-off: the floor itself
        (0.2, 30.0, np.log(0.01)),  # below it: read as 1 %
        (0.0, 10.0, np.log(0.01)),  # none detected
    ],
)
def test_anti_dsdna_enters_as_the_log_of_its_multiple_of_the_cutoff_floored_at_1_percent(
    anti_dsdna: float, cutoff: float, expected: float
) -> None:
    frame = _records(anti_dsdna=anti_dsdna, anti_dsdna_cutoff=cutoff)
    derived = BaselineFeatures("core").fit(frame).transform(frame)
    assert derived[0, CORE_FEATURES.index("log_anti_dsdna_xuln")] == pytest.approx(expected)


@pytest.mark.parametrize(("sex", "male"), [("M", 1.0), ("F", 0.0), (None, np.nan)])
def test_sex_becomes_a_male_indicator_missing_when_unknown(sex: str | None, male: float) -> None:
    frame = _records(sex=sex)
    for name in input_fields("extended"):
        frame[name] = frame.get(name, np.nan)
    frame["sex"] = pd.Series([sex], dtype=object)
    derived = BaselineFeatures("extended").fit(frame).transform(frame)
    np.testing.assert_array_equal(derived[:, EXTENDED_FEATURES.index("male")], [male])


def test_missing_required_predictors_are_all_named() -> None:
    frame = _records(c3=np.nan, igg=np.nan)
    features = BaselineFeatures("core").fit(_records())
    with pytest.raises(MissingPredictorsError, match=r"required predictor.*c3, igg"):
        features.transform(frame)
    with pytest.raises(MissingPredictorsError, match=r"missing predictor column.*c4, igg"):
        features.transform(_records().drop(columns=["c4", "igg"]))
    with pytest.raises(TypeError, match="needs a DataFrame"):
        BaselineFeatures("core").fit(_records().to_numpy())


def test_optional_predictors_may_be_missing_and_stay_missing() -> None:
    frame = _records()
    for name in input_fields("extended"):
        frame[name] = frame.get(name, np.nan)
    derived = BaselineFeatures("extended").fit(frame).transform(frame)
    assert np.isnan(derived[0, EXTENDED_FEATURES.index("blys")])
    assert not np.isnan(derived[0, : len(CORE_FEATURES)]).any()


def test_derivation_from_records_equals_derivation_from_a_table() -> None:
    frame = pd.concat([_records(), _records(anti_dsdna=3.0, c3=120.0)], ignore_index=True)
    features = BaselineFeatures("core").fit(frame)
    records = frame.to_dict("records")
    np.testing.assert_array_equal(
        features.derive(from_records(records, input_fields("core"))), features.transform(frame)
    )


def test_baseline_features_keep_the_estimator_contract() -> None:
    features = BaselineFeatures("extended")
    assert features.get_params() == {"feature_set": "extended"}
    with pytest.raises(NotFittedError):
        features.transform(_records())
    frame = _records()
    for name in input_fields("extended"):
        frame[name] = frame.get(name, np.nan)
    assert features.fit(frame) is features
    assert list(features.feature_names_in_) == list(input_fields("extended"))
    assert tuple(features.get_feature_names_out()) == EXTENDED_FEATURES
    with pytest.raises(ValueError, match="feature_set: 'all' is not one of"):
        BaselineFeatures("all").fit(frame)  # type: ignore[arg-type]
