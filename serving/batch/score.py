"""Batch scoring of a cohort file with one pinned model version: `mrbs score`.

    score(Path("cohort.parquet"), Path("scored.parquet"), settings=Settings())

Every input row comes out, in its original order, with the ``/predict`` response's fields as
columns (`scoring.table` lists them); a row with problems keeps its place with its problems
and no probability. The local engine streams the file in chunks through a small pool of threads
(validation, the model and the writer overlap; memory stays flat however large the file) and
writes atomically and resumably (`serving.batch.output`). The Spark engine
(`serving.batch.spark`) runs the same row scorer once per row on each partition's Arrow
batches, for cohorts that outgrow one machine. Both end with a `ScoreSummary`, written beside
the output as ``<output stem>.summary.json``.

`OPTION_HELP` holds the help text of each command-line option.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

from features.io import atomic_path
from infra.settings import Settings
from infra.store import DEFAULT_MODEL_URI
from serving.batch.drift import load_reference
from serving.batch.io import BatchError, check_output, open_input
from serving.batch.local import Loaded, Options, score_locally, workers
from serving.batch.summary import ScoreSummary, summarise

Engine = Literal["local", "spark"]
DEFAULT_CHUNK_SIZE: Final = 100_000

#: Help of each `mrbs score` argument and option, by parameter name.
OPTION_HELP: Final[dict[str, str]] = {
    "input_path": "Cohort file to score, .parquet or .csv: one baseline row per patient with the "
    "record's columns (as `mrbs cohort build` writes them); other columns are passed through.",
    "output_path": "File to write, .parquet or .csv (with --engine spark: a Parquet folder). "
    "Written only when the run completes, with a summary beside it (<name>.summary.json).",
    "model_uri": "Registered model to score with, e.g. models:/mrbs-sri4@champion or "
    "models:/mrbs-sri4/3; an alias is pinned to its exact version before scoring.",
    "engine": "local: this machine, streaming the file in chunks. spark: Apache Spark, the model "
    "once per row on each executor, Parquet only, on MRBS_SPARK_MASTER (default local[2]).",
    "chunk_size": "Rows read, scored and written at a time (on Spark: rows per Arrow batch). "
    "Larger chunks are slightly faster and use more memory.",
    "resume": "Continue an interrupted run from its last completed chunk when the input, model "
    "version and options are unchanged; --no-resume starts over (local engine).",
    "contributions": "Compute each predictor's contribution to the log-odds (one extra "
    "prediction per patient and predictor); --no-contributions scores about 1.7 times as fast.",
}


def summary_path(output_path: Path) -> Path:
    """Where the summary of a run writing ``output_path`` is written."""
    return output_path.with_name(f"{output_path.stem}.summary.json")


def score(
    input_path: Path,
    output_path: Path,
    *,
    model_uri: str = DEFAULT_MODEL_URI,
    engine: Engine = "local",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    resume: bool = True,
    progress: bool | None = None,
    contributions: bool = True,
    settings: Settings,
) -> ScoreSummary:
    """Score every row of ``input_path`` into ``output_path``; returns the run's summary.

    ``progress`` None shows a progress bar (rows done, rate, time left) when stderr is a
    terminal (local engine). Raises `BatchError`, with what to do, when the input, output,
    options or model cannot be used; nothing is written at ``output_path`` unless the run
    completes. `OPTION_HELP` describes each option.
    """
    started = time.perf_counter()
    if engine not in ("local", "spark"):
        raise BatchError(f"engine: {engine!r} is not local or spark")
    if chunk_size < 1:
        raise BatchError(f"chunk size: {chunk_size} must be at least 1")
    source = open_input(input_path)
    check_output(output_path, input_path, folder=engine == "spark")
    options = Options(
        chunk_size=chunk_size,
        contributions=contributions,
        resume=resume,
        progress=sys.stderr.isatty() if progress is None else progress,
    )
    duplicated, rows_with_duplicate_ids = source.duplicated_ids()
    with _loaded(model_uri, settings) as loaded:
        if engine == "spark":
            from serving.batch.spark import score_on_spark

            state, engine_details = score_on_spark(
                source,
                output_path,
                loaded.scorer,
                loaded.folder,
                master=settings.spark_master,
                bins=loaded.bins,
                chunk_size=chunk_size,
                contributions=contributions,
                duplicated=duplicated,
            )
            resumed_from = 0
        else:
            state, resumed_from = score_locally(source, output_path, loaded, options, duplicated)
            engine_details = {"threads": workers()}
    state.rows_with_duplicate_ids = rows_with_duplicate_ids
    identity = loaded.scorer.identity
    summary = summarise(
        state,
        bins=loaded.bins,
        drift_source=loaded.drift_source,
        header={
            "input": str(input_path),
            "output": str(output_path),
            "engine": engine,
            "engine_details": engine_details,
            "model": {"name": identity.name, "version": identity.version, "uri": identity.uri},
            "contributions": contributions,
            "resumed_from_row": resumed_from,
            "elapsed_seconds": round(time.perf_counter() - started, 3),
            "loading_seconds": round(loaded.seconds, 3),
        },
    )
    with atomic_path(summary_path(output_path)) as temporary:
        temporary.write_text(summary.to_json() + "\n")
    return summary


@contextlib.contextmanager
def _loaded(model_uri: str, settings: Settings) -> Iterator[Loaded]:
    """The model ``model_uri`` names, pinned to one version, with its reference bins; its
    local folder lasts until the block ends."""
    from infra.store import ModelNotFoundError
    from scoring import ModelIntegrityError, ModelLoadError, fetched

    started = time.perf_counter()
    try:
        with fetched(model_uri, settings) as (scorer, folder):
            bins, drift_source = load_reference(scorer.identity.run_id)
            yield Loaded(scorer, folder, bins, drift_source, time.perf_counter() - started)
    except (ModelNotFoundError, ModelLoadError, ModelIntegrityError) as error:
        raise BatchError(str(error)) from None
