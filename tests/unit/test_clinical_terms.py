"""ClinicalTerms: SLEDAI-2K split into clinical activity and serological activity (BLISS
definitions), on DataFrames and plain arrays alike; hand-computed cases and boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from features.pipeline import (
    CLINICAL_SLEDAI,
    CORE_FEATURES,
    EXTENDED_FEATURES,
    SEROLOGY_ACTIVE,
    ClinicalTerms,
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
