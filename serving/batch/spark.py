"""Batch scoring on Apache Spark, for cohorts that outgrow one machine: ``--engine spark``.

The model runs once per row, in an Arrow UDF around the local engine's own row scorer
(`scoring.table.score_rows`): only the columns validation and the model read (the record
fields, their unit columns and the input's own ``problems`` and ``flags``) travel from the JVM
to Python, as one struct, and only the prediction columns come back; every other column stays in
the JVM and is written as it was. Each Python worker loads the model once, from the model folder
Spark ships to it (`SparkContext.addFile`), checked against its golden patients like every other
load. The summary is computed with Spark aggregations over the scored rows (kept in memory or on
disk for the write and the counts, so the model never runs twice on a row), with the same
figures as the local engine's. Rows keep their input order: no stage moves rows between or
within partitions. The output is Spark's Parquet layout, a folder of part files at ``--out``
(read it with ``pandas.read_parquet`` or ``pyarrow.dataset``), written into a temporary folder
beside it and renamed into place when complete. Interrupted jobs are retried by Spark per task,
not resumed.

Where Spark runs: ``local[2]`` by default (this machine, two cores). Point it at a cluster with
``MRBS_SPARK_MASTER`` (``spark://host:7077`` for a standalone cluster, ``yarn``,
``k8s://https://host:443``), or submit a driver script that calls `serving.batch.score.score`
(or `score_frame` on a DataFrame read from any storage Spark reaches, e.g. ``s3a://``)::

    MRBS_SPARK_MASTER=spark://head:7077 mrbs score /shared/cohort.parquet \\
        --out /shared/scored.parquet --engine spark

    spark-submit --master yarn --deploy-mode client \\
        --conf spark.pyspark.python=/opt/mrbs/bin/python score_cohort.py

What each executor needs: Python 3.11 with MRBS installed (``pip install 'mrbs[spark]'``, the
same version as the driver: the row scorer is MRBS code; on YARN or Kubernetes ship it as a
packed virtualenv with ``--archives`` or bake it into the executor image), and nothing else:
the model travels with the job, so executors need no access to the MLflow store. The driver
needs the MLflow store (it pins and downloads the model), and the input and output paths must be
visible to the driver and to every executor (a shared filesystem or object store), since the
driver checks the input and renames the output. On one machine, the Python workers are the
interpreter named by ``PYSPARK_PYTHON`` (`mrbs score` sets it to its own).

Parallelism follows the input: Spark splits a Parquet file only between row groups, so a cohort
meant for Spark is written as several files or with row groups of about 100,000 rows
(``pyarrow.parquet.write_table(..., row_group_size=100_000)``); a file of one row group is
scored by one Python worker whatever the cluster.
"""

from __future__ import annotations

import contextlib
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np
import pyarrow as pa

from features.eligibility import ELIGIBLE, REASONS
from features.notes import SEPARATOR
from features.reference import Bins
from features.schema import FLAGS, PROBLEMS
from features.tables import PATIENT_ID
from infra.quiet import child_environment, silence_warnings
from infra.store import ModelIdentity
from scoring.scorer import Scorer
from scoring.table import (
    ELIGIBILITY_UNKNOWN,
    PROBABILITY,
    RECORD_COLUMNS,
    RISK_BAND,
    prediction_fields,
    record_frame,
    score_rows,
)
from serving.batch.chunks import flag_duplicates
from serving.batch.io import BatchError, InputFile
from serving.batch.summary import MICRO, ChunkStats, SummaryState

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The struct column the UDF fills, and the prefix of its hidden drift-bin fields.
SCORED: Final = "_mrbs_scored"
BIN_PREFIX: Final = "_mrbs_bin_"
#: Each Python worker's loaded models, by model folder (a worker serves many tasks).
_WORKER_SCORERS: dict[str, Scorer] = {}


