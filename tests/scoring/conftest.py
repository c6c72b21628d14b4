"""Fitted MRBS pipelines of each family, without a training run: fast enough for every run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from infra.store import ModelIdentity
from scoring.scorer import Scorer
from training.candidates import build_pipeline, with_recalibration
from training.config import Candidate, load_config
from training.data import ModellingCohort, load_cohort

FAMILIES = ("logistic_spline", "xgboost", "xgboost recalibrated (sigmoid)")


@dataclass(frozen=True)
class Fitted:
    scorer: Scorer
    cohort: ModellingCohort

    @property
    def inputs(self) -> pd.DataFrame:
        return self.cohort.inputs(self.scorer.feature_set)


def fit(kind: str, cohort: ModellingCohort, feature_set: str = "extended") -> Any:
    family, _, recalibrated = kind.partition(" ")
    candidate = Candidate(name="m", kind=family, feature_set=feature_set)  # type: ignore[arg-type]
    pipeline = build_pipeline(candidate, load_config().seed)
    if recalibrated:
        pipeline = with_recalibration(pipeline, "sigmoid", cv_folds=3)
    return pipeline.fit(cohort.inputs(feature_set), cohort.y)


@pytest.fixture(scope="session")
def cohort(development_cohort: Path) -> ModellingCohort:
    return load_cohort(development_cohort, eligible_only=True)


@pytest.fixture(scope="module", params=FAMILIES)
def fitted(request: pytest.FixtureRequest, cohort: ModellingCohort) -> Fitted:
    identity = ModelIdentity(name="mrbs-sri4", version="1")
    return Fitted(Scorer(fit(request.param, cohort), identity), cohort)
