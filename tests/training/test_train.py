"""Training end to end on a simulated cohort: MLflow runs, registry, gate, model card.

Most tests read the session's trained store (`model_store` in tests/conftest.py); the rest
train what they test. All of them train, so all are slow.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import Model

from features.cohort import LABEL
from features.record import REQUIRED
from infra import store
from infra.settings import Settings
from scoring import load
from scoring.bundle import UntrustedTypesError, dump_reviewed
from tests.conftest import ModelStore
from training.config import DEFAULT_CONFIG, TrainingConfig, load_config
from training.data import CohortError, load_cohort
from training.evaluate import evaluate
from training.fit import fit_candidate, out_of_fold, refit
from training.metrics import clinical_metrics
from training.registry import CHAMPION_ALIAS, PromotionRefusedError, promote, resolve_alias
from training.train import NothingToRegisterError, TrainingResult, train
from training.validate import CROSS_VALIDATED, HARRELL, POINT632PLUS, validate


def small_config(**updates: object) -> TrainingConfig:
    """Two model families, few resamples: the whole flow in seconds (configs/quick.yaml)."""
    return load_config(DEFAULT_CONFIG.parent / "quick.yaml").model_copy(update=updates)


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(model_store: ModelStore) -> tuple[TrainingResult, Settings]:
    return model_store.training, model_store.settings


def test_parent_and_nested_runs_are_logged(trained: tuple[TrainingResult, Settings]) -> None:
    result, settings = trained
    store.configure(settings)
    client = MlflowClient()
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["seed"] == str(small_config().seed)
    assert len(parent.data.params["cohort_sha256"]) == 64
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    assert sorted(run.info.run_name for run in children) == ["logistic-core", "xgboost-extended"]
    for child in children:
        metrics = child.data.metrics
        names = ("auroc", "calibration_slope", "calibration_intercept", "oe_ratio", "brier", "ici")
        for name in names:
            assert metrics[f"{name}_lower"] <= metrics[name] <= metrics[f"{name}_upper"]
        assert metrics["ici_lower"] >= 0
        assert "tuning_cv_calibration_slope" in metrics
        # The headline of each metric is the estimate validate.HEADLINE_ESTIMATE names, and
        # Harrell's figures are logged beside it.
        assert metrics["auroc"] == metrics["boot632plus_auroc"]
        assert metrics["brier"] == metrics["boot632plus_brier"]
        assert metrics["calibration_slope"] == metrics["cv_calibration_slope"]
        assert metrics["ici"] == metrics["cv_ici"]
        assert {"harrell_auroc", "harrell_optimism_auroc", "apparent_auroc"} <= set(metrics)
        assert 0.6 < metrics["auroc"] < 0.85
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "plots")}
        assert artifacts == {
            f"plots/{n}.png" for n in ("roc", "calibration", "decision_curve", "effects")
        }
    root = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"config.yaml", "cohort_schema.json", "comparison.csv", "model_card"} <= root


def test_chosen_model_is_registered_with_card_signature_and_alias(
    trained: tuple[TrainingResult, Settings],
) -> None:
    result, settings = trained
    store.configure(settings)
    client = MlflowClient()
    # Each registration takes the candidate alias: the session's store registered version 2
    # after the training's version 1.
    latest = max(int(v.version) for v in client.search_model_versions("name='mrbs-sri4'"))
    assert resolve_alias("mrbs-sri4", "candidate") == str(latest)
    version = client.get_model_version("mrbs-sri4", result.registered.version)
    assert version.tags["mrbs.candidate"] == result.chosen.name
    card = mlflow.artifacts.load_text(f"runs:/{result.chosen.run_id}/model_card/model_card.md")
    for section in (
        "Intended use",
        "Population",
        "Predictors",
        "Missing data",
        "Performance",
        "Calibration",
        "Subgroups",
        "Decision curve",
        "Limitations",
    ):
        assert f"## {section}" in card
    for column in ("Harrell-corrected", ".632+ bootstrap", "cross-validated", "headline is"):
        assert column in card
    assert "<table>" in mlflow.artifacts.load_text(
        f"runs:/{result.chosen.run_id}/model_card/model_card.html"
    )
    signature = Model.load(result.registered.model_uri).signature
    assert signature is not None
    inputs = {spec.name: spec.required for spec in signature.inputs.inputs}
    assert {name for name, required in inputs.items() if required} == set(REQUIRED)
    assert {"blys", "c3_unit", "hiv_positive", "problems"} <= set(inputs)


def test_the_logged_model_is_the_fitted_pipeline_and_plain_mlflow_runs_mrbs(
    trained: tuple[TrainingResult, Settings], development_cohort: Path
) -> None:
    result, settings = trained
    scorer = load(result.registered.model_uri, settings)
    cohort = load_cohort(development_cohort, eligible_only=True)
    X = cohort.inputs(result.chosen.fitted.candidate.feature_set).head(50)
    np.testing.assert_allclose(
        scorer.pipeline.predict_proba(X), result.chosen.fitted.pipeline.predict_proba(X), atol=0
    )
    # A baseline table as `mrbs cohort build` writes it: nullable booleans, missing optional
    # values, its own problems and columns the model does not read; and whole numbers as
    # integers, as a user's own table holds them.
    baseline = pd.read_parquet(development_cohort).head(40)
    baseline["sledai_2k"] = baseline["sledai_2k"].astype("Int64")
    assert baseline["blys"].isna().any()
    assert isinstance(baseline["hiv_positive"].dtype, pd.BooleanDtype)
    store.configure(settings)
    pyfunc = mlflow.pyfunc.load_model(result.registered.model_uri)
    answered = pyfunc.predict(baseline)
    assert len(answered) == len(baseline)
    ok = baseline["problems"].fillna("").eq("").to_numpy()
    assert answered["probability"].notna().to_numpy().tolist() == ok.tolist()
    expected = scorer.pipeline.predict_proba(cohort_inputs(baseline[ok], scorer.fields))[:, 1]
    np.testing.assert_allclose(answered["probability"][ok], np.round(expected, 6), atol=0)
    lean = pyfunc.predict(baseline, params={"contributions": False})
    assert "contributions" not in lean.columns
    assert lean["probability"].equals(answered["probability"])


def cohort_inputs(frame: pd.DataFrame, fields: tuple[str, ...]) -> pd.DataFrame:
    from features.pipeline import model_input
    from features.schema import validate_table

    return model_input(validate_table(frame).frame, fields)


def test_promotion_goes_through_the_gate(trained: tuple[TrainingResult, Settings]) -> None:
    result, settings = trained
    store.configure(settings)
    strict = small_config(gate=small_config().gate.model_copy(update={"min_auroc": 0.99}))
    with pytest.raises(PromotionRefusedError, match=r"AUROC .* below 0\.99"):
        promote("mrbs-sri4", result.registered.version, strict)
    with pytest.raises(mlflow.exceptions.MlflowException):
        resolve_alias("mrbs-sri4", CHAMPION_ALIAS)
    promote("mrbs-sri4", result.registered.version, small_config())
    assert resolve_alias("mrbs-sri4", CHAMPION_ALIAS) == result.registered.version


def test_external_validation_on_another_cohort(
    trained: tuple[TrainingResult, Settings], validation_cohort: Path
) -> None:
    result, settings = trained
    evaluation = evaluate(result.registered.model_uri, validation_cohort, small_config(), settings)
    report = evaluation.report
    assert not report.internal
    assert 0.6 < report.apparent["auroc"] < 0.85
    low, high = report.interval("auroc")
    assert low < report.apparent["auroc"] < high
    assert '"gate_passed"' in evaluation.to_json()


def test_headline_is_632plus_for_discrimination_and_cross_validated_for_calibration(
    development_cohort: Path,
) -> None:
    config = small_config()
    candidate = config.candidates[0]
    cohort = load_cohort(development_cohort, eligible_only=True)
    X, y = cohort.inputs(candidate.feature_set), cohort.y
    fitted = fit_candidate(candidate, X, y, config)
    predictions = out_of_fold(fitted.pipeline, X, y, config)
    refit_again = functools.partial(refit, fitted.pipeline)
    report = validate(
        fitted.pipeline, X, y, cohort.frame, config, refit=refit_again, out_of_fold=predictions
    )
    assert report.bootstrap is not None
    assert report.headline_estimate("auroc").method == POINT632PLUS
    assert report.headline("auroc") == report.bootstrap.point632plus["auroc"].estimate
    cross_validated = clinical_metrics(y, predictions)
    for name in ("calibration_slope", "calibration_intercept", "ici", "oe_ratio"):
        assert report.headline_estimate(name).method == CROSS_VALIDATED
        assert report.headline(name) == cross_validated[name]
    assert report.estimates("auroc")[HARRELL].value == report.bootstrap.metrics["auroc"].corrected
    summary = report.summary().set_index("metric")
    assert summary.loc["auroc", "headline_estimate"] == POINT632PLUS
    # Without resamples there is no .632+ estimate: the cross-validated value is quoted.
    without = small_config(
        validation=config.validation.model_copy(update={"bootstrap_resamples": 0})
    )
    plain = validate(
        fitted.pipeline, X, y, cohort.frame, without, refit=refit_again, out_of_fold=predictions
    )
    assert plain.headline_estimate("auroc").method == CROSS_VALIDATED
    assert plain.headline("auroc") == cross_validated["auroc"]


def test_cohort_without_label_is_a_clear_error(development_cohort: Path, tmp_path: Path) -> None:
    path = tmp_path / "no-label.parquet"
    pd.read_parquet(development_cohort).drop(columns=[LABEL]).to_parquet(path)
    with pytest.raises(CohortError, match=f"no {LABEL} column"):
        train(path, small_config(), Settings(home=tmp_path / "mlruns"))


def test_cohort_too_small_is_a_clear_error(development_cohort: Path, tmp_path: Path) -> None:
    path = tmp_path / "small.parquet"
    pd.read_parquet(development_cohort).head(40).to_parquet(path)
    with pytest.raises(CohortError, match=r"too small to train: \d+ usable patients"):
        train(path, small_config(), Settings(home=tmp_path / "mlruns"))


def test_below_riley_minimum_needs_an_override(development_cohort: Path, tmp_path: Path) -> None:
    path = tmp_path / "modest.parquet"
    pd.read_parquet(development_cohort).head(500).to_parquet(path)
    config = small_config(candidates=small_config().candidates[:1])
    with pytest.raises(NothingToRegisterError, match="below the Riley minimum"):
        train(path, config, Settings(home=tmp_path / "a"))
    allowed = config.model_copy(
        update={"sample_size": config.sample_size.model_copy(update={"allow_below_minimum": True})}
    )
    settings = Settings(home=tmp_path / "b")
    result = train(path, allowed, settings)
    store.configure(settings)
    tags = MlflowClient().get_model_version("mrbs-sri4", result.registered.version).tags
    assert tags["mrbs.sample_size.override"] == "true"
    assert tags["mrbs.sample_size.met"] == "false"


class Unreviewed:
    """A type nobody reviewed for the skops format."""


def test_unreviewed_types_are_refused_not_pickled(tmp_path: Path) -> None:
    with pytest.raises(UntrustedTypesError, match=r"Unreviewed"):
        dump_reviewed({"step": Unreviewed()}, tmp_path / "model.skops", "the pipeline")


def test_an_undefined_632plus_falls_back_to_the_cross_validated_headline(
    trained: tuple[TrainingResult, Settings],
) -> None:
    report = trained[0].chosen.report
    assert report.bootstrap is not None
    assert report.headline_estimate("auroc").method == POINT632PLUS
    undefined = dataclasses.replace(report.bootstrap.point632plus["auroc"], estimate=float("nan"))
    bootstrap = dataclasses.replace(
        report.bootstrap, point632plus={**report.bootstrap.point632plus, "auroc": undefined}
    )
    fallback = dataclasses.replace(report, bootstrap=bootstrap).headline_estimate("auroc")
    assert fallback.method == CROSS_VALIDATED
    assert np.isfinite(fallback.value)
