"""A model updated at a new site: the parent's fitted classifier and the site's update of it.

A prediction model taken to another hospital is usually miscalibrated there, and is updated as
little as the local data support (Steyerberg, Clinical Prediction Models, 2nd ed. 2019, ch. 20;
Vergouwe et al., Stat Med 2017;36:4529-4539). With LP the parent's linear predictor (log-odds)
and x the inputs its classifier sees, the updated log-odds are:

| method | name | updated log-odds | parameters fitted on local data |
|---|---|---|---|
| 0 | original | LP | none |
| 1 | recalibration in the large | a + LP (LP as offset) | a |
| 2 | logistic recalibration | a + b LP | a, b |
| 3 | revision | a + b LP + x'd, ridge penalty on d | a, b and one d per input |

Revision keeps the parent's coefficients, rescaled by b, and re-estimates a deviation d from
them, shrunk towards 0 by a ridge penalty: with little evidence the revised model stays close to
the logistically recalibrated parent (shrinking towards the parent itself would keep the too
extreme coefficients a slope below 1 asks to temper). The inputs are the classifier's own (for
the spline logistic family the standardised spline encoding), so d adjusts each coefficient on
the scale it was fitted on. When LP is a linear function of x (a logistic parent), unpenalised
revision is the same model as a full refit of the intercept and every coefficient: p + 1 free
parameters, b and d sharing one direction (the Newton steps take the minimum-norm solution).

`SiteUpdate` is the last step of an updated pipeline, so the updated model is still one MRBS
pipeline (feature derivation, imputation, encoding, classifier) and every way MRBS answers
(`/predict`, `mrbs score`, Spark, the MLflow pyfunc) runs it unchanged. Its ``estimator`` is the
parent's fitted classifier inside `sklearn.frozen.FrozenEstimator`: fitting the update never
refits the parent, and `sklearn.base.clone` keeps the fitted parent.

`fit_logistic` is the one maximum-likelihood fit behind all methods (Newton-Raphson with an
optional ridge penalty); the closed testing procedure (`training.updating`) reads the
log-likelihood each fit reaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

ORIGINAL: Final = 0
RECALIBRATION_IN_THE_LARGE: Final = 1
LOGISTIC_RECALIBRATION: Final = 2
REVISION: Final = 3
METHOD_NAMES: Final = {
    ORIGINAL: "original",
    RECALIBRATION_IN_THE_LARGE: "recalibration in the large",
    LOGISTIC_RECALIBRATION: "logistic recalibration",
    REVISION: "revision",
}
#: Probabilities are clipped to [CLIP, 1 - CLIP] before the logit, so LP stays finite.
CLIP: Final = 1e-9
MAX_ITERATIONS: Final = 100
TOLERANCE: Final = 1e-10

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic model: coefficients, its (unpenalised) log-likelihood, convergence."""

    coef: FloatArray
    log_likelihood: float
    converged: bool


def log_likelihood(y: npt.ArrayLike, eta: npt.ArrayLike) -> float:
    """Bernoulli log-likelihood sum y eta - log(1 + exp(eta)) of log-odds ``eta``."""
    y_arr = np.asarray(y, dtype=float)
    eta_arr = np.asarray(eta, dtype=float)
    return float(np.sum(y_arr * eta_arr - np.logaddexp(0.0, eta_arr)))


def fit_logistic(
    design: FloatArray,
    y: npt.ArrayLike,
    *,
    offset: FloatArray | None = None,
    penalty: FloatArray | None = None,
) -> LogisticFit:
    """Maximum-likelihood logistic regression of y on ``design`` (no intercept added), with an
    optional offset and a ridge penalty (1/2) sum penalty_j coef_j^2 (0 leaves a column free).

    Newton-Raphson with step halving, from 0. The log-likelihood returned is the unpenalised
    one of the fitted coefficients. `converged` is False when the steps did not settle (e.g. a
    design that separates the outcomes without a penalty: the estimates run off to infinity).
    """
    X = np.asarray(design, dtype=float)
    y_arr = np.asarray(y, dtype=float)
    n, k = X.shape
    base = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    ridge = np.zeros(k) if penalty is None else np.asarray(penalty, dtype=float)
    coef = np.zeros(k)

    def objective(b: FloatArray) -> float:
        return log_likelihood(y_arr, base + X @ b) - 0.5 * float(np.sum(ridge * b**2))

    current = objective(coef)
    converged = False
    for _ in range(MAX_ITERATIONS):
        p = expit(base + X @ coef)
        gradient = X.T @ (y_arr - p) - ridge * coef
        hessian = (X * (p * (1.0 - p))[:, None]).T @ X + np.diag(ridge)
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        scale = 1.0
        while scale > 1e-8:
            trial = coef + scale * step
            value = objective(trial)
            if value >= current - 1e-12:
                break
            scale /= 2.0
        coef, previous, current = trial, current, value
        if float(np.max(np.abs(scale * step))) < TOLERANCE or abs(current - previous) < 1e-12:
            converged = bool(np.all(np.isfinite(coef)))
            break
    return LogisticFit(coef, log_likelihood(y_arr, base + X @ coef), converged)


