"""Validation cards (Markdown and HTML): a model judged on a cohort other than its development one.

`mrbs evaluate` writes one for the cohort it validates on; `mrbs update` writes two: the parent on
the local cohort before updating (external validation), and the updated model after (internal
validation of the update: the update refitted in every bootstrap resample and cross-validation
fold, the parent and the feature steps held as they are). The page follows the model card
(`training.model_card`): every metric with its 95 % interval, the calibration-in-the-large,
slope, O/E and ICI read in words, the decision curve and the subgroups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.gate import GateResult
from training.model_card import HEADLINE, _decision, _table, html
from training.validate import ValidationReport

__all__ = ["CardContext", "html", "log", "markdown"]

#: What each metric would be for a perfectly calibrated, useful model.
IDEAL = {
    "auroc": "1 (0.5: chance)",
    "calibration_intercept": "0",
    "calibration_slope": "1",
    "ici": "0",
    "oe_ratio": "1",
    "brier": "0",
    "scaled_brier": "1",
}


@dataclass(frozen=True)
class CardContext:
    """What a validation card states: the model, the cohort and the report."""

    title: str
    model: str
    cohort: str
    cohort_hash: str
    excluded: dict[str, int]
    report: ValidationReport
    gate: GateResult
    resamples: int
    run_id: str
    update_lines: list[str] = field(default_factory=list)


def _performance(report: ValidationReport) -> str:
    rows = []
    for name, label in HEADLINE:
        estimate = report.headline_estimate(name)
        low, high = estimate.lower, estimate.upper
        row: dict[str, Any] = {
            "metric": label,
            "estimate": estimate.value,
            "95 % interval": "" if np.isnan(low) else f"{low:.3f} to {high:.3f}",
            "ideal": IDEAL[name],
        }
        if report.internal:
            row["estimate is"] = estimate.method
        rows.append(row)
    return _table(pd.DataFrame(rows))


def _calibration_in_words(report: ValidationReport) -> str:
    intercept = report.headline("calibration_intercept")
    slope = report.headline("calibration_slope")
    oe = report.headline("oe_ratio")
    low, high = report.interval("calibration_intercept")
    level = (
        "on average about right"
        if low <= 0.0 <= high
        else ("on average too high" if intercept < 0 else "on average too low")
    )
    s_low, s_high = report.interval("calibration_slope")
    spread = (
        "about as spread as the outcomes support"
        if s_low <= 1.0 <= s_high
        else ("too extreme (slope below 1)" if slope < 1 else "too moderate (slope above 1)")
    )
    return (
        f"Predicted probabilities are {level} (calibration-in-the-large {intercept:.3f}, "
        f"observed / expected {oe:.2f}) and {spread} (calibration slope {slope:.2f}). A "
        "calibration-in-the-large or slope whose interval excludes its ideal value is what "
        "updating (`mrbs update`) corrects."
    )


def markdown(context: CardContext) -> str:
    """The validation card as Markdown."""
    report = context.report
    excluded = ", ".join(f"{k}: {v}" for k, v in context.excluded.items()) or "none"
    gate = "passed" if context.gate.passed else "not passed: " + "; ".join(context.gate.reasons)
    how = (
        "Internal validation of the update: the update was refitted in each of "
        f"{context.resamples} bootstrap resamples and in each cross-validation fold (the parent "
        "and the feature steps held as they are); the estimate column says which estimate is "
        "quoted (as in the model card)."
        if report.internal
        else "External validation: the model as registered, nothing refitted. Each interval is "
        f"the percentile bootstrap interval over {context.resamples} resamples of the patients "
        "(the ICI's moved down by its resampling bias and kept at or above 0)."
    )
    update = ""
    if context.update_lines:
        update = "\n## Update\n```text\n" + "\n".join(context.update_lines) + "\n```\n"
    return f"""# {context.title}

*Model `{context.model}`, MLflow run `{context.run_id}`. Promotion gate on these figures:
**{gate}**.*

## Cohort
`{context.cohort}`: {int(report.apparent["n"])} patients, {int(report.apparent["events"])}
responders ({report.apparent["prevalence"]:.1%}); content hash `{context.cohort_hash}`.
Excluded before validation: {excluded}.
{update}
## Performance
{how}

{_performance(report)}

DeLong 95 % interval of the AUROC: {report.auroc_interval.lower:.3f} to
{report.auroc_interval.upper:.3f}.

## Calibration
{_calibration_in_words(report)}

See `plots/calibration.png`: the smoothed (lowess) calibration curve with its bootstrap 95 % band.

## Decision curve
Net benefit at selected thresholds (full curve in `plots/decision_curve.png`):

{_decision(report)}

## Subgroups
Groups with fewer than the configured events or non-events show counts only.

{_table(report.subgroups)}
"""


def log(context: CardContext, folder: str | None = None) -> str:
    """Log the card (Markdown and HTML) to its run, under ``folder`` when given; returns the
    HTML's artifact URI."""
    from mlflow import MlflowClient

    from infra.artifacts import VALIDATION_CARD_HTML, VALIDATION_CARD_MARKDOWN

    text = markdown(context)
    client = MlflowClient()
    prefix = f"{folder}/" if folder else ""
    client.log_text(context.run_id, text, prefix + VALIDATION_CARD_MARKDOWN)
    client.log_text(context.run_id, html(text, context.title), prefix + VALIDATION_CARD_HTML)
    return f"runs:/{context.run_id}/{prefix}{VALIDATION_CARD_HTML}"