@contextlib.contextmanager
def spark_session(master: str, *, batch_rows: int = 100_000) -> Iterator[SparkSession]:
    """A Spark session on ``master``, quiet. A session that already exists (a driver script's,
    or spark-submit's) is used as it is and left running; one started here is stopped."""
    from pyspark.sql import SparkSession

    silence_warnings()
    existing = SparkSession.getActiveSession()
    if existing is not None:
        yield existing
        return
    builder = (
        SparkSession.builder.master(master)
        .appName("mrbs-score")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        # Arrow UDFs otherwise take the Parquet reader's own batches (4,096 rows), and scoring
        # pays its fixed cost per batch (validation, one model call) 25 times as often.
        .config("spark.sql.execution.arrow.pythonUDF.columnarInput.enabled", "false")
        # Scored rows have some 80 columns; Spark warns when it shortens such plans in logs.
        .config("spark.sql.debug.maxToStringFields", "500")
    )
    for name, value in child_environment({}).items():
        builder = builder.config(f"spark.executorEnv.{name}", value)
    if master.startswith("local"):
        builder = (
            builder.config("spark.driver.memory", "2g")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    try:
        yield session
    finally:
        session.stop()


def _worker_scorer(folder: str, identity: ModelIdentity) -> Scorer:
    """The model shipped as ``folder``, loaded (and checked) once per Python worker."""
    scorer = _WORKER_SCORERS.get(folder)
    if scorer is None:
        from pyspark import SparkFiles

        from scoring import bundle

        silence_warnings()
        scorer = bundle.load(Path(SparkFiles.get(folder)), identity)
        _WORKER_SCORERS[folder] = scorer
    return scorer


def _scored_batches(
    batches: Iterator[pa.Array],
    *,
    folder: str,
    identity: ModelIdentity,
    fields: list[pa.Field],
    bins: dict[str, Bins],
    contributions: bool,
    source: str,
    rows_seen: Any,
    duplicated: pa.Array | None,
) -> Iterator[pa.Array]:
    """The UDF: each Arrow batch of record structs to the struct of its prediction columns and
    each drift predictor's bin (null for rows that were not scored). ``rows_seen``, a Spark
    accumulator, counts the rows the workers validated and scored."""
    scorer = _worker_scorer(folder, identity)
    for batch in batches:
        rows_seen.add(len(batch))
        table = pa.Table.from_struct_array(batch)
        scored = score_rows(record_frame(table), scorer, contributions=contributions, source=source)
        if duplicated is not None:
            ids = (
                table.column(PATIENT_ID).combine_chunks()
                if PATIENT_ID in table.column_names
                else None
            )
            scored.columns[FLAGS] = flag_duplicates(scored.columns[FLAGS], ids, duplicated)
        arrays = [scored.columns[f.name] for f in fields]
        ok = np.asarray(scored.columns[PROBABILITY].is_valid())
        for name, reference in bins.items():
            positions = np.full(ok.size, -1, dtype=np.int64)
            if name in scored.scored.columns:
                positions[ok] = reference.positions(scored.scored[name])
            arrays.append(pa.array(positions, mask=positions < 0))
        names = [f.name for f in fields] + [BIN_PREFIX + name for name in bins]
        yield pa.StructArray.from_arrays(arrays, names=names)


def score_frame(
    frame: DataFrame,
    scorer: Scorer,
    folder: str,
    *,
    contributions: bool,
    rows_seen: Any,
    bins: dict[str, Bins] | None = None,
    source: str = "input",
    duplicated: pa.Array | None = None,
) -> tuple[DataFrame, pa.Schema]:
    """The scored rows of a Spark DataFrame of baseline records, partition by partition.

    ``folder`` names the model folder already shipped with ``SparkContext.addFile``;
    ``rows_seen`` is a Spark accumulator that counts the rows the workers score. Returns the
    DataFrame (the output columns, then a hidden ``_mrbs_bin_<predictor>`` column per drift
    predictor) and the Arrow schema of the output columns, as the local engine writes them.
    """
    from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
    from pyspark.sql.pandas.types import from_arrow_type, to_arrow_schema

    bins = bins or {}
    fields = prediction_fields(scorer, contributions=contributions)
    produced = pa.struct([*fields, *(pa.field(BIN_PREFIX + name, pa.int64()) for name in bins)])
    identity = scorer.identity

    def scored_batches(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        return _scored_batches(
            batches,
            folder=folder,
            identity=identity,
            fields=fields,
            bins=bins,
            contributions=contributions,
            source=source,
            rows_seen=rows_seen,
            duplicated=duplicated,
        )

    # pyspark's type stubs leave out the type-hinted iterator form used here.
    udf = cast(Any, F.arrow_udf)(scored_batches, from_arrow_type(produced).simpleString())
    read = [c for c in frame.columns if c in RECORD_COLUMNS or c in (PROBLEMS, FLAGS, PATIENT_ID)]
    replaced = {f.name for f in fields}
    kept = [c for c in frame.columns if c not in replaced]
    scored = frame.select(*kept, udf(F.struct(*read)).alias(SCORED))
    hidden = [F.col(f"{SCORED}.{BIN_PREFIX}{name}").alias(BIN_PREFIX + name) for name in bins]
    out = scored.select(
        *kept, *(F.col(f"{SCORED}.{f.name}").alias(f.name) for f in fields), *hidden
    )
    input_schema = to_arrow_schema(frame.select(*kept).schema)
    return out, pa.schema([*input_schema, *fields])


def score_on_spark(
    source: InputFile,
    output: Path,
    scorer: Scorer,
    model_folder: Path,
    *,
    master: str,
    bins: dict[str, Bins] | None,
    chunk_size: int,
    contributions: bool,
    duplicated: pa.Array | None = None,
) -> tuple[SummaryState, dict[str, Any]]:
    """Score a Parquet file with Spark into a Parquet folder at ``output``; returns the totals
    and what Spark did: its master and the rows its workers ran through the model (the rows of
    the file, once each, unless Spark re-ran failed tasks).

    ``model_folder`` is the local MLflow model folder ``scorer`` was loaded from; Spark ships it
    to every executor.
    """
    if source.format != "parquet" or output.suffix.lower() != ".parquet":
        raise BatchError(
            f"{source.path} -> {output}: the Spark engine reads and writes Parquet; convert the "
            "input or use --engine local"
        )
    temporary = output.parent / f".{output.name}.spark-partial"
    shutil.rmtree(temporary, ignore_errors=True)
    with spark_session(master, batch_rows=chunk_size) as spark:
        from pyspark import StorageLevel

        spark.sparkContext.addFile(str(model_folder.resolve()), recursive=True)
        rows_seen = spark.sparkContext.accumulator(0)
        frame = spark.read.parquet(str(source.path.resolve()))
        scored, schema = score_frame(
            frame,
            scorer,
            model_folder.name,
            contributions=contributions,
            rows_seen=rows_seen,
            bins=bins,
            source=str(source.path),
            duplicated=duplicated,
        )
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            scored.select(*schema.names).write.parquet(str(temporary.resolve()))
            state = summarise_scored(scored, bins or {})
        finally:
            scored.unpersist()
        details = {"master": spark.sparkContext.master, "rows_through_model": rows_seen.value}
    _replace(temporary, output)
    return state, details


def summarise_scored(scored: DataFrame, bins: dict[str, Bins]) -> SummaryState:
    """The run's totals, from Spark aggregations over the scored rows."""
    from pyspark.sql import functions as F  # noqa: N812

    counted = scored.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum((F.col(PROBLEMS) != "").cast("long")).alias("problems"),
        F.sum((F.col(FLAGS) != "").cast("long")).alias("flagged"),
        F.sum(F.col(ELIGIBLE).cast("long")).alias("eligible"),
        F.sum((~F.col(ELIGIBLE)).cast("long")).alias("outside"),
        F.sum(F.col(ELIGIBLE).isNull().cast("long")).alias("unknown"),
    ).first()
    assert counted is not None
    probabilities = (
        scored.where(F.col(PROBABILITY).isNotNull())
        .groupBy(F.round(F.col(PROBABILITY) * MICRO).cast("long").alias("micro"), RISK_BAND)
        .count()
        .toArrow()
    )
    micro = np.repeat(
        probabilities.column("micro").to_numpy(), probabilities.column("count").to_numpy()
    ).astype(np.int64)
    bands: Counter[str] = Counter()
    for band, count in zip(
        probabilities.column(RISK_BAND).to_pylist(),
        probabilities.column("count").to_pylist(),
        strict=True,
    ):
        bands[band] += count
    notes = _note_counts(scored)
    state = SummaryState()
    state.add(
        ChunkStats(
            rows=int(counted["rows"] or 0),
            micro=micro,
            bands=bands,
            problems=notes[PROBLEMS],
            rows_with_problems=int(counted["problems"] or 0),
            rows_flagged=int(counted["flagged"] or 0),
            eligibility=Counter(
                eligible=int(counted["eligible"] or 0),
                outside=int(counted["outside"] or 0),
                unknown=int(counted["unknown"] or 0),
            ),
            outside_reasons=notes[REASONS],
            unknown_criteria=notes[ELIGIBILITY_UNKNOWN],
            drift=_drift_counts(scored, bins),
        )
    )
    return state


def _note_counts(scored: DataFrame) -> dict[str, Counter[str]]:
    """How many rows mention each note, per notes column (as `count_parts` counts them)."""
    from pyspark.sql import functions as F  # noqa: N812

    kinds = (PROBLEMS, REASONS, ELIGIBILITY_UNKNOWN)
    parts = scored.select(
        F.explode(
            F.array(
                *(F.struct(F.lit(kind).alias("kind"), F.col(kind).alias("text")) for kind in kinds)
            )
        ).alias("note")
    ).select(
        "note.kind",
        F.explode(F.split(F.coalesce(F.col("note.text"), F.lit("")), SEPARATOR, -1)).alias("part"),
    )
    rows = parts.where(F.col("part") != "").groupBy("kind", "part").count().collect()
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in kinds}
    for row in rows:
        counts[row["kind"]][row["part"]] += int(row["count"])
    return counts


def _drift_counts(scored: DataFrame, bins: dict[str, Bins]) -> dict[str, Any]:
    """Scored rows per bin of each drift predictor."""
    from pyspark.sql import functions as F  # noqa: N812

    if not bins:
        return {}
    pairs = scored.select(
        F.explode(
            F.array(
                *(
                    F.struct(F.lit(name).alias("name"), F.col(BIN_PREFIX + name).alias("bin"))
                    for name in bins
                )
            )
        ).alias("pair")
    ).where(F.col("pair.bin").isNotNull())
    rows = pairs.groupBy("pair.name", "pair.bin").count().collect()
    counts = {
        name: np.zeros(reference.expected.size, dtype=np.int64) for name, reference in bins.items()
    }
    for row in rows:
        counts[row["name"]][int(row["bin"])] += int(row["count"])
    return counts


def _replace(temporary: Path, output: Path) -> None:
    """Put the completed folder at ``output`` (a previous output is removed first)."""
    if output.is_dir():
        shutil.rmtree(output)
    elif output.exists():
        output.unlink()
    temporary.replace(output)
