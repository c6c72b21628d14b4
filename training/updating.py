"""Choosing how much to update a model at a new site: the closed testing procedure.

Vergouwe Y, Nieboer D, Oostenbrink R, et al. A closed testing procedure to select an
appropriate method for updating prediction models. Stat Med 2017;36:4529-4539
(doi 10.1002/sim.7179); Steyerberg, Clinical Prediction Models, 2nd ed. 2019, ch. 20.

The candidate updates (`scoring.site_update`) are nested: 0 original (no parameter) within
1 recalibration in the large (intercept) within 2 logistic recalibration (intercept and slope)
within 3 revision (intercept and one deviation per classifier input: p + 1 parameters). Each is
fitted by maximum likelihood on the local cohort and compared by likelihood-ratio tests
(2 (lnL_more - lnL_less) against chi-square with the difference in parameters as degrees of
freedom), each at the same level alpha. The sequence of the paper:

1. test revision against the original model; not significant: keep the original (method 0);
2. otherwise test revision against recalibration in the large; not significant: method 1;
3. otherwise test revision against logistic recalibration; not significant: method 2;
4. otherwise revise (method 3).

A method is only chosen once the most extensive update was shown to be better than every less
extensive one before it, so the chance of updating a model that needs no update stays near
alpha. The likelihood of the revision in the tests is the unpenalised maximum-likelihood one,
as in the paper; the revision actually applied, when chosen, is shrunk towards the logistically
recalibrated parent by a ridge penalty chosen by cross-validated log-likelihood on the local
cohort.

Revision is available where it is defined: when the parent's linear predictor is a linear
function of the inputs its classifier sees (the logistic family: then every lower method is
nested in it). For other parents (tree ensembles, isotonic or cross-fitted recalibration) the
procedure runs the same way with logistic recalibration as the most extensive update (steps 1
and 2 test it against methods 0 and 1); re-estimating a tree ensemble is a new development and
is offered only when the local cohort reaches the Riley minimum sample size for the parent's
parameters, with `mrbs train` on the local cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import chi2
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from scoring.site_update import (
    LOGISTIC_RECALIBRATION,
    METHOD_NAMES,
    ORIGINAL,
    RECALIBRATION_IN_THE_LARGE,
    REVISION,
    SiteUpdate,
    linear_predictor,
    log_likelihood,
)
from training.candidates import parameter_count
from training.config import TrainingConfig
from training.fit import folds
from training.sample_size import minimum_sample_size

#: Largest residual (in log-odds) of the parent's linear predictor regressed on its classifier's
#: inputs for the parent to count as a logistic model of them.
LINEARITY_TOLERANCE: Final = 1e-6


@dataclass(frozen=True)
class Step:
    """One likelihood-ratio test of the procedure: ``more`` (the more extensive update)
    against ``less``."""

    more: int
    less: int
    statistic: float
    df: int
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def describe(self) -> str:
        verdict = "significant" if self.significant else "not significant"
        return (
            f"{METHOD_NAMES[self.more]} ({self.more}) vs {METHOD_NAMES[self.less]} "
            f"({self.less}): LR {self.statistic:.2f} on {self.df} df, p = {self.p_value:.4f}, "
            f"{verdict} at alpha {self.alpha:g}"
        )


@dataclass(frozen=True)
class ClosedTest:
    """The result of the procedure: every test in order, the method chosen and its fit.

    ``fits`` holds each method's maximum-likelihood fit (the revision unpenalised); ``chosen_fit``
    is the update applied: the chosen method's fit, or for revision the penalised one.
    """

    steps: list[Step]
    chosen: int
    chosen_fit: SiteUpdate
    fits: dict[int, SiteUpdate]
    n: int
    events: int
    alpha: float
    notes: list[str] = field(default_factory=list)

    @property
    def method_name(self) -> str:
        return METHOD_NAMES[self.chosen]

    def parameters(self, method: int) -> int:
        """Parameters the method estimates on the local cohort."""
        return n_parameters(method, int(self.fits[ORIGINAL].n_features_in_))

    def table(self) -> pd.DataFrame:
        """One row per method fitted: parameters, log-likelihood, intercept and slope."""
        rows = []
        for method, fit in sorted(self.fits.items()):
            rows.append(
                {
                    "method": method,
                    "name": METHOD_NAMES[method],
                    "parameters": self.parameters(method),
                    "log_likelihood": fit.log_likelihood_,
                    "intercept": fit.intercept_,
                    "slope": fit.slope_,
                    "chosen": method == self.chosen,
                }
            )
        return pd.DataFrame(rows)

    def lines(self) -> list[str]:
        """The procedure as printed by `mrbs update`, one line per step."""
        out = [f"closed testing procedure on {self.n} local patients ({self.events} responders):"]
        out += [f"  note: {note}" for note in self.notes]
        out += [f"  step {i}: {step.describe()}" for i, step in enumerate(self.steps, start=1)]
        out.append(f"  chosen: {self.method_name} ({self.chosen})")
        fit = self.chosen_fit
        if self.chosen == RECALIBRATION_IN_THE_LARGE:
            out.append(f"  new intercept {fit.intercept_:+.3f} on the parent's log-odds")
        elif self.chosen == LOGISTIC_RECALIBRATION:
            out.append(f"  intercept {fit.intercept_:+.3f}, slope {fit.slope_:.3f}")
        elif self.chosen == REVISION:
            out.append(
                f"  intercept {fit.intercept_:+.3f}, slope {fit.slope_:.3f}, {len(fit.coef_)} "
                f"coefficient deviations shrunk with ridge penalty {fit.penalty:g}"
            )
        return out


def n_parameters(method: int, n_inputs: int) -> int:
    """Parameters a method estimates when the classifier sees ``n_inputs`` inputs."""
    if method == REVISION:
        return 1 + n_inputs
    return {ORIGINAL: 0, RECALIBRATION_IN_THE_LARGE: 1, LOGISTIC_RECALIBRATION: 2}[method]


def classifier_input(pipeline: Pipeline, X: pd.DataFrame) -> npt.NDArray[np.float64]:
    """What the pipeline's classifier sees for X (every step before the last applied)."""
    return np.asarray(pipeline[:-1].transform(X), dtype=float)


