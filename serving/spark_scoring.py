"""Batch scoring on Apache Spark for cohorts that outgrow one machine: ``--engine spark``.

The model runs through MLflow's ``spark_udf`` on the pinned registered version; everything else
(validation with the record declaration, eligibility, contributions, the output columns) runs on
each partition's Arrow batches through `serving.batch_rows.score_chunk`, the local engine's own
function, so both engines produce the same columns from one implementation. Rows keep their
input order (a row index taken when the file is read, sorted on before writing). The output is
Spark's Parquet layout: a folder of part files at ``--out`` (read it with
``pandas.read_parquet`` or ``pyarrow.dataset``), written into a temporary folder beside it and
renamed into place when complete; the summary is written beside it as with the local engine.
Interrupted jobs are retried by Spark per task, not resumed.

Where Spark runs: ``local[2]`` by default (this machine, two cores). Point it at a cluster with
``MRBS_SPARK_MASTER`` (``spark://host:7077``, ``yarn``, ``k8s://https://host:443``) or submit
the scoring from a driver script with ``spark-submit``::

    MRBS_SPARK_MASTER=spark://head:7077 mrbs score /shared/cohort.parquet \\
        --out /shared/scored.parquet --engine spark

    spark-submit --master yarn --conf spark.executor.memory=4g score_cohort.py

where ``score_cohort.py`` calls `serving.batch.score` (or `score_frame` on a DataFrame read from
any storage Spark reaches, e.g. ``s3a://``). Every executor needs Python 3.11 with MRBS installed
(``pip install mrbs[spark]``: the chunk scorer is MRBS code) and read access to the MLflow
registry's artifacts; the input and output paths must be visible to the driver and to every
executor (a shared filesystem), since the driver checks the input and renames the output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.pipeline import model_input, required_fields
from features.reference import Bins
from features.schema import PROBLEMS
from serving.batch_io import BatchError, InputFile
from serving.batch_model import BatchModel, risk_bands, round_half_even
from serving.batch_rows import (
    PROBABILITY,
    RISK_BAND,
    ScoredChunk,
    chunk_stats,
    output_schema,
    score_chunk,
)
from serving.batch_summary import ChunkStats, SummaryState
from serving.predictor import clip

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MASTER_ENV: Final = "MRBS_SPARK_MASTER"
DEFAULT_MASTER: Final = "local[2]"
#: pyspark warns that pandas 3 is not fully supported; MRBS exchanges Arrow batches with Spark.
_PANDAS_WARNING: Final = "PySpark does not yet fully support pandas"
#: Hidden columns: the udf's probability and the model's inputs.
UDF_PROBABILITY: Final = "_mrbs_udf_probability"
INPUT_PREFIX: Final = "_mrbs_input_"


@contextlib.contextmanager
def spark_session(master: str | None = None, *, batch_rows: int = 100_000) -> Iterator[Any]:
    """A Spark session on ``master`` (default: MRBS_SPARK_MASTER, else local[2]), quiet.

    A session that already exists is used as it is and left running; one started here is
    stopped at the end.
    """
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession()
    if existing is not None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
            yield existing
        return
    master = master or os.environ.get(MASTER_ENV) or DEFAULT_MASTER
    if master.startswith("local"):
        # On one machine the workers are this interpreter, on the loopback interface.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName("mrbs-score")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        # Scored rows have some 80 columns; Spark warns when it shortens such plans in logs.
        .config("spark.sql.debug.maxToStringFields", "500")
        # The same warning on every worker start.
        .config("spark.executorEnv.PYTHONWARNINGS", f"ignore:{_PANDAS_WARNING}:FutureWarning")
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.memory", "2g")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("WARN")
        try:
            yield session
        finally:
            session.stop()


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _model_inputs(scored: ScoredChunk, model: BatchModel) -> list[tuple[str, pa.Array]]:
    """The udf's input columns: the model's fields as its signature types them.

    Spark evaluates a UDF on every row of a batch whatever condition surrounds it, and the
    pipeline refuses a batch with a required value missing; rows with problems therefore get
    placeholder inputs (required 1.0, optional missing) and their result is discarded.
    """
    inputs = model_input(scored.validated, model.fields)
    problem = np.asarray(pc.not_equal(scored.table.column(PROBLEMS), "").to_numpy(), dtype=bool)
    required = set(required_fields(model.features.feature_set))
    columns: list[tuple[str, pa.Array]] = []
    for name in model.fields:
        values = inputs[name]
        if name == "sex":
            text = values.to_numpy(dtype=object).copy()
            text[problem] = None
            columns.append((INPUT_PREFIX + name, pa.array(text, type=pa.string())))
            continue
        numbers = values.to_numpy(dtype=float).copy()
        numbers[problem] = 1.0 if name in required else np.nan
        columns.append((INPUT_PREFIX + name, pa.array(numbers, type=pa.float64())))
    return columns


def _explained_batches(
    batches: Iterator[pa.RecordBatch],
    model: BatchModel,
    schema: pa.Schema,
    contributions: bool,
    source: str,
) -> Iterator[pa.RecordBatch]:
    """Stage one, per partition: every output column, and the model's inputs for the udf."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        scored = score_chunk(
            pa.Table.from_batches([batch]),
            model,
            schema,
            contributions=contributions,
            drift=None,
            source=source,
        )
        out = scored.table
        for name, array in _model_inputs(scored, model):
            out = out.append_column(name, array)
        yield from out.to_batches()


