"""`mrbs train`: fit every configured candidate, validate, log to MLflow, register the best.

One parent MLflow run per training and one nested run per candidate. Each nested run logs the
candidate's hyperparameters, every metric (headline, Harrell-corrected, .632+ and
cross-validated) with its interval, plots, the subgroup table, the decision curve and the
fitted pipeline. The chosen candidate (passing the promotion gate if any does, then the lowest
cross-validated Brier score) is registered with the ``candidate`` alias and a model card.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.pipeline import input_fields
from features.reference import reference_bins
from infra import store
from infra.artifacts import (
    MODEL_CARD_HTML,
    MODEL_CARD_MARKDOWN,
    MODEL_CARD_TAG,
    REFERENCE_BINS_ARTIFACT,
    TRAINED_AT_TAG,
)
from infra.settings import Settings
from scoring import bundle
from training import model_card
from training.artifacts import log_validation
from training.candidates import parameter_count
from training.config import Candidate, TrainingConfig
from training.data import ModellingCohort, load_cohort
from training.fit import FittedCandidate, fit_candidate, out_of_fold, refit
from training.gate import GateResult, evaluate_gate
from training.interval import bootstrap_refits, log_refits
from training.metrics import brier
from training.registry import OVERRIDE_TAG, SAMPLE_SIZE_MET_TAG, Registered, register
from training.sample_size import SampleSize, minimum_sample_size
from training.validate import ValidationReport, validate

log = logging.getLogger(__name__)


class NothingToRegisterError(RuntimeError):
    """No candidate may be registered (e.g. every one is below the Riley minimum)."""


@dataclass(frozen=True)
class CandidateResult:
    fitted: FittedCandidate
    report: ValidationReport
    sample_size: SampleSize
    gate: GateResult
    run_id: str
    model_uri: str

    @property
    def name(self) -> str:
        return self.fitted.candidate.name

    @property
    def sample_size_met(self) -> bool:
        return int(self.report.apparent["n"]) >= self.sample_size.n


@dataclass(frozen=True)
class TrainingResult:
    parent_run_id: str
    results: list[CandidateResult]
    chosen: CandidateResult
    registered: Registered
    model_card_path: str


def _sample_size(
    fitted: FittedCandidate, cohort: ModellingCohort, config: TrainingConfig
) -> SampleSize:
    return minimum_sample_size(
        parameters=parameter_count(fitted.pipeline, fitted.candidate.feature_set),
        prevalence=float(np.clip(cohort.y.mean(), 0.05, 0.95)),
        cstatistic=config.sample_size.anticipated_c_statistic,
        shrinkage=config.sample_size.shrinkage,
    )


def _train_candidate(
    candidate: Candidate, cohort: ModellingCohort, config: TrainingConfig
) -> CandidateResult:
    import mlflow

    X = cohort.inputs(candidate.feature_set)
    y: npt.NDArray[np.int64] = cohort.y
    with mlflow.start_run(run_name=candidate.name, nested=True) as run:
        fitted = fit_candidate(candidate, X, y, config)
        report = validate(
            fitted.pipeline,
            X,
            y,
            cohort.frame,
            config,
            refit=functools.partial(refit, fitted.pipeline),
            out_of_fold=out_of_fold(fitted.pipeline, X, y, config),
        )
        size = _sample_size(fitted, cohort, config)
        met = int(report.apparent["n"]) >= size.n
        gate = evaluate_gate(
            {name: report.headline(name) for name in report.apparent},
            report.decision_curve,
            config,
            sample_size_met=met,
            sample_size_override=config.sample_size.allow_below_minimum,
        )
        mlflow.log_params({**fitted.params(), "riley_parameters": size.parameters})
        mlflow.log_metrics(
            {
                **report.mlflow_metrics(),
                "cv_log_loss": fitted.cv_log_loss,
                "tuning_cv_calibration_slope": fitted.cv_calibration_slope,
                "riley_minimum_n": float(size.n),
            }
        )
        mlflow.set_tags({**gate.tags(), SAMPLE_SIZE_MET_TAG: str(met).lower()})
        # Reference distributions for drift checks when the model later scores cohorts.
        mlflow.log_dict(
            reference_bins(cohort.frame, list(input_fields(candidate.feature_set))),
            REFERENCE_BINS_ARTIFACT,
        )
        with tempfile.TemporaryDirectory() as folder:
            log_validation(report, Path(folder))
        info = bundle.log_model(fitted.pipeline, X, cohort.example())
        return CandidateResult(fitted, report, size, gate, run.info.run_id, info.model_uri)


def _choose(results: list[CandidateResult], config: TrainingConfig) -> CandidateResult:
    allowed = [r for r in results if r.sample_size_met or config.sample_size.allow_below_minimum]
    if not allowed:
        details = "; ".join(f"{r.name}: needs {r.sample_size.n}" for r in results)
        raise NothingToRegisterError(
            f"no candidate may be registered: the cohort ({int(results[0].report.apparent['n'])} "
            f"patients) is below the Riley minimum sample size ({details}); use a larger cohort, "
            "fewer parameters, or set sample_size.allow_below_minimum (logged as an override)"
        )
    passing = [r for r in allowed if r.gate.passed] or allowed
    # Cross-validated Brier: the bootstrap's corrected Brier flatters boosted trees in small
    # cohorts (each refit has seen ~63 % of the rows it is scored on).
    return min(passing, key=lambda r: brier(r.report.y, r.report.curve_p))


def train(cohort_path: Path, config: TrainingConfig, settings: Settings) -> TrainingResult:
    """Train, validate, log and register; returns what was registered."""
    store.configure(settings)
    import mlflow

    cohort = load_cohort(cohort_path, eligible_only=config.eligible_only)
    experiment_id = store.ensure_experiment(config.experiment, settings)
    mlflow.set_experiment(experiment_id=experiment_id)  # nested runs follow the active one
    started = datetime.now(UTC)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"train-{started:%Y%m%d-%H%M%S}"
    ) as parent:
        mlflow.log_params(
            {
                "seed": config.seed,
                "cv_folds": config.cv_folds,
                "cv_splitter": "StratifiedKFold(shuffle=True, random_state=seed)",
                "bootstrap_resamples": config.validation.bootstrap_resamples,
                "cohort_sha256": cohort.content_hash,
                "cohort_source": cohort.source,
                "n": len(cohort.y),
                "events": int(cohort.y.sum()),
                **{f"excluded_{k.replace(' ', '_')}": v for k, v in cohort.excluded.items()},
            }
        )
        mlflow.log_dict(config.model_dump(mode="json"), "config.yaml")
        mlflow.log_dict(
            {"columns": cohort.schema, "sha256": cohort.content_hash}, "cohort_schema.json"
        )
        results = [_train_candidate(candidate, cohort, config) for candidate in config.candidates]
        chosen = _choose(results, config)
        comparison = _comparison(results)
        mlflow.log_text(comparison.to_csv(index=False), "comparison.csv")
        mlflow.set_tags({"mrbs.chosen_candidate": chosen.name, "mrbs.chosen_run": chosen.run_id})
        # The refits are logged before the version is registered, which records their digest.
        refits = bootstrap_refits(
            chosen.fitted.pipeline,
            cohort.inputs(chosen.fitted.candidate.feature_set),
            cohort.y,
            n_refits=config.validation.interval_refits,
            seed=config.seed,
            n_jobs=config.n_jobs,
        )
        if refits:
            log_refits(refits, chosen.run_id)
        override = config.sample_size.allow_below_minimum and not chosen.sample_size_met
        registered = register(
            chosen.model_uri,
            config.registered_model,
            chosen.run_id,
            {
                **chosen.gate.tags(),
                SAMPLE_SIZE_MET_TAG: str(chosen.sample_size_met).lower(),
                OVERRIDE_TAG: str(override).lower(),
                "mrbs.candidate": chosen.name,
                "mrbs.feature_set": chosen.fitted.candidate.feature_set,
                "mrbs.cohort_sha256": cohort.content_hash,
                TRAINED_AT_TAG: started.isoformat(),
            },
        )
        card_path = _log_model_card(chosen, registered, cohort, config, started)
    return TrainingResult(parent.info.run_id, results, chosen, registered, card_path)


def _comparison(results: list[CandidateResult]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for r in results:
        row: dict[str, Any] = {
            "candidate": r.name,
            "run_id": r.run_id,
            "gate": "pass" if r.gate.passed else "fail",
        }
        for metric in ("auroc", "calibration_slope", "calibration_intercept", "brier", "ici"):
            row[metric] = round(r.report.headline(metric), 4)
        row["riley_minimum_n"] = r.sample_size.n
        row["gate_reasons"] = "; ".join(r.gate.reasons)
        rows.append(row)
    return pd.DataFrame(rows)


def _log_model_card(
    chosen: CandidateResult,
    registered: Registered,
    cohort: ModellingCohort,
    config: TrainingConfig,
    started: datetime,
) -> str:
    import mlflow
    from mlflow import MlflowClient

    context = model_card.CardContext(
        model_name=registered.name,
        version=registered.version,
        run_id=chosen.run_id,
        trained_at=started.strftime("%Y-%m-%d %H:%M UTC"),
        candidate=chosen.name,
        kind=chosen.fitted.candidate.kind,
        feature_set=chosen.fitted.candidate.feature_set,
        params=chosen.fitted.params(),
        recalibration=chosen.fitted.recalibration,
        cohort_hash=cohort.content_hash,
        n_excluded=cohort.excluded,
        report=chosen.report,
        gate=chosen.gate,
        sample_size=chosen.sample_size,
        resamples=config.validation.bootstrap_resamples,
    )
    text = model_card.markdown(context)
    page = model_card.html(text, f"{registered.name} v{registered.version}")
    client = MlflowClient()
    for run_id in (chosen.run_id, mlflow.active_run().info.run_id):  # type: ignore[union-attr]
        client.log_text(run_id, text, MODEL_CARD_MARKDOWN)
        client.log_text(run_id, page, MODEL_CARD_HTML)
    client.update_model_version(
        registered.name, registered.version, description=text.split("\n## ")[0]
    )
    card = f"runs:/{chosen.run_id}/{MODEL_CARD_HTML}"
    client.set_model_version_tag(registered.name, registered.version, MODEL_CARD_TAG, card)
    return card


def summary_json(result: TrainingResult) -> str:
    return json.dumps(
        {
            "registered_model": result.registered.name,
            "version": result.registered.version,
            "chosen": result.chosen.name,
            "gate_passed": result.chosen.gate.passed,
            "gate_reasons": result.chosen.gate.reasons,
            "model_card": result.model_card_path,
            "candidates": _comparison(result.results)
            .drop(columns=["run_id"])
            .to_dict(orient="records"),
        },
        indent=2,
    )
