"""Minimum sample size to develop a binary-outcome prediction model (Riley et al.).

Riley RD, Snell KIE, Ensor J, et al. Minimum sample size for developing a multivariable
prediction model: Part II - binary and time-to-event outcomes. Stat Med 2019;38:1276-1296.
Riley RD, Ensor J, Snell KIE, et al. Calculating the sample size required for developing a
clinical prediction model. BMJ 2020;368:m441.

With p candidate predictor parameters, outcome prevalence phi and anticipated Cox-Snell R2
(R2_cs), the minimum n is the largest of:

1. expected uniform shrinkage S >= 0.9: n1 = p / ((S - 1) ln(1 - R2_cs / S));
2. apparent minus adjusted Nagelkerke R2 <= 0.05: with max(R2_cs) = 1 - exp(2 lnL_null / n),
   lnL_null / n = phi ln(phi) + (1 - phi) ln(1 - phi), S2 = R2_cs / (R2_cs + 0.05 max(R2_cs)) and
   n2 = p / ((S2 - 1) ln(1 - R2_cs / S2));
3. overall risk estimated within +/- 0.05: n3 = (1.96 / 0.05)^2 phi (1 - phi).

Rounding follows the R package pmsampsize (Ensor, Martin & Riley; source read at versions 1.0.0
to 1.1.0), the authors' reference implementation: each n is rounded up, max(R2_cs) is rounded to
2 decimals and S2 to 3 before n2 is computed. That reproduces the results its test suite expects
for its documented binary example (24 parameters, prevalence 0.174, R2_cs 0.288: n = 668); the
Python port pmsampsize 0.1.0 skips those two roundings and gives a slightly smaller n2 (662).

When only an anticipated C statistic is known, R2_cs is approximated as pmsampsize >= 1.1 does
(Riley, Van Calster & Collins, Stat Med 2021;40:859-864): simulate a large sample whose linear
predictor is normal with unit variance in both outcome groups and means sqrt(2) Phi^-1(C) apart,
fit a logistic regression of the outcome on it, and take that model's R2_cs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import statsmodels.api as sm
from scipy.stats import norm

DEFAULT_SHRINKAGE: Final = 0.9
NAGELKERKE_OPTIMISM: Final = 0.05
RISK_MARGIN: Final = 0.05
Z_95: Final = 1.96
"""The normal quantile as pmsampsize writes it (not 1.959964...), so criterion 3 matches."""

CSTAT_SIMULATION_SIZE: Final = 1_000_000
CSTAT_SEED: Final = 123_456
"""pmsampsize's default seed for the C-to-R2 simulation."""


@dataclass(frozen=True)
class Criterion:
    """One criterion's minimum sample size, the shrinkage it implies, events and EPP."""

    n: int
    shrinkage: float
    events: float
    epp: float


@dataclass(frozen=True)
class SampleSize:
    """Riley et al.'s three criteria and the minimum sample size that meets all of them.

    `events` is n * prevalence (not rounded) and `epp` events per candidate parameter, as in
    pmsampsize. `r2_cs` is the anticipated Cox-Snell R2 used (derived from `cstatistic` when that
    was given), `max_r2_cs` the largest R2_cs the prevalence allows.
    """

    parameters: int
    prevalence: float
    r2_cs: float
    max_r2_cs: float
    cstatistic: float | None
    shrinkage_criterion: Criterion
    nagelkerke_criterion: Criterion
    overall_risk_criterion: Criterion
    n: int
    events: float
    epp: float
    shrinkage: float


def max_r2_cs(prevalence: float) -> float:
    """Largest attainable Cox-Snell R2 for an outcome with this prevalence (Riley 2019, eq. 23).

    1 - exp(2 lnL_null / n) with lnL_null / n = phi ln(phi) + (1 - phi) ln(1 - phi).
    """
    _check_prevalence(prevalence)
    phi = prevalence
    log_lik_null_per_patient = phi * math.log(phi) + (1.0 - phi) * math.log(1.0 - phi)
    return 1.0 - math.exp(2.0 * log_lik_null_per_patient)