def is_logistic_in_inputs(classifier: Any, design: npt.NDArray[np.float64]) -> bool:
    """Whether the classifier's log-odds are a linear function of ``design`` (plus a constant).

    A logistic regression's are, exactly; tree ensembles' and cross-fitted calibrations' are not.
    """
    lp = linear_predictor(classifier, design)
    basis = np.column_stack([np.ones(len(design)), design])
    coef = np.linalg.lstsq(basis, lp, rcond=None)[0]
    return bool(np.max(np.abs(basis @ coef - lp)) < LINEARITY_TOLERANCE)


def _test(fits: dict[int, SiteUpdate], more: int, less: int, alpha: float) -> Step:
    statistic = max(0.0, 2.0 * (fits[more].log_likelihood_ - fits[less].log_likelihood_))
    inputs = int(fits[ORIGINAL].n_features_in_)
    df = n_parameters(more, inputs) - n_parameters(less, inputs)
    return Step(more, less, statistic, df, float(chi2.sf(statistic, df)), alpha)


def _revision_penalty(
    frozen: FrozenEstimator,
    design: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    config: TrainingConfig,
) -> float:
    """The ridge penalty with the highest cross-validated log-likelihood on the local cohort."""
    scores = {}
    for penalty in config.updating.revision_penalties:
        total = 0.0
        for train, test in folds(config).split(design, y):
            update = SiteUpdate(frozen, REVISION, penalty).fit(design[train], y[train])
            total += log_likelihood(y[test], update.decision_function(design[test]))
        scores[penalty] = total
    return max(scores, key=lambda p: scores[p])


