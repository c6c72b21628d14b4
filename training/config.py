"""Typed training configuration, read from YAML in `configs/` and validated when loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.pipeline import FeatureSet

CandidateKind = Literal["logistic_spline", "xgboost", "hist_gradient_boosting", "random_forest"]

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Candidate(_Strict):
    """One classifier to fit and compare, with the grid its hyperparameters are tuned over."""

    name: str = Field(pattern=r"^[a-z0-9_\-]+$", description="Run name, unique in the config.")
    kind: CandidateKind
    feature_set: FeatureSet = "core"
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="Classifier hyperparameters -> values to try."
    )


class Recalibration(_Strict):
    """Recalibrate where the cross-validated calibration slope leaves the tolerated band."""

    methods: list[Literal["none", "sigmoid", "isotonic"]] = ["none", "sigmoid", "isotonic"]
    slope_band: tuple[float, float] = (0.9, 1.1)


class Validation(_Strict):
    bootstrap_resamples: int = Field(200, ge=0, le=5000)
    decision_thresholds: tuple[float, float] = (0.1, 0.8)
    clinically_relevant_thresholds: tuple[float, float] = Field(
        (0.3, 0.6),
        description="Range of response-probability thresholds at which a clinician would "
        "decide about belimumab; the promotion gate asks for positive net benefit over it.",
    )
    subgroup_min_events: int = Field(10, ge=1)
    interval_refits: int = Field(
        50,
        ge=0,
        le=1000,
        description="Bootstrap refits of the registered pipeline kept for the service's optional "
        "uncertainty interval of a probability (0: none).",
    )


class SampleSize(_Strict):
    """Riley et al. minimum sample size inputs; below it registration needs an override."""

    anticipated_c_statistic: float = Field(0.70, gt=0.5, lt=1.0)
    shrinkage: float = Field(0.9, gt=0.0, lt=1.0)
    allow_below_minimum: bool = False


class Gate(_Strict):
    """The promotion gate: never AUROC alone."""

    min_auroc: float = 0.60
    calibration_slope: tuple[float, float] = (0.8, 1.2)
    max_abs_calibration_intercept: float = 0.2
    require_positive_net_benefit: bool = True


class Updating(_Strict):
    """Taking a registered model to a new site (`mrbs update`, `training.updating`)."""

    alpha: float = Field(
        0.05,
        gt=0.0,
        lt=1.0,
        description="Level of each likelihood-ratio test of the closed testing procedure "
        "(Vergouwe et al., Stat Med 2017), which keeps the overall type I error near it.",
    )
    revision_penalties: list[float] = Field(
        [0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0],
        min_length=1,
        description="Ridge penalties tried for the revision's deviations from the parent's "
        "coefficients, chosen by cross-validated log-likelihood on the local cohort.",
    )
    site_model_prefix: str = Field(
        "mrbs-sri4-",
        pattern=r"^[a-z0-9_\-]*$",
        description="A site model is registered as this prefix followed by the site's name.",
    )

    @model_validator(mode="after")
    def _positive_penalties(self) -> Updating:
        bad = [p for p in self.revision_penalties if not p > 0]
        if bad:
            raise ValueError(f"revision_penalties: every penalty must be > 0; got {bad}")
        return self


class TrainingConfig(_Strict):
    """Everything one `mrbs train` run needs; logged with the run so it can be reproduced."""

    experiment: str = "mrbs-sri4"
    registered_model: str = "mrbs-sri4"
    seed: int = 20_240_601
    cv_folds: int = Field(5, ge=2, le=20)
    n_jobs: int = Field(1, ge=1)
    eligible_only: bool = Field(
        True, description="Train on patients inside the MRBS population only."
    )
    candidates: list[Candidate] = Field(min_length=1)
    recalibration: Recalibration = Recalibration()
    validation: Validation = Validation()
    sample_size: SampleSize = SampleSize()
    gate: Gate = Gate()
    updating: Updating = Updating()

    @model_validator(mode="after")
    def _unique_names(self) -> TrainingConfig:
        names = [candidate.name for candidate in self.candidates]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"candidates: duplicate name(s) {', '.join(duplicates)}")
        return self


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the fields."""


def load_config(path: Path | None = None) -> TrainingConfig:
    """Load and validate a training configuration (the default one when ``path`` is None)."""
    path = path or DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot be read ({error})") from None
    try:
        return TrainingConfig.model_validate(raw or {})
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{path}: {details}") from None
