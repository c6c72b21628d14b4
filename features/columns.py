"""Validated records as columns: one array per record field, the form MRBS screens and scores.

Numbers and yes/no facts become float64 arrays (a fact is 1.0 or 0.0), NaN where the value is
missing; categories (sex) become object arrays holding the category or None. Validation
(`features.schema`) comes first: the arrays hold canonical values only. A record field absent
from the input is a column of missing values, so whatever reads it sees "not known".

Both ways in arrive here: a validated table (`from_frame`, batch scoring, Spark, the MLflow
model) and validated JSON records (`from_records`, the service).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.record import FIELDS, FIELDS_BY_NAME

Columns = Mapping[str, npt.NDArray[Any]]
FloatArray = npt.NDArray[np.float64]

#: Every declared field, in declaration order.
RECORD_FIELDS: Final = tuple(spec.name for spec in FIELDS)


def is_text(name: str) -> bool:
    """Whether field ``name`` is held as text (a category) rather than as a number."""
    return FIELDS_BY_NAME[name].kind == "category"


def numeric(column: pd.Series) -> FloatArray:
    """A column of numbers or yes/no facts as float64, NaN where missing (or not a number)."""
    if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        column = pd.to_numeric(column, errors="coerce")
    return np.asarray(column.astype("Float64").to_numpy(dtype=float, na_value=np.nan))


def text(column: pd.Series) -> npt.NDArray[np.object_]:
    """A column of categories as objects, None where missing."""
    values = column.astype(object).where(column.notna(), None)
    return np.asarray(values.to_numpy(dtype=object), dtype=object)


def from_frame(frame: pd.DataFrame, fields: Iterable[str] = RECORD_FIELDS) -> dict[str, Any]:
    """The ``fields`` of a validated table (canonical values) as columns."""
    n = len(frame)
    columns: dict[str, Any] = {}
    for name in fields:
        if name not in frame.columns:
            columns[name] = np.full(n, None, dtype=object) if is_text(name) else np.full(n, np.nan)
        else:
            columns[name] = text(frame[name]) if is_text(name) else numeric(frame[name])
    return columns


def from_records(
    records: Sequence[Mapping[str, Any]], fields: Iterable[str] = RECORD_FIELDS
) -> dict[str, Any]:
    """The ``fields`` of validated records (canonical values, None when missing) as columns."""
    names = tuple(fields)
    numbers = [name for name in names if not is_text(name)]
    # One conversion for all numeric fields: None becomes NaN, True and False 1.0 and 0.0.
    matrix = np.array([[record.get(name) for name in numbers] for record in records], dtype=float)
    matrix = matrix.reshape(len(records), len(numbers))
    columns: dict[str, Any] = {name: matrix[:, j] for j, name in enumerate(numbers)}
    for name in names:
        if is_text(name):
            columns[name] = np.array([record.get(name) for record in records], dtype=object)
    return {name: columns[name] for name in names}


def size(columns: Columns) -> int:
    """The number of records the columns hold."""
    return len(next(iter(columns.values()))) if columns else 0


def missing(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where a column holds no value."""
    if values.dtype == object:
        return np.asarray(pd.isna(values), dtype=bool)
    return np.isnan(values)


def frame_of(columns: Columns, fields: Sequence[str]) -> pd.DataFrame:
    """The ``fields`` of ``columns`` as the frame a fitted MRBS pipeline takes."""
    return pd.DataFrame({name: columns[name] for name in fields})
