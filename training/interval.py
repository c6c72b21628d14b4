"""Bootstrap refits of the registered pipeline: the basis of a probability's uncertainty interval.

At training the chosen pipeline is refitted, with its tuned hyperparameters and its
recalibration, on ``validation.interval_refits`` bootstrap resamples of the development cohort,
and the refits are logged beside the run as one skops file. The service carries them with the
model and, when asked, reports the 2.5 and 97.5 percentiles of their predictions for the patient:
how far the probability moves when the model is rebuilt from another sample of the same
population (`scoring.intervals`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from joblib import Parallel, delayed

from infra.artifacts import REFITS_ARTIFACT
from scoring.bundle import dump_reviewed
from training.bootstrap import draw_rows
from training.fit import refit


def bootstrap_refits(
    pipeline: Any,
    X: pd.DataFrame,
    y: npt.NDArray[np.int64],
    *,
    n_refits: int,
    seed: int,
    n_jobs: int = 1,
) -> list[Any]:
    """``n_refits`` clones of ``pipeline``, each fitted on a bootstrap resample of (X, y)."""
    if n_refits < 1:
        return []
    streams = np.random.SeedSequence([seed, 48]).spawn(n_refits)
    draws = [draw_rows(stream, y)[0] for stream in streams]
    refits: list[Any] = Parallel(n_jobs=n_jobs)(
        delayed(refit)(pipeline, X.iloc[rows].reset_index(drop=True), y[rows]) for rows in draws
    )
    return refits


def log_refits(refits: list[Any], run_id: str) -> None:
    """Log ``refits`` to run ``run_id`` at `REFITS_ARTIFACT` (skops, reviewed types only)."""
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(REFITS_ARTIFACT).name
        dump_reviewed(refits, path, "the interval refits")  # refuses unreviewed types
        MlflowClient().log_artifact(run_id, str(path), str(Path(REFITS_ARTIFACT).parent))
