"""`mrbs update`: take a registered model to a new site, validate it there and update it.

1. The parent version is pinned and loaded exactly as registered; the local cohort is read and
   validated as for training.
2. The parent is validated on the local cohort (external validation, `training.validate`).
3. The closed testing procedure (`training.updating`) fits the updates the local data support
   and chooses one; each step is reported.
4. The updated model is the parent pipeline with its classifier step replaced by the update
   (`scoring.site_update.SiteUpdate`, holding the fitted parent classifier): one MRBS pipeline
   that the service, the CDS Hooks card, the page and `mrbs score` run unchanged.
5. The updated model is validated on the local cohort (internal validation of the update), and
   the same promotion gate as training is applied to it. The Riley check counts the parameters
   the update estimated on the local cohort.
6. One MLflow run (experiment ``<experiment>-updating``) logs the closed test, both validations
   (the parent's under ``before_update/``), both validation cards and the updated model, which
   is registered as a version of the site model (``<site_model_prefix><site>``) with the
   ``candidate`` alias and its lineage as tags. `mrbs promote --name <site model>` promotes it.

Nothing is logged or registered before every input has been read and checked.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from features.pipeline import model_input
from features.reference import reference_bins
from infra import store
from infra.artifacts import (
    BEFORE_UPDATE_FOLDER,
    MODEL_CARD_TAG,
    REFERENCE_BINS_ARTIFACT,
    TRAINED_AT_TAG,
    VALIDATION_CARD_BEFORE_TAG,
    VALIDATION_CARD_TAG,
)
from infra.settings import Settings
from infra.store import ModelIdentity
from scoring import bundle
from scoring.loading import load
from training import validation_card
from training.artifacts import log_validation
from training.config import TrainingConfig
from training.data import ModellingCohort, load_cohort
from training.gate import GateResult, evaluate_gate
from training.registry import OVERRIDE_TAG, SAMPLE_SIZE_MET_TAG, Registered, register
from training.sample_size import minimum_sample_size
from training.updating import (
    ClosedTest,
    closed_test,
    out_of_fold_update,
    refit_update,
    updated_pipeline,
)
from training.validate import ValidationReport, validate

SITE_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}$")
#: Registry tags that record where a site model comes from.
PARENT_MODEL_TAG: Final = "mrbs.parent_model"
PARENT_VERSION_TAG: Final = "mrbs.parent_version"
PARENT_RUN_TAG: Final = "mrbs.parent_run"
METHOD_TAG: Final = "mrbs.update.method"
METHOD_NAME_TAG: Final = "mrbs.update.method_name"
SITE_TAG: Final = "mrbs.site"
LOCAL_N_TAG: Final = "mrbs.local_n"
LOCAL_EVENTS_TAG: Final = "mrbs.local_events"
COHORT_HASH_TAG: Final = "mrbs.cohort_sha256"


class UpdateError(ValueError):
    """An update that cannot be made; the message names the input and why."""


@dataclass(frozen=True)
class UpdateResult:
    parent: ModelIdentity
    site: str
    test: ClosedTest
    before: ValidationReport
    after: ValidationReport
    gate: GateResult
    registered: Registered
    run_id: str
    cards: dict[str, str]

    def to_json(self) -> str:
        def figures(report: ValidationReport) -> dict[str, dict[str, float]]:
            out = {}
            for name in ("auroc", "calibration_intercept", "calibration_slope", "ici", "oe_ratio"):
                low, high = report.interval(name)
                out[name] = {
                    "estimate": round(report.headline(name), 4),
                    "lower": round(low, 4),
                    "upper": round(high, 4),
                }
            return out

        return json.dumps(
            {
                "parent": self.parent.uri,
                "site_model": self.registered.model_uri,
                "method": self.test.chosen,
                "method_name": self.test.method_name,
                "n": self.test.n,
                "events": self.test.events,
                "before": figures(self.before),
                "after": figures(self.after),
                "gate_passed": self.gate.passed,
                "gate_reasons": self.gate.reasons,
                "validation_cards": self.cards,
            },
            indent=2,
        )


def site_model_name(site: str, config: TrainingConfig) -> str:
    """The registered name of a site's model; `UpdateError` naming --site when unusable."""
    if not SITE_PATTERN.match(site):
        raise UpdateError(
            f"--site: {site!r} is not a usable site name (lower-case letters, digits, '-' and "
            "'_', starting with a letter or digit, at most 63 characters)"
        )
    return f"{config.updating.site_model_prefix}{site}"