def cstatistic_to_r2_cs(
    cstatistic: float,
    prevalence: float,
    *,
    seed: int = CSTAT_SEED,
    n_simulated: int = CSTAT_SIMULATION_SIZE,
) -> float:
    """Approximate Cox-Snell R2 of a logistic model with this C statistic and prevalence.

    Simulation of Riley, Van Calster & Collins (Stat Med 2021), as pmsampsize's `cstat2rsq`: one
    group of n * prevalence linear predictors from N(0, 1), the other of n * (1 - prevalence) from
    N(sqrt(2) Phi^-1(C), 1), so that P(LP_1 > LP_0) = C; then a binomial GLM of group on LP
    (statsmodels) and R2_cs = 1 - exp(-(null deviance - deviance) / n). The groups are drawn in
    pmsampsize's order from numpy's Mersenne Twister seeded with `seed` (a local RandomState, no
    global state), so with the default seed the value equals the Python port's; R's generator
    differs, so the R package can differ in the fourth decimal. Which group is called the events
    does not matter: R2_cs is unchanged when the outcome labels are swapped.
    Takes about a second for the default one million patients.
    """
    if not 0.5 < cstatistic < 1.0:
        raise ValueError(f"cstatistic must lie strictly between 0.5 and 1; got {cstatistic!r}")
    _check_prevalence(prevalence)
    mean_difference = math.sqrt(2.0) * float(norm.ppf(cstatistic))
    n_first = int(prevalence * n_simulated)
    n_second = int((1.0 - prevalence) * n_simulated)
    # Legacy RandomState on purpose: its stream for a given seed is the one pmsampsize uses.
    rng = np.random.RandomState(seed)
    lp = np.concatenate(
        [
            rng.normal(loc=0.0, scale=1.0, size=n_first),
            rng.normal(loc=mean_difference, scale=1.0, size=n_second),
        ]
    )
    group = np.concatenate([np.zeros(n_first), np.ones(n_second)])
    exog = np.column_stack([np.ones(len(lp)), lp])
    fit = sm.GLM(group, exog, family=sm.families.Binomial()).fit()
    return float(1.0 - math.exp(-(fit.null_deviance - fit.deviance) / n_simulated))


def minimum_sample_size(
    *,
    parameters: int,
    prevalence: float,
    r2_cs: float | None = None,
    cstatistic: float | None = None,
    shrinkage: float = DEFAULT_SHRINKAGE,
    seed: int = CSTAT_SEED,
) -> SampleSize:
    """Minimum development sample size for a logistic prediction model (Riley et al. 2019/2020).

    Give exactly one of `r2_cs` (anticipated Cox-Snell R2, e.g. the adjusted R2_cs of an earlier
    model) or `cstatistic` (anticipated C; converted with `cstatistic_to_r2_cs` and rounded to 4
    decimals, as pmsampsize does). `parameters` counts candidate predictor parameters: every
    dummy of a categorical predictor, spline term and interaction counts.

    Example (pmsampsize's documented binary example, after Riley et al. 2019): 24 parameters,
    prevalence 0.174, R2_cs 0.288 gives 623 for criterion 1, 668 for criterion 2, 221 for
    criterion 3, so n = 668 with 116.2 events, EPP 4.84.
    """
    if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters < 1:
        raise ValueError(f"parameters must be a positive integer; got {parameters!r}")
    _check_prevalence(prevalence)
    if not 0.0 < shrinkage < 1.0:
        raise ValueError(f"shrinkage must lie strictly between 0 and 1; got {shrinkage!r}")
    if r2_cs is not None and cstatistic is None:
        r2 = r2_cs
    elif cstatistic is not None and r2_cs is None:
        r2 = round(cstatistic_to_r2_cs(cstatistic, prevalence, seed=seed), 4)
    else:
        raise ValueError("give exactly one of r2_cs or cstatistic")
    largest = round(max_r2_cs(prevalence), 2)
    if not 0.0 < r2 < shrinkage:
        raise ValueError(f"r2_cs must lie strictly between 0 and shrinkage ({shrinkage}); got {r2}")
    if r2 > largest:
        raise ValueError(
            f"r2_cs ({r2}) exceeds the largest Cox-Snell R2 possible at prevalence "
            f"{prevalence} ({largest})"
        )

    n1 = _shrinkage_n(parameters, r2, shrinkage)
    shrinkage_2 = round(r2 / (r2 + NAGELKERKE_OPTIMISM * largest), 3)
    n2 = _shrinkage_n(parameters, r2, shrinkage_2)
    n3 = math.ceil((Z_95 / RISK_MARGIN) ** 2 * prevalence * (1.0 - prevalence))
    final_shrinkage = max(shrinkage, shrinkage_2)
    n = max(n1, n2, n3)

    def criterion(size: int, implied_shrinkage: float) -> Criterion:
        events = size * prevalence
        return Criterion(size, implied_shrinkage, events, events / parameters)

    return SampleSize(
        parameters=parameters,
        prevalence=prevalence,
        r2_cs=r2,
        max_r2_cs=largest,
        cstatistic=cstatistic,
        shrinkage_criterion=criterion(n1, shrinkage),
        nagelkerke_criterion=criterion(n2, shrinkage_2),
        # Criterion 3 does not involve shrinkage; pmsampsize reports the larger of S and S2.
        overall_risk_criterion=criterion(n3, final_shrinkage),
        n=n,
        events=n * prevalence,
        epp=n * prevalence / parameters,
        shrinkage=final_shrinkage,
    )


def _shrinkage_n(parameters: int, r2: float, shrinkage: float) -> int:
    """Riley 2019 eq. 11: n giving expected uniform shrinkage `shrinkage` at R2_cs `r2`."""
    return math.ceil(parameters / ((shrinkage - 1.0) * math.log(1.0 - r2 / shrinkage)))


def _check_prevalence(prevalence: float) -> None:
    if not 0.0 < prevalence < 1.0:
        raise ValueError(f"prevalence must lie strictly between 0 and 1; got {prevalence!r}")
