"""The warning policy: third-party noise MRBS's entry points silence, for themselves and children.

Nothing here runs on import. Each entry point (the `mrbs` command, the demo, benchmarks) calls
`quiet_process` once before importing MLflow; processes MRBS starts itself (the server, Spark's
Python workers) get the same policy through the environment they are started with
(`child_environment`), never by rewriting this process's environment behind its back.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Final

#: pandera imports pyspark.pandas when pyspark is installed, which warns about pandas 3 on every
#: start although MRBS never uses pandas-on-Spark.
PANDAS_ON_SPARK_WARNING: Final = "PySpark does not yet fully support pandas"
#: MLflow warns about its own response types whenever mlflow.pyfunc is imported.
MLFLOW_TYPE_HINT_WARNING: Final = ".*Any type hint is inferred as AnyType"
#: The policy as a PYTHONWARNINGS entry, for processes MRBS starts.
CHILD_WARNINGS: Final = f"ignore:{PANDAS_ON_SPARK_WARNING}:FutureWarning"
#: Read by MLflow, GitPython and tqdm when they are imported: no telemetry, no git noise where
#: git is absent, no progress bars in logs. A user's own setting wins.
LIBRARY_DEFAULTS: Final = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TQDM_DISABLE": "1",
}


def silence_warnings() -> None:
    """Filter the third-party warnings that say nothing to MRBS's users, in this process."""
    warnings.filterwarnings("ignore", message=PANDAS_ON_SPARK_WARNING, category=FutureWarning)
    warnings.filterwarnings("ignore", message=MLFLOW_TYPE_HINT_WARNING, category=UserWarning)


def quiet_process() -> None:
    """For entry points only, before MLflow is imported: the warning filter and the library
    defaults above (each only where the user has not set it)."""
    silence_warnings()
    for name, value in LIBRARY_DEFAULTS.items():
        os.environ.setdefault(name, value)


def child_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with the warning policy and library defaults, for a process MRBS starts."""
    environment = {**LIBRARY_DEFAULTS, **base}
    inherited = environment.get("PYTHONWARNINGS", "")
    if CHILD_WARNINGS not in inherited.split(","):
        environment["PYTHONWARNINGS"] = ",".join(filter(None, [inherited, CHILD_WARNINGS]))
    return environment