def default_site(cohort_path: Path) -> str:
    """The site name taken from the cohort file's name (``baseline-site-b.parquet`` ->
    ``baseline-site-b``), lower-cased, other characters replaced by '-'."""
    return re.sub(r"[^a-z0-9_\-]+", "-", cohort_path.stem.lower()).strip("-_") or "site"


def _sample_size_met(test: ClosedTest, config: TrainingConfig) -> bool:
    parameters = test.parameters(test.chosen)
    if parameters == 0:
        return True
    size = minimum_sample_size(
        parameters=parameters,
        prevalence=float(np.clip(test.events / test.n, 0.05, 0.95)),
        cstatistic=config.sample_size.anticipated_c_statistic,
        shrinkage=config.sample_size.shrinkage,
    )
    return test.n >= size.n


def _log_reports(before: ValidationReport, after: ValidationReport) -> None:
    with tempfile.TemporaryDirectory() as folder:
        log_validation(after, Path(folder))
    with tempfile.TemporaryDirectory() as folder:
        log_validation(before, Path(folder), artifact_path=BEFORE_UPDATE_FOLDER)


def update(
    model_uri: str,
    cohort_path: Path,
    config: TrainingConfig,
    settings: Settings,
    *,
    site: str | None = None,
    echo: Callable[[str], None] = print,
) -> UpdateResult:
    """Validate ``model_uri`` on the local cohort, update it as the closed test chooses,
    validate, log and register the site model (module docstring)."""
    import mlflow

    site = site if site is not None else default_site(cohort_path)
    name = site_model_name(site, config)
    # Refitting an update is a few Newton steps: worker processes would cost more than they save.
    config = config.model_copy(update={"n_jobs": 1})
    store.configure(settings)
    scorer = load(model_uri, settings)
    cohort = load_cohort(cohort_path, eligible_only=config.eligible_only)
    X = model_input(cohort.frame, scorer.fields)
    parent = scorer.pipeline
    echo(f"parent {scorer.identity.uri} on {cohort_path} (site {site})")
    before = validate(parent, X, cohort.y, cohort.frame, config, refit=None)
    echo(_summary_line("before updating", before))
    test = closed_test(parent, X, cohort.y, config)
    for line in test.lines():
        echo(line)
    updated = updated_pipeline(parent, test.chosen_fit)
    after = validate(
        updated,
        X,
        cohort.y,
        cohort.frame,
        config,
        refit=functools.partial(refit_update, updated),
        out_of_fold=out_of_fold_update(updated, X, cohort.y, config),
    )
    echo(_summary_line("after updating (internal validation of the update)", after))
    met = _sample_size_met(test, config)
    gate = evaluate_gate(
        {metric: after.headline(metric) for metric in after.apparent},
        after.decision_curve,
        config,
        sample_size_met=met,
        sample_size_override=config.sample_size.allow_below_minimum,
    )
    experiment_id = store.ensure_experiment(f"{config.experiment}-updating", settings)
    started = datetime.now(UTC)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"update-{site}") as run:
        registered, cards = _log_and_register(
            run.info.run_id, scorer.identity, site, name, cohort, cohort_path, test,
            (before, after), gate, met, updated, X, config, started,
        )  # fmt: skip
    echo(
        f"registered {registered.name} version {registered.version} (alias candidate); "
        f"promotion gate {'passed' if gate.passed else 'not passed: ' + '; '.join(gate.reasons)}"
    )
    return UpdateResult(
        scorer.identity, site, test, before, after, gate, registered, run.info.run_id, cards
    )


def _summary_line(label: str, report: ValidationReport) -> str:
    parts = []
    for metric, short in (
        ("calibration_intercept", "intercept"),
        ("calibration_slope", "slope"),
        ("oe_ratio", "O/E"),
        ("ici", "ICI"),
        ("auroc", "AUROC"),
    ):
        low, high = report.interval(metric)
        parts.append(f"{short} {report.headline(metric):.3f} ({low:.3f} to {high:.3f})")
    return f"{label}: " + ", ".join(parts)


