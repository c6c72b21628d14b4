"""What a scoring run produced: counts per chunk, merged into the run's summary.

Each scored chunk yields `ChunkStats`; `SummaryState` adds them up in input order and becomes the
`ScoreSummary` printed at the end and written beside the output. Probabilities are kept as a
histogram over their 6-decimal values (1,000,001 counters), so the quantiles and the mean are
exact for the output column whatever the cohort's size, in constant memory. The state is saved
with each completed chunk, so a resumed run reports on every row, not only the last ones.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from features.notes import SEPARATOR
from features.reference import Bins, IntArray
from scoring.scorer import DECIMALS
from serving.batch.drift import drift_report

#: Probability quantiles reported in the summary.
QUANTILES: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
MICRO: Final = 10**DECIMALS
HISTOGRAM_BINS: Final = MICRO + 1


def count_parts(notes: pa.Array) -> Counter[str]:
    """How many rows mention each note in ``"; "``-joined strings (empty and null: none)."""
    parts = pc.list_flatten(pc.split_pattern(pc.fill_null(notes, ""), SEPARATOR))
    parts = parts.filter(pc.not_equal(parts, ""))
    if len(parts) == 0:
        return Counter()
    counted = pc.value_counts(parts)
    return Counter(
        dict(
            zip(
                counted.field("values").to_pylist(),
                counted.field("counts").to_pylist(),
                strict=True,
            )
        )
    )


@dataclass
class ChunkStats:
    """Counts from one scored chunk."""

    rows: int
    micro: npt.NDArray[np.int64]  # scored probabilities in millionths
    bands: Counter[str]
    problems: Counter[str]
    rows_with_problems: int
    rows_flagged: int
    eligibility: Counter[str]  # eligible / outside / unknown
    outside_reasons: Counter[str]
    unknown_criteria: Counter[str]
    drift: dict[str, IntArray]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (probabilities as distinct values and their counts)."""
        values, counts = np.unique(self.micro, return_counts=True)
        state = {k: v for k, v in self.__dict__.items() if k not in ("micro", "drift")}
        state["micro"] = [values.tolist(), counts.tolist()]
        state["drift"] = {name: counts_.tolist() for name, counts_ in self.drift.items()}
        return state

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> ChunkStats:
        values, counts = state["micro"]
        counters = ("bands", "problems", "eligibility", "outside_reasons", "unknown_criteria")
        return cls(
            rows=int(state["rows"]),
            micro=np.repeat(np.asarray(values, dtype=np.int64), np.asarray(counts, dtype=int)),
            rows_with_problems=int(state["rows_with_problems"]),
            rows_flagged=int(state["rows_flagged"]),
            drift={k: np.asarray(v, dtype=np.int64) for k, v in state["drift"].items()},
            **{name: Counter(state[name]) for name in counters},
        )


@dataclass
class SummaryState:
    """Running totals over the chunks scored so far."""

    rows_in: int = 0
    rows_scored: int = 0
    rows_with_problems: int = 0
    rows_flagged: int = 0
    #: Rows whose patient id another row holds too (counted once, before scoring).
    rows_with_duplicate_ids: int = 0
    bands: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    eligibility: Counter[str] = field(default_factory=Counter)
    outside_reasons: Counter[str] = field(default_factory=Counter)
    unknown_criteria: Counter[str] = field(default_factory=Counter)
    drift: dict[str, IntArray] = field(default_factory=dict)
    histogram: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    )

    def add(self, stats: ChunkStats) -> None:
        self.rows_in += stats.rows
        self.rows_scored += int(stats.micro.size)
        self.rows_with_problems += stats.rows_with_problems
        self.rows_flagged += stats.rows_flagged
        for name in ("bands", "problems", "eligibility", "outside_reasons", "unknown_criteria"):
            getattr(self, name).update(getattr(stats, name))
        for name, counts in stats.drift.items():
            self.drift[name] = self.drift.get(name, np.zeros_like(counts)) + counts
        self.histogram += np.bincount(stats.micro, minlength=HISTOGRAM_BINS)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the histogram, JSON-ready (the histogram is saved as an array)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("drift", "histogram")}
        state["drift"] = {name: counts.tolist() for name, counts in self.drift.items()}
        return state

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], histogram: npt.NDArray[np.int64]) -> SummaryState:
        restored = cls(histogram=np.asarray(histogram, dtype=np.int64))
        for name, value in state.items():
            if name == "drift":
                restored.drift = {k: np.asarray(v, dtype=np.int64) for k, v in value.items()}
            elif isinstance(value, dict):
                setattr(restored, name, Counter(value))
            else:
                setattr(restored, name, int(value))
        return restored

    def probability_report(self) -> dict[str, Any]:
        """Mean, quantiles (numpy's linear interpolation) and band counts of the output."""
        n = int(self.histogram.sum())
        report: dict[str, Any] = {"scored": n, "bands": dict(sorted(self.bands.items()))}
        if n == 0:
            return report
        cumulative = np.cumsum(self.histogram)
        micro = np.arange(HISTOGRAM_BINS, dtype=np.int64)

        def order_statistic(k: int) -> float:
            return float(np.searchsorted(cumulative, k + 1)) / MICRO

        quantiles: dict[str, float] = {}
        for q in QUANTILES:
            h = (n - 1) * q
            low, high = order_statistic(int(np.floor(h))), order_statistic(int(np.ceil(h)))
            quantiles[f"{q:g}"] = round(low + (h - np.floor(h)) * (high - low), DECIMALS)
        total = int(np.dot(self.histogram, micro))
        report["mean"] = round(total / n / MICRO, DECIMALS)
        report["min"] = order_statistic(0)
        report["max"] = order_statistic(n - 1)
        report["quantiles"] = quantiles
        return report

    def population_report(self) -> dict[str, Any]:
        """Counts and shares inside, outside and unknown to the MRBS population."""
        rows = max(self.rows_in, 1)
        counts = {key: int(self.eligibility.get(key, 0)) for key in ("eligible", "outside")}
        counts["unknown"] = int(self.eligibility.get("unknown", 0))
        return {
            **counts,
            "share_outside": round(counts["outside"] / rows, 4),
            "share_unknown": round(counts["unknown"] / rows, 4),
            "outside_reasons": dict(self.outside_reasons.most_common()),
            "unknown_criteria": dict(self.unknown_criteria.most_common()),
        }