def _finished_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Stage two: ``probability`` and ``risk_band`` from the udf's probability, as /predict."""
    for batch in batches:
        table = pa.Table.from_batches([batch])
        raw = np.asarray(table.column(UDF_PROBABILITY).to_numpy(zero_copy_only=False), dtype=float)
        scored = np.asarray(pc.equal(table.column(PROBLEMS), "").to_numpy(), dtype=bool)
        clipped = clip(raw[scored])
        probability = np.full(raw.size, np.nan)
        probability[scored] = round_half_even(clipped)
        bands = np.full(raw.size, None, dtype=object)
        bands[scored] = risk_bands(clipped)
        table = table.set_column(
            table.schema.get_field_index(PROBABILITY),
            PROBABILITY,
            pa.array(probability, type=pa.float64(), mask=~scored),
        )
        table = table.set_column(
            table.schema.get_field_index(RISK_BAND),
            RISK_BAND,
            pa.array(bands, type=pa.string(), mask=~scored),
        )
        yield from table.drop_columns([UDF_PROBABILITY]).to_batches()


def _stats_batches(
    batches: Iterator[pa.RecordBatch],
    model: BatchModel,
    schema: pa.Schema,
    bins: dict[str, Bins] | None,
) -> Iterator[pa.RecordBatch]:
    """Counts of each batch of the scored rows, as one JSON row."""
    for batch in batches:
        table = pa.Table.from_batches([batch])
        ok = np.asarray(pc.equal(table.column(PROBLEMS), "").to_numpy(zero_copy_only=False))
        canonical = pd.DataFrame(
            {
                name: table.column(INPUT_PREFIX + name).to_pandas()[ok].reset_index(drop=True)
                for name in model.fields
            }
        )
        probability = np.asarray(table.column(PROBABILITY).to_numpy(zero_copy_only=False))[ok]
        stats = chunk_stats(table.select(schema.names), canonical, bins, probability)
        yield pa.RecordBatch.from_pydict({"stats": [json.dumps(stats.to_dict())]})


def score_frame(
    frame: DataFrame,
    model: BatchModel,
    pinned_uri: str,
    *,
    contributions: bool,
    source: str = "input",
) -> tuple[DataFrame, pa.Schema]:
    """The scored rows of a Spark DataFrame of baseline records, partition by partition.

    Returns the DataFrame (the output columns, then the model's inputs as hidden
    ``_mrbs_input_*`` columns) and the Arrow schema of the output columns. No stage moves rows
    between or within partitions, so the rows keep the input's order.
    """
    import mlflow.pyfunc
    from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = output_schema(to_arrow_schema(frame.schema), model, contributions=contributions)
    hidden = [
        pa.field(INPUT_PREFIX + name, pa.string() if name == "sex" else pa.float64())
        for name in model.fields
    ]
    explained_schema = pa.schema([*schema, *hidden])
    explained = frame.mapInArrow(
        lambda batches: _explained_batches(batches, model, schema, contributions, source),
        _spark_schema(explained_schema),
    )
    # MLflow recommends conda environments for spark_udf and announces the flavor it loads;
    # MRBS runs the workers in its own pinned environment on purpose, so both are noise here.
    with _quiet_loggers("mlflow.pyfunc", "mlflow.models"):
        udf = mlflow.pyfunc.spark_udf(
            frame.sparkSession, pinned_uri, result_type="array<double>", env_manager="local"
        )
    inputs = F.struct(*[F.col(INPUT_PREFIX + name).alias(name) for name in model.fields])
    with_model = explained.withColumn(UDF_PROBABILITY, udf(inputs).getItem(1))
    return with_model.mapInArrow(_finished_batches, _spark_schema(explained_schema)), schema


def score_on_spark(
    source: InputFile,
    output: Path,
    model: BatchModel,
    pinned_uri: str,
    *,
    bins: dict[str, Bins] | None,
    chunk_size: int,
    contributions: bool,
    master: str | None = None,
) -> SummaryState:
    """Score a Parquet file with Spark into a Parquet folder at ``output``; returns the totals."""
    if source.format != "parquet" or output.suffix.lower() != ".parquet":
        raise BatchError(
            f"{source.path} -> {output}: the Spark engine reads and writes Parquet; convert the "
            "input or use --engine local"
        )
    temporary = output.parent / f".{output.name}.spark-partial"
    shutil.rmtree(temporary, ignore_errors=True)
    with spark_session(master, batch_rows=chunk_size) as spark:
        from pyspark import StorageLevel

        frame = spark.read.parquet(str(source.path.resolve()))
        scored, schema = score_frame(
            frame, model, pinned_uri, contributions=contributions, source=str(source.path)
        )
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            scored.select(*schema.names).write.parquet(str(temporary.resolve()))
            rows = scored.mapInArrow(
                lambda batches: _stats_batches(batches, model, schema, bins), "stats string"
            ).collect()
        finally:
            scored.unpersist()
    state = SummaryState()
    for row in rows:
        state.add(ChunkStats.from_dict(json.loads(row["stats"])))
    _replace(temporary, output)
    return state


def _replace(temporary: Path, output: Path) -> None:
    """Put the completed folder at ``output`` (a previous output is removed first)."""
    if output.is_dir():
        shutil.rmtree(output)
    elif output.exists():
        output.unlink()
    os.replace(temporary, output)
