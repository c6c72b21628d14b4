"""Silence third-party warnings that say nothing to MRBS's users, here and in child processes."""

from __future__ import annotations

import os
import warnings
from typing import Final

#: pandera imports pyspark.pandas when pyspark is installed, which warns about pandas 3 on every
#: start although MRBS never uses pandas-on-Spark.
_PANDAS_ON_SPARK_WARNING: Final = "ignore:PySpark does not yet fully support pandas:FutureWarning"


def quiet_third_party_noise() -> None:
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    # Worker processes (cross-validation in parallel, Spark's Python workers, the server the
    # demo starts) begin afresh: they read the filter from the environment.
    inherited = os.environ.get("PYTHONWARNINGS")
    if inherited is None or _PANDAS_ON_SPARK_WARNING not in inherited:
        joined = [inherited] if inherited else []
        os.environ["PYTHONWARNINGS"] = ",".join([*joined, _PANDAS_ON_SPARK_WARNING])
