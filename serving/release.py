"""From the registry to the BentoML store: pin a version, record its canned answer, build.

`import_model` copies one exact registered version into the local BentoML store with what the
service needs beside it: the version and run, its headline metrics, where its model card is,
and the probability it gives the example patient (the service's readiness check). `build`
packages the service with that model into a Bento, which serves without any MLflow store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Final

from mrbs.settings import Settings
from serving.loading import DEFAULT_MODEL_URI, load_predictor
from serving.predictor import INTERVAL_REFITS_FILE, INTERVAL_TRUSTED_TYPES, MLFLOW_MODEL_FOLDER
from serving.settings import ServingSettings

HEADLINE_METRICS: Final = (
    "auroc",
    "auroc_lower",
    "auroc_upper",
    "calibration_slope",
    "calibration_intercept",
    "ici",
    "oe_ratio",
    "brier",
    "scaled_brier",
)


def use_bentoml_home(serving: ServingSettings) -> str:
    """Keep the BentoML store inside MRBS's home unless BENTOML_HOME says otherwise."""
    return os.environ.setdefault("BENTOML_HOME", str(serving.bentoml_home))


def import_model(
    settings: Settings, serving: ServingSettings, model_uri: str = DEFAULT_MODEL_URI
) -> str:
    """Import the pinned version of ``model_uri`` into the BentoML store; returns its tag.

    A version already imported (same registered version and run) is reused.
    """
    use_bentoml_home(serving)
    import bentoml
    import mlflow
    from mlflow import MlflowClient

    from features.schema import patient_model
    from serving.respond import predict_record
    from serving.schemas import example_patient

    predictor = load_predictor(model_uri, settings)
    identity = predictor.identity
    try:
        imported_before = bentoml.models.list(identity.name)
    except bentoml.exceptions.NotFound:
        imported_before = []
    for existing in imported_before:
        recorded = existing.info.metadata
        if (
            recorded.get("version") == identity.version
            and recorded.get("run_id") == identity.run_id
        ):
            return str(existing.tag)
    record = patient_model().model_validate(example_patient())
    canned = predict_record(predictor, record).probability
    metrics: dict[str, Any] = {}
    if identity.run_id:
        logged = MlflowClient().get_run(identity.run_id).data.metrics
        metrics = {name: float(logged[name]) for name in HEADLINE_METRICS if name in logged}
    metadata: dict[str, Any] = {
        "name": identity.name,
        "version": identity.version,
        "run_id": identity.run_id,
        "trained_at": identity.trained_at,
        "canned_probability": canned,
        "metrics": metrics,
        "model_card": str(identity.metadata.get("mrbs.model_card", "")),
    }
    with tempfile.TemporaryDirectory() as folder:
        refits = _download_refits(identity.run_id, Path(folder))
        if refits is not None:
            metadata[INTERVAL_TRUSTED_TYPES] = _reviewed_refit_types(refits)
        with bentoml.models.create(
            identity.name,
            module="mrbs.serving",
            labels={"mlflow_version": identity.version},
            metadata=metadata,
        ) as imported:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{identity.name}/{identity.version}",
                dst_path=imported.path_of(MLFLOW_MODEL_FOLDER),
            )
            if refits is not None:
                target = Path(imported.path_of(INTERVAL_REFITS_FILE))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(refits, target)
    return str(imported.tag)


#: The packages the service imports; the rest of the project (training, simulator, tests,
#: local stores) stays out of the Bento.
BENTO_SOURCES: Final = ("features/**/*.py", "serving/**/*.py", "serving/*.json", "mrbs/**/*.py")


def runtime_requirements() -> list[str]:
    """MRBS's own requirements, pinned to the versions installed here (what was tested)."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    pinned = []
    for line in requires("mrbs") or []:
        requirement = Requirement(line)
        if requirement.marker is not None:
            continue  # extras: test tools and Spark
        try:
            pinned.append(f"{requirement.name}=={version(requirement.name)}")
        except PackageNotFoundError:
            pinned.append(str(requirement))
    return pinned


def _download_refits(run_id: str, folder: Path) -> Path | None:
    """The run's bootstrap refits (`training.interval`), or None when it logged none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from training.interval import REFITS_ARTIFACT

    if not run_id:
        return None
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=REFITS_ARTIFACT, dst_path=str(folder)
        )
    except (MlflowException, OSError):
        return None
    return Path(local)


def _reviewed_refit_types(path: Path) -> list[str]:
    """The types the service must trust to load the refits; refused unless all reviewed."""
    from skops.io import get_untrusted_types

    from training.tracking import reviewed

    return reviewed(get_untrusted_types(file=path), "the interval refits")


def build(tag: str, serving: ServingSettings) -> str:
    """Build the Bento serving model ``tag``; returns the Bento's tag."""
    use_bentoml_home(serving)
    os.environ["MRBS_BENTO_MODEL"] = tag
    import bentoml

    bento = bentoml.build(
        "serving.service:MRBSService",
        build_ctx=_project_root(),
        include=list(BENTO_SOURCES),
        exclude=["__pycache__"],
        python={"packages": runtime_requirements(), "lock_packages": False},
        labels={"product": "mrbs", "model": tag},
        description="MRBS: probability of SRI-4 response at week 48 of belimumab.",
    )
    return str(bento.tag)


def _project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
