"""Drift of each predictor against the training cohort: population stability index (PSI).

The training cohort's distribution is stored beside the model as a reference table, built at
training time by `reference_bins` and logged as ``validation/reference_bins.json`` in the model
version's run::

    {"sledai_2k": {"edges": [6.0, 8.0, ...], "proportions": [0.12, ...], "missing": 0.0},
     "sex": {"categories": ["F", "M"], "proportions": [0.93, 0.06], "missing": 0.01}, ...}

Numeric predictors are cut at the training deciles (bins closed on the right: ``edges[i-1] <
x <= edges[i]``); flags and categories are counted per value; the share of missing values is a
bin of its own, so a cohort that stops recording a predictor drifts too. All proportions are of
every row, so they sum to 1.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with empty bins counted as
``PSI_EPSILON``. The usual reading, from credit scoring and sensitive to the binning: below 0.1
stable, 0.1 to 0.25 a moderate shift, above 0.25 a major shift that puts the model in doubt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.record import FIELDS_BY_NAME

PSI_MODERATE: Final = 0.1
PSI_MAJOR: Final = 0.25
PSI_EPSILON: Final = 1e-4
#: Where training stores the reference table, relative to the model version's run.
REFERENCE_BINS_ARTIFACT: Final = "validation/reference_bins.json"
#: Fewer scored rows than this make PSI too noisy to report.
MIN_ROWS_FOR_DRIFT: Final = 100
DEFAULT_BINS: Final = 10

IntArray = npt.NDArray[np.int64]


def _floats(column: pd.Series) -> npt.NDArray[np.float64]:
    numbers = pd.to_numeric(column, errors="coerce").astype("Float64")
    return np.asarray(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _categories(name: str) -> list[Any]:
    spec = FIELDS_BY_NAME[name]
    return [False, True] if spec.kind == "boolean" else list(spec.categories)


@dataclass(frozen=True)
class Bins:
    """One predictor's reference bins and the training cohort's share in each."""

    name: str
    edges: tuple[float, ...] | None
    categories: tuple[Any, ...] | None
    expected: npt.NDArray[np.float64]  # every bin, the missing share last

    def count(self, column: pd.Series) -> IntArray:
        """Rows of ``column`` (canonical values) in each bin, missing last."""
        if self.edges is not None:
            values = _floats(column)
            present = values[~np.isnan(values)]
            positions = np.searchsorted(np.asarray(self.edges), present, side="left")
            counts = np.bincount(positions, minlength=len(self.edges) + 1)
            return np.append(counts, values.size - present.size).astype(np.int64)
        assert self.categories is not None
        flags = all(isinstance(c, bool) for c in self.categories)
        typed = column.astype("boolean") if flags else column.astype("string")
        found = [int(typed.eq(category).fillna(False).sum()) for category in self.categories]
        return np.asarray([*found, int(typed.isna().sum())], dtype=np.int64)


def reference_bins(
    frame: pd.DataFrame, fields: Sequence[str], *, bins: int = DEFAULT_BINS
) -> dict[str, dict[str, Any]]:
    """The reference table of ``fields`` in ``frame`` (a validated, canonical training cohort).

    Numeric fields are cut at their ``bins``-quantiles (ties merged, so a field with few
    distinct values gets fewer bins); flags and categories keep one bin per value.
    """
    if frame.empty:
        raise ValueError("reference_bins: the frame has no rows")
    table: dict[str, dict[str, Any]] = {}
    for name in fields:
        column = frame[name]
        if FIELDS_BY_NAME[name].kind in ("number", "integer"):
            values = _floats(column)
            present = values[~np.isnan(values)]
            cuts = np.linspace(0, 1, bins + 1)[1:-1]
            edges = tuple(np.unique(np.quantile(present, cuts)).tolist()) if present.size else ()
            counts = Bins(name, edges, None, np.empty(0)).count(column)
            entry: dict[str, Any] = {"edges": list(edges)}
        else:
            categories = tuple(_categories(name))
            counts = Bins(name, None, categories, np.empty(0)).count(column)
            entry = {"categories": list(categories)}
        shares = counts / len(column)
        entry["proportions"] = shares[:-1].tolist()
        entry["missing"] = float(shares[-1])
        table[name] = entry
    return table


def parse_reference(table: Mapping[str, Any]) -> dict[str, Bins]:
    """Bins per predictor from a reference table; ValueError naming the malformed entry."""
    parsed: dict[str, Bins] = {}
    for name, entry in table.items():
        if name not in FIELDS_BY_NAME:
            continue  # a predictor this version of MRBS no longer reads
        try:
            proportions = [float(p) for p in entry["proportions"]]
            missing = float(entry.get("missing", 0.0))
            edges = tuple(float(e) for e in entry["edges"]) if "edges" in entry else None
            categories = tuple(entry["categories"]) if edges is None else None
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"reference bins of {name}: malformed ({error!r})") from None
        expected_bins = len(edges) + 1 if edges is not None else len(categories or ())
        if len(proportions) != expected_bins:
            raise ValueError(
                f"reference bins of {name}: {len(proportions)} proportions for {expected_bins} bins"
            )
        parsed[name] = Bins(name, edges, categories, np.asarray([*proportions, missing]))
    return parsed


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
