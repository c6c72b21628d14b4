"""The promotion gate: what a model version must show before it may become the champion.

Never AUROC alone. A version passes only if, on its headline performance (internal validation:
the .632+ bootstrap estimate for the AUROC and cross-validated predictions for calibration, see
`training.validate.HEADLINE_ESTIMATE`; external validation: as measured):

1. AUROC is at least ``gate.min_auroc``;
2. the calibration slope lies within ``gate.calibration_slope`` (0.8-1.2 by default) and the
   calibration intercept within +/- ``gate.max_abs_calibration_intercept``;
3. over the clinically relevant thresholds (``validation.clinically_relevant_thresholds``) the
   model's net benefit is positive at every threshold and, on average over the range, above
   treating everyone (Vickers & Elkin 2006: a model is useful where its curve lies above both
   default strategies);
4. the development cohort met the Riley minimum sample size, or an override was logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from training.config import Gate, TrainingConfig

PASSED_TAG: Final = "mrbs.gate.passed"
REASONS_TAG: Final = "mrbs.gate.reasons"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def tags(self) -> dict[str, str]:
        return {PASSED_TAG: str(self.passed).lower(), REASONS_TAG: "; ".join(self.reasons) or "-"}


def net_benefit_check(curve: pd.DataFrame, low: float, high: float) -> list[str]:
    """Reasons the decision curve fails over [low, high] (empty when it passes)."""
    window = curve[(curve["threshold"] >= low - 1e-9) & (curve["threshold"] <= high + 1e-9)]
    if window.empty:
        return [f"no decision-curve thresholds within {low:g}-{high:g}"]
    reasons = []
    non_positive = window.loc[window["model"] <= 0, "threshold"]
    if not non_positive.empty:
        reasons.append(
            f"net benefit not positive at threshold(s) {', '.join(f'{t:g}' for t in non_positive)}"
        )
    advantage = float(np.mean(window["model"] - window["treat_all"].clip(lower=0)))
    if advantage <= 0:
        reasons.append(
            f"net benefit not above treat-all on average over {low:g}-{high:g} "
            f"(mean difference {advantage:.4f})"
        )
    return reasons


def evaluate_gate(
    metrics: dict[str, float],
    decision_curve: pd.DataFrame,
    config: TrainingConfig,
    *,
    sample_size_met: bool,
    sample_size_override: bool,
) -> GateResult:
    """Apply the gate to a version's headline metrics (keys as in `clinical_metrics`)."""
    gate: Gate = config.gate
    reasons: list[str] = []
    auroc = metrics.get("auroc", float("nan"))
    if not auroc >= gate.min_auroc:
        reasons.append(f"AUROC {auroc:.3f} below {gate.min_auroc:g}")
    slope = metrics.get("calibration_slope", float("nan"))
    low, high = gate.calibration_slope
    if not low <= slope <= high:
        reasons.append(f"calibration slope {slope:.3f} outside {low:g}-{high:g}")
    intercept = metrics.get("calibration_intercept", float("nan"))
    if not abs(intercept) <= gate.max_abs_calibration_intercept:
        reasons.append(
            f"calibration intercept {intercept:.3f} "
            f"beyond +/-{gate.max_abs_calibration_intercept:g}"
        )
    if gate.require_positive_net_benefit:
        reasons += net_benefit_check(
            decision_curve, *config.validation.clinically_relevant_thresholds
        )
    if not sample_size_met and not sample_size_override:
        reasons.append("development cohort below the Riley minimum sample size")
    return GateResult(passed=not reasons, reasons=reasons)
