"""The MLflow store: set up once per process, experiments created safely, registry URIs pinned.

`configure` points MLflow at the configured store and, for the embedded SQLite store, creates
it under a file lock, because several processes creating a fresh SQLite store at once break
its schema migration. `pin` resolves a registry URI (an alias included) to one exact version
and its identity, before anything is loaded, so whatever answers afterwards answers as that
version for its whole life.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from infra.artifacts import TRAINED_AT_TAG
from infra.settings import Settings

DEFAULT_MODEL_URI: Final = "models:/mrbs-sri4@champion"
_REGISTRY_URI: Final = re.compile(
    r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w\-]+))$"
)
#: MLflow exports the URIs it is given to these variables. MRBS reads them as the user's choice
#: of store, so an embedded store configured once would otherwise capture every later
#: `Settings` of the same process (another MRBS_HOME, a test's own store).
_URI_VARIABLES: Final = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


class ModelNotFoundError(LookupError):
    """The model URI names nothing loadable; the message says what to do."""


@dataclass(frozen=True)
class ModelIdentity:
    """Which model answers: registered name, exact version and provenance."""

    name: str
    version: str
    run_id: str = ""
    trained_at: str = ""
    tags: Mapping[str, Any] = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        return self.version != UNREGISTERED

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>`` for a registered version, else what was loaded."""
        return f"models:/{self.name}/{self.version}" if self.registered else self.name


#: The version of a model loaded from a run or a path rather than from the registry.
UNREGISTERED: Final = "unregistered"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".store.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


#: Model URIs that are read through the tracking store or the registry (others are paths).
STORE_SCHEMES: Final = ("models:/", "runs:/")


def configure(settings: Settings, *, create: bool = True) -> str:
    """Point MLflow at the configured store, creating the embedded one once; returns its URI.

    With ``create=False`` (commands that only read a model) a missing embedded store is
    `ModelNotFoundError`, and nothing is written where the command was run.
    """
    import mlflow
    from mlflow import MlflowClient

    uri = settings.resolved_tracking_uri
    if not create and settings.is_embedded and not (settings.home / "mlflow.db").is_file():
        raise ModelNotFoundError(
            f"no MRBS model store at {settings.home.resolve()}: run the command where "
            "`mrbs train` was run, or point MRBS_HOME (or MLFLOW_TRACKING_URI) at the store"
        )
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


def current_uri() -> str:
    """The tracking URI MLflow is using now (for messages)."""
    import mlflow

    return str(mlflow.get_tracking_uri())


def pin(model_uri: str) -> ModelIdentity:
    """The identity of the exact version ``model_uri`` names (an alias resolved once).

    Other URIs (``runs:/``, a local path) are identified by the URI itself, as unregistered.
    The store must be configured first (`configure`).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    match = _REGISTRY_URI.match(model_uri)
    if match is None:
        return ModelIdentity(name=model_uri, version=UNREGISTERED)
    name = match["name"]
    client = MlflowClient()
    try:
        if match["alias"]:
            version = client.get_model_version_by_alias(name, match["alias"])
        else:
            version = client.get_model_version(name, match["version"])
    except MlflowException as error:
        raise ModelNotFoundError(
            f"{model_uri}: not in the registry at {current_uri()} ({error.message}); "
            "train and promote a model first (`mrbs train`, `mrbs promote`)"
        ) from None
    return ModelIdentity(
        name=name,
        version=str(version.version),
        run_id=version.run_id or "",
        trained_at=version.tags.get(TRAINED_AT_TAG, ""),
        tags=dict(version.tags),
    )
