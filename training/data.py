"""The development (or validation) cohort: a baseline table read, validated and filtered.

Rows are excluded, and counted by reason, when they carry a problem (a required value missing or
implausible), when the SRI-4 label is unknown, or (optionally) when the patient is outside the
MRBS population. A cohort without the label, or too small to fit and validate a model, gets a
clear error before anything is fitted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import eligibility, vocabulary
from features.cohort import LABEL
from features.io import read_table
from features.pipeline import input_fields, model_input
from features.record import FIELDS
from features.schema import PROBLEMS, validate_table

#: Fewer responders or non-responders than this cannot support tuning, recalibration and a
#: bootstrap; far more are needed for a model worth using (see the Riley check).
MIN_EVENTS_PER_CLASS: Final = 25


class CohortError(ValueError):
    """A cohort that cannot be used for training or validation; the message says why."""


@dataclass(frozen=True)
class ModellingCohort:
    """Validated rows used for modelling, their labels, and what was left out and why."""

    frame: pd.DataFrame
    y: npt.NDArray[np.int64]
    excluded: dict[str, int]
    content_hash: str
    source: str

    def inputs(self, feature_set: str) -> pd.DataFrame:
        return model_input(self.frame, input_fields(feature_set))

    def example(self, rows: int = 3) -> pd.DataFrame:
        """A few rows of the record fields as the baseline table holds them (booleans, missing
        values): the logged model's input example."""
        present = [spec.name for spec in FIELDS if spec.name in self.frame.columns]
        return self.frame[present].head(rows).reset_index(drop=True)

    @property
    def schema(self) -> dict[str, str]:
        return {str(column): str(dtype) for column, dtype in self.frame.dtypes.items()}


def content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the table's content (row order and values), stable across file formats."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def load_cohort(path: Path, *, eligible_only: bool, require_label: bool = True) -> ModellingCohort:
    """Read and validate a baseline table (as written by `mrbs cohort build`)."""
    raw = read_table(path)
    if require_label and LABEL not in raw.columns:
        raise CohortError(
            f"{path}: no {LABEL} column; build the cohort with `mrbs cohort build` or add the "
            "week-48 SRI-4 label"
        )
    earlier = raw[PROBLEMS].fillna("").astype(str) if PROBLEMS in raw.columns else None
    validated = validate_table(raw.drop(columns=[PROBLEMS], errors="ignore"), table=str(path)).frame
    problems = validated[PROBLEMS].fillna("")
    if earlier is not None:
        problems = problems.where(problems != "", earlier.to_numpy())
    keep = problems.eq("").to_numpy()
    excluded = {"rows with problems": int((~keep).sum())}
    if eligible_only:
        status = (
            vocabulary.booleans(validated[eligibility.ELIGIBLE])[0]
            if eligibility.ELIGIBLE in validated.columns
            else eligibility.screen_frame(validated)[eligibility.ELIGIBLE]
        )
        outside = status.eq(False).fillna(False).to_numpy()
        excluded["outside the MRBS population"] = int((outside & keep).sum())
        keep &= ~outside
    labels = pd.Series(pd.NA, index=validated.index, dtype="boolean")
    if LABEL in validated.columns:
        labels, unreadable = vocabulary.booleans(validated[LABEL])
        if unreadable.any():
            excluded[f"{LABEL} not a yes/no value"] = int((unreadable & keep).sum())
            keep &= ~unreadable
    unknown = labels.isna().to_numpy()
    if require_label:
        excluded["SRI-4 label unknown"] = int((unknown & keep).sum())
        keep &= ~unknown
    frame = validated[keep].reset_index(drop=True)
    y: npt.NDArray[np.int64] = np.asarray(labels[keep].fillna(False), dtype=np.int64)
    if require_label:
        _check_size(path, y)
    return ModellingCohort(frame, y, excluded, content_hash(frame), str(path))


def _check_size(path: Path, y: npt.NDArray[np.int64]) -> None:
    events, non_events = int(y.sum()), int(len(y) - y.sum())
    if min(events, non_events) < MIN_EVENTS_PER_CLASS:
        raise CohortError(
            f"{path}: too small to train: {len(y)} usable patients with {events} responders and "
            f"{non_events} non-responders; at least {MIN_EVENTS_PER_CLASS} of each are needed "
            "(and the Riley minimum sample size for a model worth registering)"
        )
