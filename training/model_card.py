"""Model cards (Markdown and HTML) for every registered version, following TRIPOD+AI (BMJ 2024)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt

from features.eligibility import ACTIVE_SLEDAI_MIN
from features.pipeline import input_fields, required_fields
from features.record import EXCLUSIONS, FIELDS_BY_NAME
from training.gate import GateResult
from training.sample_size import SampleSize
from training.validate import CROSS_VALIDATED, HARRELL, POINT632PLUS, ValidationReport

#: Column titles of the estimates in the performance table.
COLUMN = {
    HARRELL: "Harrell-corrected",
    POINT632PLUS: ".632+ bootstrap",
    CROSS_VALIDATED: "cross-validated",
}
HEADLINE = (
    ("auroc", "AUROC (C statistic)"),
    ("calibration_intercept", "Calibration intercept (ideal 0)"),
    ("calibration_slope", "Calibration slope (ideal 1)"),
    ("ici", "Integrated calibration index"),
    ("oe_ratio", "Observed / expected"),
    ("brier", "Brier score"),
    ("scaled_brier", "Scaled Brier score"),
)


@dataclass(frozen=True)
class CardContext:
    """What the card states about one model version."""

    model_name: str
    version: str
    run_id: str
    trained_at: str
    candidate: str
    kind: str
    feature_set: str
    params: dict[str, Any]
    recalibration: str
    cohort_hash: str
    n_excluded: dict[str, int]
    report: ValidationReport
    gate: GateResult
    sample_size: SampleSize
    resamples: int


def _table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else format(value, floatfmt)
        return str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _predictors(feature_set: str) -> str:
    required = set(required_fields(feature_set))
    rows = []
    for name in input_fields(feature_set):
        spec = FIELDS_BY_NAME[name]
        soft = spec.describe_range(spec.soft) if spec.soft else ""
        units = ", ".join(spec.units.symbols) if spec.unit else ""
        rows.append(
            {
                "predictor": name,
                "unit (accepted)": units,
                "training range": soft,
                "required": "yes" if name in required else "no (imputed)",
                "meaning": spec.description,
            }
        )
    return _table(pd.DataFrame(rows))


def _performance(context: CardContext) -> str:
    report = context.report
    rows = []
    for name, label in HEADLINE:
        estimates = report.estimates(name)
        headline = report.headline_estimate(name)
        row: dict[str, Any] = {"metric": label, "apparent": report.apparent[name]}
        for method in (HARRELL, POINT632PLUS, CROSS_VALIDATED):
            row[COLUMN[method]] = estimates[method].value if method in estimates else np.nan
        low, high = headline.lower, headline.upper
        row |= {
            "headline": headline.value,
            "headline is": COLUMN.get(headline.method, headline.method),
            "95 % interval": "" if np.isnan(low) else f"{low:.3f} to {high:.3f}",
        }
        rows.append(row)
    return _table(pd.DataFrame(rows))


def _decision(report: ValidationReport) -> str:
    curve = report.decision_curve
    shown = curve[
        np.isclose((curve["threshold"] * 10) % 1, 0) | np.isclose((curve["threshold"] * 10) % 1, 1)
    ]
    return _table(
        shown[["threshold", "model", "treat_all", "treat_none"]].rename(
            columns={"model": "net benefit (model)"}
        )
    )


def markdown(context: CardContext) -> str:
    """The model card as Markdown."""
    report, size = context.report, context.sample_size
    exclusions = "; ".join(spec.description.rstrip(".").lower() for spec in EXCLUSIONS)
    excluded = ", ".join(f"{k}: {v}" for k, v in context.n_excluded.items()) or "none"
    gate = "passed" if context.gate.passed else "not passed: " + "; ".join(context.gate.reasons)
    effects = report.effects.rename(columns={"effect": "odds ratio"})
    return f"""# Model card: {context.model_name} version {context.version}

*Candidate `{context.candidate}` ({context.kind}, {context.feature_set} predictors), trained
{context.trained_at}, MLflow run `{context.run_id}`. Promotion gate: **{gate}**.*

## Intended use
Predicts the probability that an adult with active, refractory systemic lupus erythematosus
will be an SRI-4 responder at week 48 of belimumab 10 mg/kg IV (days 0, 14, 28, then every 28
days), from baseline data. It supports, and does not replace, a rheumatologist's decision; it is
a research tool, not a medical device. Outcome: SRI-4 (Furie 2009): SLEDAI-2K drop >= 4, no new
BILAG-2004 A and at most one new B, PGA rise < 0.3; dropout or rescue therapy count as
non-response.

