"""From the registry to the BentoML store: pin a version, record its canned answer, build.

`import_model` copies one exact registered version into the local BentoML store with what the
service needs beside it: the version and run, its headline metrics, where its model card is,
and the probability it gives the example patient (the service's readiness check). `build`
packages the service with that model into a Bento, which serves without any MLflow store.
"""

from __future__ import annotations

import os
from typing import Any, Final

from mrbs.settings import Settings
from serving.loading import DEFAULT_MODEL_URI, load_predictor
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
        metadata = existing.info.metadata
        if (
            metadata.get("version") == identity.version
            and metadata.get("run_id") == identity.run_id
        ):
            return str(existing.tag)
    record = patient_model().model_validate(example_patient())
    canned = predict_record(predictor, record).probability
    metrics: dict[str, Any] = {}
    if identity.run_id:
        logged = MlflowClient().get_run(identity.run_id).data.metrics
        metrics = {name: float(logged[name]) for name in HEADLINE_METRICS if name in logged}
    imported = bentoml.mlflow.import_model(
        identity.name,
        f"models:/{identity.name}/{identity.version}",
        labels={"mlflow_version": identity.version},
        metadata={
            "name": identity.name,
            "version": identity.version,
            "run_id": identity.run_id,
            "trained_at": identity.trained_at,
            "canned_probability": canned,
            "metrics": metrics,
            "model_card": str(identity.metadata.get("mrbs.model_card", "")),
        },
    )
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
