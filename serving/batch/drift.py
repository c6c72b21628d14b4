"""Drift of each predictor against the training cohort: population stability index (PSI).

The training cohort's distribution is stored beside the model as a reference table, built at
training time by `features.reference.reference_bins` and logged in the model version's run as
`features.reference.REFERENCE_BINS_ARTIFACT`: numeric predictors cut at the training deciles,
flags and categories counted per value, and the share of missing values as a bin of its own.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with empty bins counted as
``PSI_EPSILON``. The usual reading, from credit scoring and sensitive to the binning: below 0.1
stable, 0.1 to 0.25 a moderate shift, above 0.25 a major shift that puts the model in doubt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from features.reference import Bins, IntArray, parse_reference
from infra.artifacts import REFERENCE_BINS_ARTIFACT

PSI_MODERATE: Final = 0.1
PSI_MAJOR: Final = 0.25
PSI_EPSILON: Final = 1e-4
#: Fewer scored rows than this make PSI too noisy to report.
MIN_ROWS_FOR_DRIFT: Final = 100


def psi(expected: npt.NDArray[np.float64], counts: IntArray) -> float:
    """Population stability index of observed ``counts`` against ``expected`` shares."""
    total = int(counts.sum())
    if total == 0:
        return math.nan
    actual = np.maximum(counts / total, PSI_EPSILON)
    reference = np.maximum(expected, PSI_EPSILON)
    return float(np.sum((actual - reference) * np.log(actual / reference)))


def level(value: float) -> str:
    if value >= PSI_MAJOR:
        return "major"
    if value >= PSI_MODERATE:
        return "moderate"
    return "stable"


def warning_text(name: str, value: float) -> str:
    return (
        f"{name}: PSI {value:.2f} against the training cohort (above {PSI_MAJOR}, a major "
        "shift): the model may not apply to this cohort; check this predictor's units, assays "
        "and case mix before relying on the probabilities"
    )


def drift_report(
    bins: Mapping[str, Bins] | None, counts: Mapping[str, IntArray], scored: int, source: str
) -> dict[str, Any]:
    """The summary's drift section: PSI and level per predictor, warnings and a note."""
    report: dict[str, Any] = {"reference": source, "predictors": {}, "warnings": []}
    if bins is None:
        report["note"] = source
        report["reference"] = None
        return report
    if scored < MIN_ROWS_FOR_DRIFT:
        report["note"] = (
            f"drift not computed: {scored} scored rows (PSI needs at least {MIN_ROWS_FOR_DRIFT})"
        )
        return report
    for name, reference in bins.items():
        if name not in counts:
            continue
        value = psi(reference.expected, counts[name])
        report["predictors"][name] = {"psi": round(value, 4), "level": level(value)}
        if value >= PSI_MAJOR:
            report["warnings"].append(warning_text(name, value))
    moderate = [n for n, r in report["predictors"].items() if r["level"] == "moderate"]
    report["note"] = (
        f"PSI of {len(report['predictors'])} predictors on {scored} scored rows; "
        f"< {PSI_MODERATE} stable, {PSI_MODERATE}-{PSI_MAJOR} moderate"
        + (f" ({', '.join(moderate)})" if moderate else "")
        + f", > {PSI_MAJOR} major"
    )
    return report


def load_reference(run_id: str) -> tuple[dict[str, Bins] | None, str]:
    """The reference bins logged in ``run_id``; (None, why not) when there are none."""
    if not run_id:
        return None, "drift not computed: the model is not tied to an MLflow run"
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    uri = f"runs:/{run_id}/{REFERENCE_BINS_ARTIFACT}"
    try:
        table = mlflow.artifacts.load_dict(uri)
    except (MlflowException, OSError, ValueError):
        return None, (
            f"drift not computed: {uri} does not exist (the model version was trained without "
            "reference bins; retrain it to monitor drift)"
        )
    try:
        return parse_reference(table), uri
    except ValueError as error:
        return None, f"drift not computed: {uri}: {error}"