@dataclass(frozen=True)
class ScoreSummary:
    """The end of a scoring run: what went in, what came out, and how far to trust it.

    ``problems`` counts rows per problem (a row with two problems counts under both);
    ``probability`` holds the mean, quantiles and band counts of the scored rows;
    ``population`` the share of rows outside the MRBS population or with a criterion unknown;
    ``drift`` the PSI of each predictor against the training cohort, with warnings.
    ``engine_details``: the local engine's threads, or Spark's master and the rows its workers
    ran through the model. ``elapsed_seconds`` is the whole run; ``loading_seconds`` the part
    spent resolving and loading the model and its reference bins; ``resumed_from_row`` the rows
    an earlier, interrupted run had completed (0 when none).
    """

    input: str
    output: str
    engine: str
    engine_details: dict[str, Any]
    model: dict[str, str]
    rows_in: int
    rows_scored: int
    rows_with_problems: int
    problems: dict[str, int]
    rows_flagged: int
    rows_with_duplicate_ids: int
    probability: dict[str, Any]
    population: dict[str, Any]
    drift: dict[str, Any]
    contributions: bool
    resumed_from_row: int
    elapsed_seconds: float
    loading_seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def warnings(self) -> list[str]:
        return list(self.drift.get("warnings", []))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second, 1)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def describe(self) -> str:
        """A few lines for a terminal: counts, the distribution, the population, warnings."""
        quantiles = self.probability.get("quantiles", {})
        lines = [
            f"scored {self.rows_scored:,} of {self.rows_in:,} rows with {self.model['name']} "
            f"v{self.model['version']} in {self.elapsed_seconds:.1f} s -> {self.output}",
            f"rows with problems (no probability): {self.rows_with_problems:,}",
            *(f"  {count:,}  {reason}" for reason, count in list(self.problems.items())[:10]),
        ]
        if self.rows_with_duplicate_ids:
            lines.append(
                f"rows whose patient_id another row holds too (flagged, still scored): "
                f"{self.rows_with_duplicate_ids:,}"
            )
        if quantiles:
            lines.append(
                f"probability: mean {self.probability['mean']:.3f}, median {quantiles['0.5']:.3f}"
                f", 5-95 % {quantiles['0.05']:.3f}-{quantiles['0.95']:.3f}; bands "
                + ", ".join(f"{k} {v:,}" for k, v in self.probability["bands"].items())
            )
        lines.append(
            f"outside the MRBS population: {self.population['share_outside']:.1%}, "
            f"eligibility unknown: {self.population['share_unknown']:.1%}"
        )
        lines.append(f"drift: {self.drift.get('note', '')}")
        lines += [f"warning: {text}" for text in self.warnings]
        return "\n".join(lines)


def summarise(
    state: SummaryState,
    *,
    bins: Mapping[str, Bins] | None,
    drift_source: str,
    header: Mapping[str, Any],
) -> ScoreSummary:
    """The run's summary from its totals; ``header`` names the input, output, model, etc."""
    return ScoreSummary(
        rows_in=state.rows_in,
        rows_scored=state.rows_scored,
        rows_with_problems=state.rows_with_problems,
        problems=dict(state.problems.most_common()),
        rows_flagged=state.rows_flagged,
        rows_with_duplicate_ids=state.rows_with_duplicate_ids,
        probability=state.probability_report(),
        population=state.population_report(),
        drift=drift_report(bins, state.drift, state.rows_scored, drift_source),
        **header,
    )