def _tree_note(pipeline: Pipeline, n: int, y: npt.NDArray[np.int64], config: TrainingConfig) -> str:
    feature_set = pipeline.steps[0][1].feature_set
    size = minimum_sample_size(
        parameters=parameter_count(pipeline, feature_set),
        prevalence=float(np.clip(y.mean(), 0.05, 0.95)),
        cstatistic=config.sample_size.anticipated_c_statistic,
        shrinkage=config.sample_size.shrinkage,
    )
    kind = type(pipeline[-1]).__name__
    if n >= size.n:
        return (
            f"the parent ({kind}) is not a logistic model of its inputs, so revision is a refit; "
            f"{n} local patients reach the Riley minimum ({size.n}) for its {size.parameters} "
            "parameters: a site model may be developed with `mrbs train --cohort` on them"
        )
    return (
        f"the parent ({kind}) is not a logistic model of its inputs, so revision is a refit; "
        f"it is not offered: {n} local patients are below the Riley minimum ({size.n}) for its "
        f"{size.parameters} parameters"
    )


def closed_test(
    pipeline: Pipeline, X: pd.DataFrame, y: npt.NDArray[np.int64], config: TrainingConfig
) -> ClosedTest:
    """Fit the updates the local data support and choose one by the closed testing procedure
    (module docstring). ``pipeline`` is the parent (fitted, never refitted), X its input on the
    local cohort, y the local outcomes."""
    alpha = config.updating.alpha
    design = classifier_input(pipeline, X)
    frozen = FrozenEstimator(pipeline[-1])
    revisable = is_logistic_in_inputs(frozen, design)
    methods = [ORIGINAL, RECALIBRATION_IN_THE_LARGE, LOGISTIC_RECALIBRATION]
    if revisable:
        methods.append(REVISION)
    fits = {m: SiteUpdate(frozen, m).fit(design, y) for m in methods}
    notes = [] if revisable else [_tree_note(pipeline, len(y), y, config)]
    if revisable and not fits[REVISION].converged_:
        notes.append(
            "the unpenalised revision did not converge (the local inputs nearly separate the "
            "outcomes); its likelihood-ratio tests overstate the evidence for revision"
        )
    top = methods[-1]
    steps: list[Step] = []
    chosen = top
    for less in methods[:-1]:
        step = _test(fits, top, less, alpha)
        steps.append(step)
        if not step.significant:
            chosen = less
            break
    chosen_fit = fits[chosen]
    if chosen == REVISION:
        penalty = _revision_penalty(frozen, design, y, config)
        chosen_fit = SiteUpdate(frozen, REVISION, penalty).fit(design, y)
    return ClosedTest(steps, chosen, chosen_fit, fits, len(y), int(y.sum()), alpha, notes)


def updated_pipeline(parent: Pipeline, update: SiteUpdate) -> Pipeline:
    """The parent pipeline with its classifier step replaced by ``update`` (which holds it)."""
    steps = list(parent.steps)
    steps[-1] = (steps[-1][0], update)
    return Pipeline(steps)


def refit_update(updated: Pipeline, X: pd.DataFrame, y: npt.NDArray[np.int64]) -> Pipeline:
    """The same update (method and penalty) fitted again on X, y; the parent and the feature
    steps stay as fitted (internal validation of the update, not of the parent)."""
    update = clone(updated[-1]).fit(classifier_input(updated, X), y)
    return updated_pipeline(updated, update)


def out_of_fold_update(
    updated: Pipeline, X: pd.DataFrame, y: npt.NDArray[np.int64], config: TrainingConfig
) -> npt.NDArray[np.float64]:
    """Cross-validated predictions of the update: each fold's from an update fitted without it."""
    p = np.empty(len(y))
    for train, test in folds(config).split(X, y):
        refitted = refit_update(updated, X.iloc[train], y[train])
        p[test] = refitted.predict_proba(X.iloc[test])[:, 1]
    return p
