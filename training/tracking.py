"""MLflow set-up and model logging: quiet, safe for parallel use, explicit about what it stores.

`configure` points MLflow at the configured store and, for the embedded SQLite store, creates
it under a file lock, because several processes creating a fresh SQLite store at once break
its schema migration. `log_pipeline` logs a fitted pipeline with a signature, an input example,
explicit pip requirements (inferring them takes seconds and drags in test packages) and the
reviewed list of types the skops format may load; it never falls back to pickle.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import pandas as pd

from mrbs.settings import Settings

#: Set before MLflow is imported: no telemetry, no git noise where git is absent, no progress
#: bars in logs.
QUIET_ENVIRONMENT: Final = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TQDM_DISABLE": "1",
}

#: Types outside skops' defaults that MRBS pipelines hold, each reviewed: MRBS's own feature
#: steps; numpy dtypes and scipy's B-splines (and its array-conversion alias) inside
#: SplineTransformer; scikit-learn's private calibration and histogram-boosting parts; XGBoost's
#: booster and its scikit-learn wrapper. A pipeline holding anything else is refused.
TRUSTED_TYPES: Final = frozenset(
    {
        "features.pipeline.BaselineFeatures",
        "features.pipeline.ClinicalTerms",
        "numpy.dtype",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",
        "scipy.interpolate._bsplines.BSpline",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
    }
)

#: Distributions a logged MRBS model needs at load time, pinned to the versions it was fit with.
MODEL_REQUIREMENTS: Final = ("scikit-learn", "xgboost", "skops", "numpy", "pandas", "scipy")
FEATURES_PACKAGE: Final = Path(__file__).resolve().parent.parent / "features"


class UntrustedTypesError(RuntimeError):
    """A pipeline holds types nobody has reviewed for the skops format."""


def quiet_environment() -> None:
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".store.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: MLflow exports the URIs it is given to these variables. MRBS reads them as the user's choice
#: of store, so an embedded store configured once would otherwise capture every later
#: `Settings` of the same process (another MRBS_HOME, a test's own store).
_URI_VARIABLES: Final = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextlib.contextmanager
def _environment_kept(names: tuple[str, ...]) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def configure(settings: Settings) -> str:
    """Point MLflow at the configured store, creating the embedded one once; returns its URI."""
    quiet_environment()
    import mlflow
    from mlflow import MlflowClient

    uri = settings.resolved_tracking_uri
    with _environment_kept(_URI_VARIABLES):
        mlflow.set_tracking_uri(uri)
        if settings.registry_uri:
            mlflow.set_registry_uri(settings.registry_uri)
    if settings.is_embedded:
        with _locked(settings.home):
            MlflowClient(uri).search_experiments(max_results=1)  # creates and migrates the store
    return uri


def ensure_experiment(name: str, settings: Settings) -> str:
    """The id of experiment ``name``, created (with its artifacts in the project) if absent."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    location = settings.artifact_root.as_uri() if settings.is_embedded else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:
        # Another process created it between the lookup and the creation.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def pip_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in MODEL_REQUIREMENTS]


def reviewed_trusted_types(pipeline: Any) -> list[str]:
    """The types skops must be told to trust for ``pipeline``; error if any is unreviewed."""
    from skops.io import dumps, get_untrusted_types

    return reviewed(get_untrusted_types(data=dumps(pipeline)), "the pipeline")


def reviewed(untrusted: Iterable[str], what: str) -> list[str]:
    """``untrusted`` (types a skops file asks to trust), sorted; error if any is unreviewed."""
    found = set(untrusted)
    unreviewed = sorted(found - TRUSTED_TYPES)
    if unreviewed:
        raise UntrustedTypesError(
            f"{what} holds types not reviewed for the skops format: "
            f"{', '.join(unreviewed)}; review them and add them to TRUSTED_TYPES in "
            "training/tracking.py (MRBS does not fall back to pickle)"
        )
    return sorted(found)


def log_pipeline(
    pipeline: Any,
    example: pd.DataFrame,
    *,
    registered_model_name: str | None = None,
) -> Any:
    """Log a fitted pipeline as the run's ``model``; returns MLflow's ModelInfo."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    signature = infer_signature(example, pipeline.predict_proba(example))
    return mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=signature,
        input_example=example.head(3),
        pip_requirements=pip_requirements(),
        skops_trusted_types=reviewed_trusted_types(pipeline),
        pyfunc_predict_fn="predict_proba",
        code_paths=[str(FEATURES_PACKAGE)],
        registered_model_name=registered_model_name,
    )


def current_uri() -> str:
    """The tracking URI MLflow is using now (for messages)."""
    import mlflow

    return str(mlflow.get_tracking_uri())
