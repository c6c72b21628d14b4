"""`mrbs score`: whole cohort files scored on this machine or on Apache Spark."""

from serving.batch.io import BatchError
from serving.batch.score import DEFAULT_CHUNK_SIZE, OPTION_HELP, ScoreSummary, score, summary_path

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "OPTION_HELP",
    "BatchError",
    "ScoreSummary",
    "score",
    "summary_path",
]
