"""From the registry to the BentoML store, and into a Bento: one exact version, checked.

`import_model` copies one exact registered version into this process's BentoML store
(``BENTOML_HOME``) with what the service needs beside it: the version and run, its headline
metrics, where its model card is, and its bootstrap refits. A version already there is found by
its registered version and run before anything is downloaded, so `mrbs serve` starts about as
fast as BentoML itself; a new one is loaded once (`scoring.bundle.load`, golden patients
included) before it is stored, so nothing that cannot answer is imported. `build` packages the
service with that model into a Bento, which serves without any MLflow store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Final

from infra import store
from infra.artifacts import (
    BENTO_MLFLOW_MODEL,
    BENTO_MODEL_CARD,
    BENTO_REFIT_TYPES,
    BENTO_REFITS,
    MANIFEST_TAG,
    MODEL_CARD_TAG,
    REFITS_DIGEST_TAG,
)
from infra.settings import Settings
from infra.store import DEFAULT_MODEL_URI, ModelIdentity
from scoring import ModelIntegrityError, bundle
from scoring.loading import download, download_refits

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
#: The packages the service imports; the rest of the project (training, simulator, tests,
#: local stores) stays out of the Bento.
BENTO_SOURCES: Final = (
    "features/**/*.py",
    "scoring/**/*.py",
    "infra/**/*.py",
    "serving/**/*.py",
    "serving/**/*.json",
    "serving/http/page/static/*",
)
SERVICE: Final = "serving.http.service:MRBSService"


def _imported(identity: ModelIdentity) -> str | None:
    """The tag of ``identity`` in the BentoML store, if it was imported before."""
    import bentoml

    try:
        imported = bentoml.models.list(identity.name)
    except bentoml.exceptions.NotFound:
        return None
    for model in imported:
        recorded = model.info.metadata
        if (recorded.get("version"), recorded.get("run_id")) == (
            identity.version,
            identity.run_id,
        ):
            if recorded.get(MANIFEST_TAG) != identity.tags.get(MANIFEST_TAG):
                raise ModelIntegrityError(
                    f"model {identity.name} version {identity.version}: the copy in the BentoML "
                    f"store ({model.tag}) does not match the manifest recorded in the registry; "
                    f"remove it (`bentoml models delete {model.tag}`) and serve again"
                )
            return str(model.tag)
    return None


def _metadata(identity: ModelIdentity) -> dict[str, Any]:
    from mlflow import MlflowClient

    metrics: dict[str, Any] = {}
    if identity.run_id:
        logged = MlflowClient().get_run(identity.run_id).data.metrics
        metrics = {name: float(logged[name]) for name in HEADLINE_METRICS if name in logged}
    return {
        "name": identity.name,
        "version": identity.version,
        "run_id": identity.run_id,
        "trained_at": identity.trained_at,
        "metrics": metrics,
        "model_card": str(identity.tags.get(MODEL_CARD_TAG, "")),
        MANIFEST_TAG: str(identity.tags.get(MANIFEST_TAG, "")),
        REFITS_DIGEST_TAG: str(identity.tags.get(REFITS_DIGEST_TAG, "")),
    }


def import_model(settings: Settings, model_uri: str = DEFAULT_MODEL_URI) -> str:
    """Import the pinned version of ``model_uri`` into the BentoML store; returns its tag.

    Raises `infra.store.ModelNotFoundError`, `scoring.ModelLoadError` or
    `scoring.ModelIntegrityError` when there is no such version or it cannot answer.
    """
    store.configure(settings, create=False)
    identity = store.pin(model_uri)
    if not identity.registered:
        raise store.ModelNotFoundError(
            f"{model_uri}: only registered versions are served (models:/<name>/<version> or "
            "models:/<name>@<alias>)"
        )
    found = _imported(identity)
    if found is not None:
        return found
    import bentoml

    metadata = _metadata(identity)
    with tempfile.TemporaryDirectory() as folder:
        local = download(identity, Path(folder) / "model")
        bundle.load(local, identity)
        refits = download_refits(identity, Path(folder) / "refits")
        if refits is not None:
            bundle.verify_file(refits, str(metadata[REFITS_DIGEST_TAG]), identity)
            from skops.io import get_untrusted_types

            metadata[BENTO_REFIT_TYPES] = bundle.reviewed(
                get_untrusted_types(file=refits), "the interval refits"
            )
        with bentoml.models.create(
            identity.name,
            module="mrbs.serving",
            labels={"mlflow_version": identity.version},
            metadata=metadata,
        ) as imported:
            shutil.copytree(local, imported.path_of(BENTO_MLFLOW_MODEL))
            if refits is not None:
                target = Path(imported.path_of(BENTO_REFITS))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(refits, target)
            card = _model_card(str(metadata["model_card"]), Path(folder) / "card")
            if card is not None:
                shutil.copyfile(card, imported.path_of(BENTO_MODEL_CARD))
    return str(imported.tag)


def _model_card(uri: str, folder: Path) -> Path | None:
    """The model card (HTML) at ``uri``, downloaded into ``folder``; None when the version has
    none (the clinician page then says so instead of linking to it)."""
    if not uri:
        return None
    import mlflow

    folder.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder)))


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


def build(tag: str) -> str:
    """Build a Bento serving the imported model ``tag``; returns the Bento's tag."""
    import bentoml

    bento = bentoml.build(
        SERVICE,
        build_ctx=_project_root(),
        include=list(BENTO_SOURCES),
        exclude=["__pycache__"],
        python={"packages": runtime_requirements(), "lock_packages": False},
        labels={"product": "mrbs", "model": tag},
        description="MRBS: probability of SRI-4 response at week 48 of belimumab.",
        args={"bento_model": tag},
    )
    return str(bento.tag)


def _project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
