"""`mrbs evaluate`: external validation of a registered model on another cohort.

The model is loaded exactly as logged; nothing is refitted. The report is the one training
produces (discrimination, calibration, Brier, decision curve, subgroups, effects), with
bootstrap percentile intervals of the fixed model's performance (`training.validate`), logged
as a run in the ``<experiment>-external`` experiment with its tables, plots and validation card
(`training.validation_card`, Markdown and HTML).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.pipeline import model_input
from infra import store
from infra.settings import Settings
from scoring.loading import load
from training import validation_card
from training.artifacts import log_validation
from training.config import TrainingConfig
from training.data import load_cohort
from training.gate import GateResult, evaluate_gate
from training.validate import ValidationReport, validate


@dataclass(frozen=True)
class EvaluationResult:
    model_uri: str
    run_id: str
    report: ValidationReport
    gate: GateResult
    excluded: dict[str, int]
    validation_card: str

    def to_json(self) -> str:
        report = self.report
        metrics: dict[str, Any] = {}
        for name in (
            "auroc",
            "calibration_intercept",
            "calibration_slope",
            "ici",
            "oe_ratio",
            "brier",
            "scaled_brier",
        ):
            low, high = report.interval(name)
            metrics[name] = {
                "estimate": round(report.headline(name), 4),
                "lower": round(low, 4),
                "upper": round(high, 4),
            }
        return json.dumps(
            {
                "model": self.model_uri,
                "run_id": self.run_id,
                "n": int(report.apparent["n"]),
                "events": int(report.apparent["events"]),
                "excluded": self.excluded,
                "metrics": metrics,
                "gate_passed": self.gate.passed,
                "gate_reasons": self.gate.reasons,
                "validation_card": self.validation_card,
            },
            indent=2,
        )


def evaluate(
    model_uri: str, cohort_path: Path, config: TrainingConfig, settings: Settings
) -> EvaluationResult:
    import mlflow

    scorer = load(model_uri, settings)
    cohort = load_cohort(cohort_path, eligible_only=config.eligible_only)
    X = model_input(cohort.frame, scorer.fields)
    report = validate(scorer.pipeline, X, cohort.y, cohort.frame, config, refit=None)
    gate = evaluate_gate(
        {name: report.headline(name) for name in report.apparent},
        report.decision_curve,
        config,
        sample_size_met=True,
        sample_size_override=False,
    )
    experiment_id = store.ensure_experiment(f"{config.experiment}-external", settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name="external-validation") as run:
        mlflow.log_params(
            {
                "model_uri": model_uri,
                "cohort_source": str(cohort_path),
                "cohort_sha256": cohort.content_hash,
                "bootstrap_resamples": config.validation.bootstrap_resamples,
            }
        )
        mlflow.log_metrics(report.mlflow_metrics())
        mlflow.set_tags(gate.tags())
        with tempfile.TemporaryDirectory() as folder:
            log_validation(report, Path(folder))
        card = validation_card.log(
            validation_card.CardContext(
                title=f"Validation card: {scorer.identity.uri} on {cohort_path.name}",
                model=scorer.identity.uri,
                cohort=str(cohort_path),
                cohort_hash=cohort.content_hash,
                excluded=cohort.excluded,
                report=report,
                gate=gate,
                resamples=config.validation.bootstrap_resamples,
                run_id=run.info.run_id,
            )
        )
    return EvaluationResult(model_uri, run.info.run_id, report, gate, cohort.excluded, card)
