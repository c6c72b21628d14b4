"""Load a pinned model version from the MLflow registry into a `Predictor`.

An alias (``models:/mrbs-sri4@champion``) is resolved once, to an exact version, before
anything is loaded; the predictor then answers as that version for its whole life.
"""

from __future__ import annotations

import re
from typing import Final

from mrbs.settings import Settings
from serving.predictor import ModelIdentity, Predictor
from training import tracking

DEFAULT_MODEL_URI: Final = "models:/mrbs-sri4@champion"
_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w\-]+))$")


class ModelNotFoundError(LookupError):
    """The model URI names nothing loadable; the message says what to do."""


def pin(model_uri: str) -> tuple[str, ModelIdentity]:
    """Resolve a registry URI to ``models:/<name>/<version>`` and the version's identity.

    Other URIs (``runs:/``, a local path) are loaded as they are, identified by the URI.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    match = _REGISTRY_URI.match(model_uri)
    if match is None:
        return model_uri, ModelIdentity(name=model_uri, version="unregistered")
    name = match["name"]
    client = MlflowClient()
    try:
        if match["alias"]:
            version = client.get_model_version_by_alias(name, match["alias"])
        else:
            version = client.get_model_version(name, match["version"])
    except MlflowException as error:
        raise ModelNotFoundError(
            f"{model_uri}: not in the registry at {tracking.current_uri()} ({error.message}); "
            "train and promote a model first (`mrbs train`, `mrbs promote`)"
        ) from None
    identity = ModelIdentity(
        name=name,
        version=str(version.version),
        run_id=version.run_id or "",
        trained_at=version.tags.get("mrbs.trained_at", ""),
        metadata=dict(version.tags),
    )
    return f"models:/{name}/{version.version}", identity


def load_predictor(model_uri: str, settings: Settings) -> Predictor:
    """The predictor of ``model_uri`` (default: the registry's champion), pinned to a version."""
    tracking.configure(settings)
    import mlflow.sklearn

    pinned, identity = pin(model_uri)
    return Predictor(mlflow.sklearn.load_model(pinned), identity)
