"""A model URI to a `Scorer`: pin the version in the registry, download it, load it checked.

An alias (``models:/mrbs-sri4@champion``) is resolved once, to an exact version, before
anything is downloaded; the scorer then answers as that version for its whole life.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from infra import store
from infra.artifacts import REFITS_ARTIFACT
from infra.settings import Settings
from infra.store import ModelIdentity
from scoring import bundle
from scoring.scorer import Scorer


class ModelLoadError(RuntimeError):
    """A model that exists but cannot be read; the message names it and says why."""


def download(identity: ModelIdentity, folder: Path) -> Path:
    """The model folder of ``identity`` (registered, or the URI it was named by) in ``folder``."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=identity.uri, dst_path=str(folder))
    except (MlflowException, OSError) as error:
        raise ModelLoadError(f"model {identity.uri}: cannot be downloaded ({error})") from None
    return Path(local)


def download_refits(identity: ModelIdentity, folder: Path) -> Path | None:
    """The bootstrap refits logged beside ``identity``'s run, or None when it has none."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    if not identity.run_id:
        return None
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=identity.run_id, artifact_path=REFITS_ARTIFACT, dst_path=str(folder)
        )
    except (MlflowException, OSError):
        return None
    return Path(local)


@contextlib.contextmanager
def fetched(model_uri: str, settings: Settings) -> Iterator[tuple[Scorer, Path]]:
    """The scorer of ``model_uri`` (a registry URI, pinned to its version, or a run or path)
    and its local model folder, kept until the block ends.

    Raises `infra.store.ModelNotFoundError` when the registry has no such model, and
    `ModelLoadError` or `scoring.bundle.ModelIntegrityError` when it cannot be trusted to answer.
    """
    if model_uri.startswith(store.STORE_SCHEMES):
        store.configure(settings, create=False)
    identity = store.pin(model_uri)
    with tempfile.TemporaryDirectory(prefix="mrbs-model-") as folder:
        local = download(identity, Path(folder))
        yield bundle.load(local, identity), local


def load(model_uri: str, settings: Settings) -> Scorer:
    """The scorer of ``model_uri``, as `fetched` loads it."""
    with fetched(model_uri, settings) as (scorer, _):
        return scorer
