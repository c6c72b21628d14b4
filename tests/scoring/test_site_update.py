"""Known answers for the site update step: each method recovers the shift it models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import estimator_checks_generator

from scoring.bundle import TRUSTED_TYPES, dump_reviewed, load_reviewed
from scoring.site_update import SiteUpdate, fit_logistic

N = 20_000
#: A parent that answers for inputs of any shape (the prevalence), so scikit-learn's checks can
#: feed the update any data.
_ANY_SHAPE_PARENT = FrozenEstimator(
    DummyClassifier(strategy="prior").fit(np.zeros((4, 1)), [0, 1, 1, 0])
)
#: Recalibrating a parent that knows nothing cannot reach the accuracy
#: `check_classifiers_train` asks for; only revision re-estimates the effects themselves.
_CANNOT_LEARN = {"check_classifiers_train": "recalibrates an uninformative parent"}
BETA = np.array([0.8, -0.5, 0.3])


def _data(seed: int, intercept: float = 0.0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, len(BETA)))
    y = (rng.random(N) < expit(intercept + scale * (X @ BETA))).astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def parent() -> FrozenEstimator:
    """The true model itself (coefficients set, not estimated), so shifts are known exactly."""
    model = LogisticRegression()
    model.coef_, model.intercept_ = BETA[None, :].copy(), np.zeros(1)
    model.classes_, model.n_features_in_ = np.array([0, 1]), len(BETA)
    return FrozenEstimator(model)


def test_the_fit_is_statsmodels_maximum_likelihood_with_an_offset() -> None:
    X, y = _data(2)
    offset = 0.3 * X[:, 0]
    design = np.column_stack([np.ones(N), X[:, 1:]])
    ours = fit_logistic(design, y, offset=offset)
    reference = sm.GLM(y, design, family=sm.families.Binomial(), offset=offset).fit()
    assert ours.converged
    np.testing.assert_allclose(ours.coef, reference.params, atol=1e-8)
    assert ours.log_likelihood == pytest.approx(reference.llf, abs=1e-6)


def test_the_original_method_leaves_the_parent_unchanged(parent: FrozenEstimator) -> None:
    X, y = _data(3)
    update = SiteUpdate(parent, 0).fit(X, y)
    np.testing.assert_allclose(update.predict_proba(X), parent.predict_proba(X), atol=1e-12)


def test_recalibration_in_the_large_recovers_an_intercept_shift(parent: FrozenEstimator) -> None:
    X, y = _data(4, intercept=-0.6)
    update = SiteUpdate(parent, 1).fit(X, y)
    assert update.intercept_ == pytest.approx(-0.6, abs=0.06)
    assert update.slope_ == 1.0


def test_logistic_recalibration_recovers_a_slope(parent: FrozenEstimator) -> None:
    X, y = _data(5, intercept=0.4, scale=0.6)
    update = SiteUpdate(parent, 2).fit(X, y)
    assert update.slope_ == pytest.approx(0.6, abs=0.05)
    assert update.intercept_ == pytest.approx(0.4, abs=0.06)


def test_revision_is_shrunk_towards_the_parent(parent: FrozenEstimator) -> None:
    X, y = _data(6)
    revised = BETA + np.array([0.0, 0.5, 0.0])
    y = (np.random.default_rng(7).random(N) < expit(X @ revised)).astype(int)
    free = SiteUpdate(parent, 3, penalty=0.0).fit(X, y)
    shrunk = SiteUpdate(parent, 3, penalty=1e5).fit(X, y)
    # b and d share one direction without a penalty: compare the fitted log-odds instead.
    revised_lp = free.decision_function(X)
    assert np.corrcoef(revised_lp, X @ revised)[0, 1] > 0.999
    assert abs(shrunk.coef_[1]) < 0.1
    assert free.log_likelihood_ > shrunk.log_likelihood_


def test_clone_keeps_the_fitted_parent_and_skops_round_trips(
    parent: FrozenEstimator, tmp_path: Path
) -> None:
    X, y = _data(8, intercept=-0.3)
    update = SiteUpdate(parent, 1).fit(X, y)
    refitted = clone(update).fit(X, y)
    assert refitted.intercept_ == pytest.approx(update.intercept_)
    trusted = dump_reviewed(update, tmp_path / "update.skops", "the update")
    assert set(trusted) <= TRUSTED_TYPES
    loaded = load_reviewed(tmp_path / "update.skops", trusted, "the update")
    np.testing.assert_array_equal(loaded.predict_proba(X), update.predict_proba(X))
    assert float(loaded.decision_function(X[:1])[0]) == pytest.approx(
        float(logit(parent.predict_proba(X[:1])[0, 1]) + update.intercept_)
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"method": 4}, "method"), ({"penalty": -1.0}, "penalty"), ({"estimator": None}, "estimator")],
)
def test_bad_parameters_name_the_field(parent: FrozenEstimator, kwargs: dict, field: str) -> None:
    X, y = _data(9)
    with pytest.raises(ValueError, match=field):
        SiteUpdate(**{"estimator": parent, **kwargs}).fit(X, y)


def _contract_checks() -> list[Any]:
    """scikit-learn's estimator checks for each method, without the array-API check (SiteUpdate
    makes no array-API claim, and the check would only skip)."""
    cases = []
    for method in (0, 1, 2, 3):
        estimator = SiteUpdate(_ANY_SHAPE_PARENT, method, 1.0)
        expected = _CANNOT_LEARN if method < 3 else {}
        for case in estimator_checks_generator(
            estimator, expected_failed_checks=expected, mark="xfail"
        ):
            check = case.values[1] if hasattr(case, "values") else case[1]
            if "array_api" not in getattr(check, "func", check).__name__:
                cases.append(case)
    return cases


def _case_id(value: Any) -> str:
    if isinstance(value, SiteUpdate):
        return f"method{value.method}"
    function = getattr(value, "func", value)
    keywords = ",".join(f"{k}={v}" for k, v in getattr(value, "keywords", {}).items())
    return f"{function.__name__}({keywords})" if keywords else function.__name__


@pytest.mark.parametrize(("estimator", "check"), _contract_checks(), ids=_case_id)
def test_the_estimator_contract(estimator: SiteUpdate, check: Callable[[SiteUpdate], None]) -> None:
    check(estimator)
