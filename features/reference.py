"""Reference distributions of the predictors, logged at training and compared at scoring."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.record import FIELDS_BY_NAME

DEFAULT_BINS: Final = 10

IntArray = npt.NDArray[np.int64]


def _floats(column: pd.Series) -> npt.NDArray[np.float64]:
    numbers = pd.to_numeric(column, errors="coerce").astype("Float64")
    return np.asarray(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _categories(name: str) -> list[Any]:
    spec = FIELDS_BY_NAME[name]
    return [False, True] if spec.kind == "boolean" else list(spec.categories)


@dataclass(frozen=True)
class Bins:
    """One predictor's reference bins and the training cohort's share in each."""

    name: str
    edges: tuple[float, ...] | None
    categories: tuple[Any, ...] | None
    expected: npt.NDArray[np.float64]  # every bin, the missing share last

    def _bins(self) -> int:
        return len(self.edges) + 1 if self.edges is not None else len(self.categories or ())

    def positions(self, column: pd.Series) -> IntArray:
        """The bin of each row of ``column`` (canonical values): the missing values' bin is
        the last; a category the reference never saw is -1 (in no bin)."""
        missing_bin = self._bins()
        if self.edges is not None:
            values = _floats(column)
            found = np.searchsorted(np.asarray(self.edges), values, side="left")
            return np.where(np.isnan(values), missing_bin, found).astype(np.int64)
        assert self.categories is not None
        flags = all(isinstance(c, bool) for c in self.categories)
        typed = column.astype("boolean") if flags else column.astype("string")
        found = np.full(len(typed), -1, dtype=np.int64)
        for index, category in enumerate(self.categories):
            found[typed.eq(category).fillna(False).to_numpy(dtype=bool)] = index
        found[typed.isna().to_numpy(dtype=bool)] = missing_bin
        return found

    def count(self, column: pd.Series) -> IntArray:
        """Rows of ``column`` (canonical values) in each bin, missing last."""
        positions = self.positions(column)
        return np.bincount(positions[positions >= 0], minlength=self._bins() + 1).astype(np.int64)


def reference_bins(
    frame: pd.DataFrame, fields: Sequence[str], *, bins: int = DEFAULT_BINS
) -> dict[str, dict[str, Any]]:
    """The reference table of ``fields`` in ``frame`` (a validated, canonical training cohort).

    Training logs it as `infra.artifacts.REFERENCE_BINS_ARTIFACT` in the model version's run::

        {"sledai_2k": {"edges": [6.0, 8.0, ...], "proportions": [0.12, ...], "missing": 0.0},
         "sex": {"categories": ["F", "M"], "proportions": [0.93, 0.06], "missing": 0.01}, ...}

    Numeric fields are cut at their ``bins``-quantiles (ties merged, so a field with few
    distinct values gets fewer bins; bins closed on the right: ``edges[i-1] < x <= edges[i]``);
    flags and categories keep one bin per value. The share of missing values is a bin of its
    own, so a cohort that stops recording a predictor drifts too. All proportions are of every
    row, so they sum to 1.
    """
    if frame.empty:
        raise ValueError("reference_bins: the frame has no rows")
    table: dict[str, dict[str, Any]] = {}
    for name in fields:
        column = frame[name]
        if FIELDS_BY_NAME[name].kind in ("number", "integer"):
            values = _floats(column)
            present = values[~np.isnan(values)]
            cuts = np.linspace(0, 1, bins + 1)[1:-1]
            edges = tuple(np.unique(np.quantile(present, cuts)).tolist()) if present.size else ()
            counts = Bins(name, edges, None, np.empty(0)).count(column)
            entry: dict[str, Any] = {"edges": list(edges)}
        else:
            categories = tuple(_categories(name))
            counts = Bins(name, None, categories, np.empty(0)).count(column)
            entry = {"categories": list(categories)}
        shares = counts / len(column)
        entry["proportions"] = shares[:-1].tolist()
        entry["missing"] = float(shares[-1])
        table[name] = entry
    return table


def parse_reference(table: Mapping[str, Any]) -> dict[str, Bins]:
    """Bins per predictor from a reference table; ValueError naming the malformed entry."""
    parsed: dict[str, Bins] = {}
    for name, entry in table.items():
        if name not in FIELDS_BY_NAME:
            continue  # a predictor this version of MRBS no longer reads
        try:
            proportions = [float(p) for p in entry["proportions"]]
            missing = float(entry.get("missing", 0.0))
            edges = tuple(float(e) for e in entry["edges"]) if "edges" in entry else None
            categories = tuple(entry["categories"]) if edges is None else None
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"reference bins of {name}: malformed ({error!r})") from None
        expected_bins = len(edges) + 1 if edges is not None else len(categories or ())
        if len(proportions) != expected_bins:
            raise ValueError(
                f"reference bins of {name}: {len(proportions)} proportions for {expected_bins} bins"
            )
        parsed[name] = Bins(name, edges, categories, np.asarray([*proportions, missing]))
    return parsed