## Population (TRIPOD+AI items 5-8)
The MRBS population: ACR 1997 criteria, age over 18, active disease (SLEDAI-2K >=
{ACTIVE_SLEDAI_MIN}), refractory to standard therapy, IgG >= 400 mg/dL, IgA >= 10 mg/dL, and
none of: {exclusions}. The service reports for every patient whether they fall inside it, and
every reason if not.

Development cohort: {int(report.apparent["n"])} patients, {int(report.apparent["events"])}
responders ({report.apparent["prevalence"]:.1%}); content hash `{context.cohort_hash}`.
Excluded before fitting: {excluded}.

## Predictors
{_predictors(context.feature_set)}

## Missing data (TRIPOD+AI item 27a)
Required predictors missing or implausible: no prediction is made and the problem is named.
Optional predictors missing: imputed with the development cohort's median, stored in the fitted
pipeline; every response lists which inputs were imputed. Values outside the training range
are accepted but flagged.

## Model
{context.kind} on the {context.feature_set} predictor set; hyperparameters tuned by grid search
in stratified cross-validation (log loss), chosen: `{context.params}`. Recalibration (chosen by
cross-validated calibration slope and Brier score): {context.recalibration}. The model reads
SLEDAI-2K as its clinical part (the total without the serology items) and serologically active
disease (C3 < 90 or C4 < 16 mg/dL, with anti-dsDNA at or above the assay's cut-off), as the BLISS
analyses define them.

## Performance (internal validation)
The **headline** column is the figure to quote; the promotion gate reads it. The whole pipeline
was refitted in each of {context.resamples} bootstrap resamples and in each cross-validation
fold, at the tuned hyperparameters.

- *Apparent*: the model on the patients it was fitted on; optimistic.
- *Harrell-corrected*: apparent minus the mean optimism of the refits, each scored on the
  original sample (Harrell 1996). About 63 % of that sample was in each refit's resample, so
  for models that memorise their training rows (tree ensembles) it stays optimistic.
- *.632+ bootstrap*: the same refits scored only on the patients their resample left out,
  weighted with the apparent value by the relative over-fitting (Efron & Tibshirani 1997;
  for the AUROC as in Wahl et al. 2016). Headline for AUROC and Brier scores; interval: the
  cross-validated one, moved to this estimate (location shift, Noma et al. 2021).
- *Cross-validated*: the metric of out-of-fold predictions, each from a model that never saw
  that patient. Headline for calibration; interval: percentile bootstrap over patients.

DeLong 95 % interval of the apparent AUROC: {report.auroc_interval.lower:.3f} to
{report.auroc_interval.upper:.3f}.

{_performance(context)}

## Calibration
See `calibration.png`: a smoothed (lowess) calibration curve with a bootstrap 95 % band, drawn
from cross-validated predictions, as are the decision curve and the subgroup table.

## Decision curve
Net benefit at selected thresholds (full curve in `decision_curve.png`):

{_decision(report)}

## Subgroups
Cross-validated performance by subgroup; groups with fewer than the configured events or
non-events show counts only.

{_table(report.subgroups)}

## Predictor effects
Odds ratios between the 75th and 25th percentile (yes vs no for flags), averaged over the
cohort (`effects.png`).

{_table(effects)}

## Sample size (Riley et al. 2019/2020)
{size.parameters} candidate parameters, anticipated C {size.cstatistic}, prevalence
{size.prevalence:.2f}: minimum {size.n} patients ({size.events:.0f} events, EPP {size.epp:.1f}).
Parameters counted: every column the regression estimates (spline basis functions and flags);
for tree ensembles the number of model terms, a lower bound on what they estimate.

## Limitations
- Developed on a simulated cohort calibrated to the pooled BLISS-52/76 tables: real cohorts
  differ; validate externally (`mrbs evaluate`) before any use.
- The BLISS trials scored SELENA-SLEDAI; MRBS scores SLEDAI-2K. Proteinuria and mucocutaneous
  items differ in "new versus persistent" wording.
- Ethnicity and region are reported for subgroups, not used as predictors.
- Baseline predictors only: on-treatment changes are not used.
"""


def html(markdown_text: str, title: str) -> str:
    """The model card as a standalone HTML page."""
    body = MarkdownIt("commonmark").enable("table").render(markdown_text)
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}"
        "table{border-collapse:collapse;margin:1rem 0}"
        "td,th{border:1px solid #ccc;padding:.25rem .5rem}"
        "th{background:#f3f3f3}code{background:#f6f6f6}"
    )
    head = f"<meta charset='utf-8'><title>{title}</title><style>{style}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>\n"