def _log_and_register(
    run_id: str,
    parent: ModelIdentity,
    site: str,
    name: str,
    cohort: ModellingCohort,
    cohort_path: Path,
    test: ClosedTest,
    reports: tuple[ValidationReport, ValidationReport],
    gate: GateResult,
    sample_size_met: bool,
    updated: Pipeline,
    X: pd.DataFrame,
    config: TrainingConfig,
    started: datetime,
) -> tuple[Registered, dict[str, str]]:
    import mlflow
    from mlflow import MlflowClient

    before, after = reports
    fit = test.chosen_fit
    mlflow.log_params(
        {
            "parent_model": parent.uri,
            "site": site,
            "update_method": test.chosen,
            "update_method_name": test.method_name,
            "alpha": test.alpha,
            "update_intercept": fit.intercept_,
            "update_slope": fit.slope_,
            "revision_penalty": fit.penalty,
            "cohort_source": str(cohort_path),
            "cohort_sha256": cohort.content_hash,
            "n": test.n,
            "events": test.events,
            "bootstrap_resamples": config.validation.bootstrap_resamples,
        }
    )
    mlflow.log_metrics(after.mlflow_metrics())
    mlflow.log_metrics({f"before_{k}": v for k, v in before.mlflow_metrics().items()})
    mlflow.log_text(test.table().to_csv(index=False), "updating/closed_test.csv")
    mlflow.log_text("\n".join(test.lines()) + "\n", "updating/closed_test.txt")
    mlflow.set_tags({**gate.tags(), SAMPLE_SIZE_MET_TAG: str(sample_size_met).lower()})
    mlflow.log_dict(reference_bins(cohort.frame, list(X.columns)), REFERENCE_BINS_ARTIFACT)
    _log_reports(before, after)
    info = bundle.log_model(updated, X, cohort.example())
    override = config.sample_size.allow_below_minimum and not sample_size_met
    lineage = {
        PARENT_MODEL_TAG: parent.name,
        PARENT_VERSION_TAG: parent.version,
        PARENT_RUN_TAG: parent.run_id or "-",
        METHOD_TAG: str(test.chosen),
        METHOD_NAME_TAG: test.method_name,
        SITE_TAG: site,
        LOCAL_N_TAG: str(test.n),
        LOCAL_EVENTS_TAG: str(test.events),
        COHORT_HASH_TAG: cohort.content_hash,
        TRAINED_AT_TAG: started.isoformat(),
        SAMPLE_SIZE_MET_TAG: str(sample_size_met).lower(),
        OVERRIDE_TAG: str(override).lower(),
        **{k: v for k, v in parent.tags.items() if k in ("mrbs.candidate", "mrbs.feature_set")},
        **gate.tags(),
    }
    registered = register(info.model_uri, name, run_id, lineage)
    common = {
        "cohort": str(cohort_path),
        "cohort_hash": cohort.content_hash,
        "excluded": cohort.excluded,
        "resamples": config.validation.bootstrap_resamples,
        "run_id": run_id,
    }
    before_card = validation_card.log(
        validation_card.CardContext(
            title=f"Validation card: {parent.uri} at site {site}, before updating",
            model=parent.uri,
            report=before,
            gate=evaluate_gate(
                {m: before.headline(m) for m in before.apparent},
                before.decision_curve,
                config,
                sample_size_met=True,
                sample_size_override=False,
            ),
            **common,  # type: ignore[arg-type]
        ),
        BEFORE_UPDATE_FOLDER,
    )
    after_card = validation_card.log(
        validation_card.CardContext(
            title=f"Validation card: {registered.model_uri} (site {site}, updated from "
            f"{parent.uri} by {test.method_name})",
            model=registered.model_uri,
            report=after,
            gate=gate,
            update_lines=test.lines(),
            **common,  # type: ignore[arg-type]
        )
    )
    client = MlflowClient()
    for key, value in (
        (VALIDATION_CARD_BEFORE_TAG, before_card),
        (VALIDATION_CARD_TAG, after_card),
        (MODEL_CARD_TAG, after_card),
    ):
        client.set_model_version_tag(registered.name, registered.version, key, value)
    client.update_model_version(
        registered.name,
        registered.version,
        description=f"{parent.uri} updated at site {site} by {test.method_name} "
        f"(method {test.chosen}) on {test.n} local patients ({test.events} responders).",
    )
    return registered, {"before": before_card, "after": after_card}
