"""External validation: percentile intervals within each metric's range, and the card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.candidates import build_pipeline
from training.config import Candidate, load_config
from training.data import ModellingCohort, load_cohort
from training.gate import GateResult
from training.validate import ValidationReport, validate
from training.validation_card import CardContext, html, markdown

#: Fits a model and runs the bootstrap: with the slow tests.
pytestmark = pytest.mark.slow

CONFIG = load_config().model_copy(
    update={"validation": load_config().validation.model_copy(update={"bootstrap_resamples": 40})}
)


@pytest.fixture(scope="module")
def external(
    development_cohort: Path, validation_cohort: Path
) -> tuple[ValidationReport, ModellingCohort]:
    development = load_cohort(development_cohort, eligible_only=True)
    candidate = Candidate(name="logistic", kind="logistic_spline", feature_set="core")
    pipeline = build_pipeline(candidate, CONFIG.seed).set_params(classifier__C=0.1)
    pipeline.fit(development.inputs("core"), development.y)
    cohort = load_cohort(validation_cohort, eligible_only=True)
    return validate(
        pipeline, cohort.inputs("core"), cohort.y, cohort.frame, CONFIG, refit=None
    ), cohort


def test_every_external_metric_has_a_percentile_interval_around_it(
    external: tuple[ValidationReport, ModellingCohort],
) -> None:
    report, _ = external
    assert not report.internal
    assert report.bootstrap is None
    for name in ("auroc", "calibration_intercept", "calibration_slope", "oe_ratio", "brier"):
        low, high = report.interval(name)
        assert low <= report.headline(name) <= high, name
    assert 0.0 <= report.interval("ici")[0] <= report.headline("ici")
    assert 0.0 <= report.interval("auroc")[0] <= report.interval("auroc")[1] <= 1.0
    assert report.interval("oe_ratio")[0] > 0.0


def test_the_card_states_every_metric_with_its_interval(
    external: tuple[ValidationReport, ModellingCohort],
) -> None:
    report, cohort = external
    context = CardContext(
        title="Validation card: test",
        model="models:/mrbs-sri4/1",
        cohort="validation.parquet",
        cohort_hash=cohort.content_hash,
        excluded=cohort.excluded,
        report=report,
        gate=GateResult(passed=True),
        resamples=40,
        run_id="run",
    )
    text = markdown(context)
    for label in ("AUROC", "Calibration intercept", "Calibration slope", "Observed / expected"):
        assert label in text
    low, high = report.interval("calibration_slope")
    assert f"{low:.3f} to {high:.3f}" in text
    assert "percentile bootstrap interval over 40 resamples" in text
    page = html(text, context.title)
    assert page.startswith("<!doctype html>")
    assert "<table>" in page
    assert np.isfinite(report.headline("ici"))
