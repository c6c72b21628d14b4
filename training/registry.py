"""The model registry: register a version, tag it, and promote it through the gate.

Registered model ``mrbs-sri4`` (configurable). A new version gets the ``candidate`` alias;
`promote` moves the ``champion`` alias only after the promotion gate (`training.gate`) passes
on the metrics and decision curve logged with the version's run, re-evaluated at promotion
time rather than read from a tag.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pandas as pd

from infra.artifacts import DECISION_CURVE_ARTIFACT, MANIFEST_TAG, REFITS_DIGEST_TAG
from infra.store import ModelIdentity
from scoring import bundle
from scoring.loading import download, download_refits
from training.config import TrainingConfig
from training.gate import GateResult, evaluate_gate

CANDIDATE_ALIAS: Final = "candidate"
CHAMPION_ALIAS: Final = "champion"
SAMPLE_SIZE_MET_TAG: Final = "mrbs.sample_size.met"
OVERRIDE_TAG: Final = "mrbs.sample_size.override"


class PromotionRefusedError(RuntimeError):
    """The gate did not pass; the message lists every reason."""


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    run_id: str
    model_uri: str


def register(model_uri: str, name: str, run_id: str, tags: dict[str, str]) -> Registered:
    """Register ``model_uri`` as a new version of ``name`` with the ``candidate`` alias.

    The version is tagged with the manifest of its files (and the digest of its run's interval
    refits), which every later load checks before the model answers (`scoring.bundle.load`).
    """
    import mlflow
    from mlflow import MlflowClient

    version = mlflow.register_model(model_uri, name)
    client = MlflowClient()
    tags = {**tags, **integrity_tags(ModelIdentity(name, str(version.version), run_id))}
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, value)
    client.set_registered_model_alias(name, CANDIDATE_ALIAS, version.version)
    return Registered(name, str(version.version), run_id, f"models:/{name}/{version.version}")


def integrity_tags(identity: ModelIdentity) -> dict[str, str]:
    """The manifest of a registered version's files and the digest of its refits, as tags."""
    with tempfile.TemporaryDirectory(prefix="mrbs-register-") as folder:
        local = download(identity, Path(folder) / "model")
        tags = {MANIFEST_TAG: json.dumps(bundle.manifest(local), sort_keys=True)}
        refits = download_refits(identity, Path(folder) / "refits")
        if refits is not None:
            tags[REFITS_DIGEST_TAG] = bundle.file_digest(refits)
    return tags


def _decision_curve(run_id: str) -> pd.DataFrame:
    import mlflow

    text = mlflow.artifacts.load_text(f"runs:/{run_id}/{DECISION_CURVE_ARTIFACT}")
    return pd.read_csv(io.StringIO(text))


def gate_for_version(name: str, version: str, config: TrainingConfig) -> tuple[GateResult, Any]:
    """Re-evaluate the promotion gate from what the version's run logged."""
    from mlflow import MlflowClient

    client = MlflowClient()
    model_version = client.get_model_version(name, version)
    run_id = model_version.run_id
    if run_id is None:
        raise PromotionRefusedError(
            f"{name} version {version} has no MLflow run to read its gate from"
        )
    run = client.get_run(run_id)
    tags = model_version.tags
    result = evaluate_gate(
        dict(run.data.metrics),
        _decision_curve(run_id),
        config,
        sample_size_met=tags.get(SAMPLE_SIZE_MET_TAG) == "true",
        sample_size_override=tags.get(OVERRIDE_TAG) == "true",
    )
    return result, model_version


def promote(name: str, version: str, config: TrainingConfig) -> GateResult:
    """Move the ``champion`` alias to ``version`` if its gate passes; raise if it does not."""
    from mlflow import MlflowClient

    result, _ = gate_for_version(name, version, config)
    client = MlflowClient()
    for key, value in result.tags().items():
        client.set_model_version_tag(name, version, key, value)
    if not result.passed:
        raise PromotionRefusedError(
            f"{name} version {version} was not promoted: " + "; ".join(result.reasons)
        )
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    client.set_model_version_tag(name, version, "mrbs.promoted_at", datetime.now(UTC).isoformat())
    return result


def resolve_alias(name: str, alias: str) -> str:
    """The exact version an alias points at (so services pin a version, never an alias)."""
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(name, alias).version)