def linear_predictor(estimator: Any, X: Any) -> FloatArray:
    """The log-odds of a fitted classifier's predicted probability of class 1 (clipped)."""
    p = np.asarray(estimator.predict_proba(X)[:, 1], dtype=float)
    return np.asarray(logit(np.clip(p, CLIP, 1.0 - CLIP)), dtype=float)


class SiteUpdate(ClassifierMixin, BaseEstimator):
    """The parent's fitted classifier updated on a site's data by one of the methods above.

    Parameters
    ----------
    estimator:
        The parent's fitted classifier, best inside `sklearn.frozen.FrozenEstimator` (then
        `clone` keeps it fitted). It is never refitted.
    method:
        0 original, 1 recalibration in the large, 2 logistic recalibration, 3 revision.
    penalty:
        Ridge penalty on the revision's deviations d (method 3 only); 0 is plain maximum
        likelihood.

    Learned: ``intercept_`` (a), ``slope_`` (b; 1 for methods 0 and 1), ``coef_`` (d; zeros
    unless method 3), ``log_likelihood_`` on the data it was fitted on, ``converged_``.
    """

    def __init__(self, estimator: Any = None, method: int = ORIGINAL, penalty: float = 0.0) -> None:
        self.estimator = estimator
        self.method = method
        self.penalty = penalty

    def _check_params(self) -> None:
        if self.estimator is None:
            raise ValueError("estimator: the parent's fitted classifier is required")
        if self.method not in METHOD_NAMES:
            raise ValueError(f"method: {self.method!r} is not one of 0, 1, 2, 3")
        if not (isinstance(self.penalty, int | float) and math.isfinite(self.penalty)) or (
            self.penalty < 0
        ):
            raise ValueError(f"penalty: {self.penalty!r} is not a finite number >= 0")

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: npt.ArrayLike) -> SiteUpdate:
        self._check_params()
        design, labels = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(labels)
        kind = type_of_target(labels, input_name="y", raise_unknown=True)
        if kind != "binary":
            raise ValueError(
                "y: Only binary classification is supported. The type of the target is "
                f"{kind}; an update needs responders and non-responders."
            )
        self.classes_, encoded = np.unique(labels, return_inverse=True)
        y_arr = encoded.astype(np.int64)
        lp = linear_predictor(self.estimator, design)
        n, k = design.shape
        self.intercept_, self.slope_, self.coef_ = 0.0, 1.0, np.zeros(k)
        ones = np.ones((n, 1))
        if self.method == ORIGINAL:
            fit = LogisticFit(np.zeros(0), log_likelihood(y_arr, lp), True)
        elif self.method == RECALIBRATION_IN_THE_LARGE:
            fit = fit_logistic(ones, y_arr, offset=lp)
            self.intercept_ = float(fit.coef[0])
        elif self.method == LOGISTIC_RECALIBRATION:
            fit = fit_logistic(np.column_stack([ones, lp]), y_arr)
            self.intercept_, self.slope_ = float(fit.coef[0]), float(fit.coef[1])
        else:
            ridge = np.r_[0.0, 0.0, np.full(k, float(self.penalty))]
            fit = fit_logistic(np.column_stack([ones, lp, design]), y_arr, penalty=ridge)
            self.intercept_, self.slope_ = float(fit.coef[0]), float(fit.coef[1])
            self.coef_ = np.asarray(fit.coef[2:], dtype=float)
        self.log_likelihood_ = fit.log_likelihood
        self.converged_ = fit.converged
        return self

    def decision_function(self, X: Any) -> FloatArray:
        """The updated log-odds of response."""
        check_is_fitted(self, "log_likelihood_")
        design = validate_data(self, X, reset=False, dtype=np.float64)
        lp = linear_predictor(self.estimator, design)
        return np.asarray(self.intercept_ + self.slope_ * lp + design @ self.coef_, dtype=float)

    def predict_proba(self, X: Any) -> FloatArray:
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> npt.NDArray[Any]:
        positive = self.decision_function(X) > 0
        return np.asarray(self.classes_[positive.astype(np.int64)])
