"""One scoring function for every way MRBS answers, and the MLflow model that runs it.

`Scorer.score` turns validated records into probabilities, bands, contributions, imputed
fields and eligibility; `scoring.table` applies it to table rows, `scoring.bundle` logs and
loads the model it runs, `scoring.intervals` adds the bootstrap interval.
"""

from scoring.bundle import ModelIntegrityError, UntrustedTypesError
from scoring.intervals import INTERVAL_LEVEL, IntervalEstimator
from scoring.loading import ModelLoadError, fetched, load
from scoring.scorer import RISK_BANDS, SHOWN_AS, Scorer, Scores, bands, clip, shown

__all__ = [
    "INTERVAL_LEVEL",
    "RISK_BANDS",
    "SHOWN_AS",
    "IntervalEstimator",
    "ModelIntegrityError",
    "ModelLoadError",
    "Scorer",
    "Scores",
    "UntrustedTypesError",
    "bands",
    "clip",
    "fetched",
    "load",
    "shown",
]
