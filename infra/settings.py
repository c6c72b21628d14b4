"""Runtime settings from the environment (pydantic-settings), built by entry points only.

The embedded default keeps everything inside the working directory: a SQLite tracking store and
registry at ``mlruns/mlflow.db`` and artifacts under ``mlruns/artifacts``. The standard
``MLFLOW_TRACKING_URI`` points MRBS at any other store (an ``mlflow server``, a remote
database) instead.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where MRBS keeps its state; every value can be set by an environment variable."""

    model_config = SettingsConfigDict(env_prefix="MRBS_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.cwd() / "mlruns",
        description="Folder of the embedded tracking store and artifacts (MRBS_HOME).",
    )
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "MRBS_TRACKING_URI"),
        description="MLflow tracking URI; default: the SQLite store in `home`.",
    )
    spark_master: str = Field(
        default="local[2]",
        description="Where `mrbs score --engine spark` runs (MRBS_SPARK_MASTER): local[N], "
        "spark://host:7077, yarn or k8s://https://host:443.",
    )
    registry_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_REGISTRY_URI", "MRBS_REGISTRY_URI"),
        description="MLflow registry URI; default: the tracking URI.",
    )

    @property
    def resolved_tracking_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        """Artifact folder for experiments MRBS creates in the embedded store."""
        return (self.home / "artifacts").resolve()

    @property
    def is_embedded(self) -> bool:
        return self.tracking_uri is None
