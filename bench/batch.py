"""Benchmark of batch scoring (`mrbs score`): throughput against the model's floor, memory, Spark.

In one run, in a temporary folder that is removed afterwards:

1. trains a small model the way `mrbs train` does (spline logistic regression on the core
   predictors and XGBoost on the extended set, three folds, few bootstrap resamples) on a
   simulated development cohort in a temporary MLflow store and registers the chosen one, whose
   run holds the reference bins training logs (``--model``/``--home`` reuse a registered model
   instead);
2. writes a baseline-shaped Parquet file of ``--rows`` patients, and one of ``--big-rows``, by
   tiling a simulated, assembled cohort of ``--base-size`` patients with fresh ids and
   perturbed laboratory values (simulating millions of patients would take longer than
   everything else);
3. scores the ``--rows`` file with the local engine in a separate process, with contributions and
   without: timed inside the process around `serving.batch.score` (model loading, reading,
   validation, eligibility, the model, contributions, writing and the summary), with the time
   the model took to load (before the first row is read) and the whole process's wall time and
   peak resident memory (`os.wait4`);
4. times the floor: the registered pipeline's classifier `predict_proba` on the already-prepared
   numeric matrix of the same rows (derived, imputed and encoded in advance, in memory), and for
   reference the pipeline's steps after feature derivation on the derived matrix and the logged
   pipeline on the typed model-input frame;
5. times each stage of scoring the ``--rows`` file on one thread, chunk by chunk as the local
   engine does, with contributions and without (reading, validation and screening, the model,
   output columns and counts, Parquet writing): where the time goes, and the best rate the
   machine's cores could reach with that work;
6. scores the ``--big-rows`` file (contributions on) in its own process: its peak memory against
   the ``--rows`` run's;
7. scores the ``--rows`` file with ``--engine spark`` on local[2] (``--no-spark`` skips it).

    python -m bench.batch [--rows 1000000] [--big-rows 5000000] [--base-size 5000] [--seed 1]
                          [--model URI --home PATH] [--no-spark] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.cohort import assemble
from features.io import write_table
from features.pipeline import model_input
from features.reference import Bins
from features.schema import validate_table
from mrbs.settings import Settings
from serving.batch import DEFAULT_CHUNK_SIZE
from serving.batch_drift import load_reference
from serving.batch_io import open_input
from serving.batch_model import BatchModel
from serving.batch_output import parquet_options
from serving.batch_rows import output_schema, predict_chunk, validate_chunk
from serving.loading import load_predictor
from serving.predictor import Predictor, on_arrays
from simulator import simulate
from training.config import DEFAULT_CONFIG, TrainingConfig, load_config
from training.train import train

MIB: Final = 1024 * 1024
#: ``ru_maxrss`` is in kibibytes on Linux and in bytes on macOS.
RSS_UNIT_BYTES: Final = 1 if sys.platform == "darwin" else 1024
TARGET_RATE: Final = 200_000
TARGET_FLOOR_SHARE: Final = 1 / 3
TARGET_RSS_RATIO: Final = 1.10
#: Columns of an assembled cohort that a file to be scored would not carry.
NOT_INPUT: Final = (
    "sri4_w48",
    "sri4_w48_reasons",
    "eligible",
    "eligibility_reasons",
    "problems",
    "flags",
)
#: Laboratory and clinical values perturbed per copy (multiplied by 0.9-1.1), and decimals kept.
PERTURBED: Final = {
    "c3": 0,
    "c4": 1,
    "igg": 0,
    "iga": 0,
    "anti_dsdna": 1,
    "blys": 2,
    "proteinuria": 2,
    "disease_duration": 1,
}
BLOCK_ROWS: Final = 1_000_000

_SCORE: Final = """
import json, sys, time, warnings
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
from pathlib import Path
from mrbs.settings import Settings
from serving.batch import score

started = time.perf_counter()
summary = score(Path(sys.argv[1]), Path(sys.argv[2]), model_uri=sys.argv[3], engine=sys.argv[4],
                contributions=sys.argv[5] == "on", settings=Settings(home=Path(sys.argv[6])),
                resume=True, progress=False)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": summary.rows_in,
                  "loading": summary.loading_seconds}))
"""


class BenchmarkError(RuntimeError):
    """A measured command failed; the message holds the end of its output."""


@dataclass(frozen=True)
class Scoring:
    """One scoring process: time inside `score`, the process's wall time and peak RSS."""

    label: str
    rows: int
    score_seconds: float
    loading_seconds: float
    process_seconds: float
    peak_rss_mib: float

    @property
    def rows_per_second(self) -> float:
        """End to end: model loading, reading, scoring, writing, summary."""
        return self.rows / self.score_seconds


@dataclass(frozen=True)
class Floor:
    """Seconds per call (best of three) of the model alone on rows prepared in memory."""

    rows: int
    classifier_seconds: float
    array_path_seconds: float
    logged_pipeline_seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.classifier_seconds


def _small_config() -> TrainingConfig:
    return load_config(DEFAULT_CONFIG.parent / "quick.yaml")


def train_model(work: Path, size: int, seed: int) -> tuple[str, Settings, str]:
    """Train and register a small model in a store under ``work``: (URI, settings, candidate)."""
    cohort = simulate(size, seed + 1000)
    table = assemble(cohort.patients, cohort.labs, cohort.assessments).table
    development = write_table(table, work / "development.parquet")
    settings = Settings(home=work / "mlruns")
    result = train(development, _small_config(), settings)
    uri = f"models:/{result.registered.name}/{result.registered.version}"
    return uri, settings, result.chosen.name


def base_cohort(size: int, seed: int) -> pa.Table:
    """A simulated, assembled cohort as a file to be scored would hold it."""
    cohort = simulate(size, seed)
    table = assemble(cohort.patients, cohort.labs, cohort.assessments).table
    return pa.Table.from_pandas(table.drop(columns=list(NOT_INPUT)), preserve_index=False)


def write_tiled(base: pa.Table, rows: int, path: Path, seed: int) -> Path:
    """``rows`` patients: copies of ``base`` with fresh ids and perturbed values."""
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(path, base.schema) as writer:
        for start in range(0, rows, BLOCK_ROWS):
            count = min(BLOCK_ROWS, rows - start)
            block = base.take(pa.array(np.arange(start, start + count) % base.num_rows))
            numbers = pc.cast(pa.array(np.arange(start, start + count)), pa.string())
            ids = pc.binary_join_element_wise("B", pc.utf8_lpad(numbers, 9, "0"), "").cast(
                base.schema.field("patient_id").type
            )
            block = block.set_column(block.schema.get_field_index("patient_id"), "patient_id", ids)
            for name, decimals in PERTURBED.items():
                values = block.column(name).to_numpy(zero_copy_only=False).astype(float)
                varied = np.round(values * rng.uniform(0.9, 1.1, count), decimals)
                index = block.schema.get_field_index(name)
                block = block.set_column(index, name, pa.array(varied, from_pandas=True))
            writer.write_table(block)
    return path


def measure_scoring(label: str, command: Sequence[str], rows: int, log: Path) -> Scoring:
    """Run one scoring process to completion: its own figures (output kept in ``log``)."""
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchmarkError(f"{label} failed:\n{text[-3000:]}")
    timed = json.loads(text.strip().splitlines()[-1])
    if timed["rows"] != rows:
        raise BenchmarkError(f"{label}: scored {timed['rows']} rows, expected {rows}")
    peak = usage.ru_maxrss * RSS_UNIT_BYTES / MIB
    return Scoring(label, rows, timed["seconds"], timed["loading"], seconds, peak)


def timed(call: Callable[[], Any], count: int) -> list[float]:
    """Seconds of each of ``count`` calls of ``call``."""
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def _best_of_three(call: Callable[[], Any]) -> float:
    return min(timed(call, 3))


def measure_floor(path: Path, predictor: Predictor) -> Floor:
    """The model alone on the rows of ``path``, every preparation done beforehand."""
    frame = validate_table(pd.read_parquet(path), table=str(path)).frame
    frame = frame[frame["problems"].eq("")]
    typed = model_input(frame, predictor.fields)
    derived = predictor.features.transform(typed).to_numpy(dtype=float)
    array_steps = on_arrays(predictor.pipeline[1:])
    prepared = array_steps[:-1].transform(derived)
    classifier = array_steps[-1]
    return Floor(
        rows=len(frame),
        classifier_seconds=_best_of_three(lambda: classifier.predict_proba(prepared)),
        array_path_seconds=_best_of_three(lambda: array_steps.predict_proba(derived)),
        logged_pipeline_seconds=_best_of_three(lambda: predictor.pipeline.predict_proba(typed)),
    )


@dataclass(frozen=True)
class Stages:
    """Seconds one thread spends on each stage of scoring a file."""

    contributions: bool
    rows: int
    read: float
    validate: float  # validation and eligibility screening
    model: float  # derivation, imputation, probabilities (and contributions)
    output: float  # output columns, rounding, text and counts
    write: float  # Parquet encoding, with the scorer's writer options

    @property
    def total(self) -> float:
        return self.read + self.validate + self.model + self.output + self.write


def measure_stages(
    path: Path, model: BatchModel, bins: dict[str, Bins] | None, *, contributions: bool
) -> Stages:
    """Score ``path`` chunk by chunk on this thread, timing each stage as the local engine runs
    it; the output stage is `predict_chunk` less the model time measured on the same rows."""
    source = open_input(path)
    schema = output_schema(source.schema, model, contributions=contributions)
    seconds = dict.fromkeys(("read", "validate", "model", "scored", "write"), 0.0)
    rows_in = 0
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] += now - clock
        clock = now

    with (
        tempfile.TemporaryDirectory(prefix="mrbs-bench-stages-") as folder,
        pq.ParquetWriter(Path(folder) / "out.parquet", schema, **parquet_options(schema)) as out,
    ):
        for chunk in source.chunks(DEFAULT_CHUNK_SIZE):
            lap("read")
            rows_in += chunk.num_rows
            validated = validate_chunk(chunk, source=str(path))
            lap("validate")
            rows = validated.frame[validated.ok]
            model.predictor.explain(model.derive(rows), contributions=contributions)
            lap("model")
            scored = predict_chunk(
                validated, model, schema, contributions=contributions, drift=bins
            )
            lap("scored")
            out.write_table(scored.table)
            lap("write")
    return Stages(
        contributions=contributions,
        rows=rows_in,
        read=seconds["read"],
        validate=seconds["validate"],
        model=seconds["model"],
        output=max(seconds["scored"] - seconds["model"], 0.0),
        write=seconds["write"],
    )


@dataclass(frozen=True)
class Result:
    rows: int
    big_rows: int
    model: str
    candidate: str
    input_mib: float
    scorings: list[Scoring]
    floor: Floor
    stages: list[Stages]
    environment: dict[str, Any]

    def scoring(self, label: str) -> Scoring | None:
        return next((s for s in self.scorings if s.label == label), None)

    def to_dict(self) -> dict[str, Any]:
        figures = asdict(self)
        figures["rows_per_second"] = {s.label: s.rows_per_second for s in self.scorings}
        figures["floor_rows_per_second"] = self.floor.rows_per_second
        return figures


def run(args: argparse.Namespace, work: Path) -> Result:
    if args.model:
        uri, settings, candidate = args.model, Settings(home=args.home), "given"
    else:
        uri, settings, candidate = train_model(work, args.train_size, args.seed)
    base = base_cohort(args.base_size, args.seed)
    small = write_tiled(base, args.rows, work / "cohort.parquet", args.seed)
    big = write_tiled(base, args.big_rows, work / "big.parquet", args.seed + 1)
    command = [sys.executable, "-c", _SCORE]
    home = str(settings.home)
    runs = [
        ("local, contributions", small, "local", "on", args.rows),
        ("local, no contributions", small, "local", "off", args.rows),
        (f"local, contributions, {args.big_rows:,} rows", big, "local", "on", args.big_rows),
    ]
    if args.spark:
        runs.append(("spark local[2], contributions", small, "spark", "on", args.rows))
    scorings = []
    for index, (label, source, engine, contributions, rows) in enumerate(runs):
        out = work / f"scored-{index}.parquet"
        arguments = [str(source), str(out), uri, engine, contributions, home]
        scorings.append(measure_scoring(label, [*command, *arguments], rows, work / f"{index}.log"))
    predictor = load_predictor(uri, settings)
    bins, _ = load_reference(predictor.identity.run_id)
    return Result(
        rows=args.rows,
        big_rows=args.big_rows,
        model=uri,
        candidate=candidate,
        input_mib=small.stat().st_size / MIB,
        scorings=scorings,
        floor=measure_floor(small, predictor),
        stages=[
            measure_stages(small, BatchModel(predictor), bins, contributions=on)
            for on in (True, False)
        ],
        environment={
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    )


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def report(result: Result) -> str:
    floor = result.floor
    lines = [
        f"mrbs score: {result.rows:,} patients, Parquet to Parquet ({result.input_mib:.0f} MiB "
        f"in), model {result.model} ({result.candidate})",
        "",
        f"{'run':<40}{'score (s)':>10}{'rows/s':>11}{'model load (s)':>16}"
        f"{'process (s)':>12}{'peak RSS (MiB)':>15}",
    ]
    for s in result.scorings:
        lines.append(
            f"{s.label:<40}{s.score_seconds:>10.2f}{s.rows_per_second:>11,.0f}"
            f"{s.loading_seconds:>16.2f}{s.process_seconds:>12.2f}{s.peak_rss_mib:>15,.0f}"
        )
    if any(s.label.startswith("spark") for s in result.scorings):
        lines.append("(Spark: peak RSS of the Python driver; the JVM runs in its own process)")
    lines += [
        "",
        f"floor, {floor.rows:,} rows prepared in memory (best of 3):",
        f"  classifier predict_proba on the prepared matrix  {floor.classifier_seconds:>7.3f} s"
        f"  {floor.rows_per_second:>12,.0f} rows/s",
        f"  steps after derivation on the derived matrix     {floor.array_path_seconds:>7.3f} s"
        f"  {floor.rows / floor.array_path_seconds:>12,.0f} rows/s",
        f"  logged pipeline on the typed model-input frame   "
        f"{floor.logged_pipeline_seconds:>7.3f} s"
        f"  {floor.rows / floor.logged_pipeline_seconds:>12,.0f} rows/s",
        "",
        *_stage_lines(result),
        "",
    ]
    with_contributions = result.scoring("local, contributions")
    without = result.scoring("local, no contributions")
    big = result.scorings[2]
    for run_ in (with_contributions, without):
        if run_ is None:
            continue
        share = run_.rows_per_second / floor.rows_per_second
        lines.append(
            f"{run_.label}: {run_.rows_per_second:,.0f} rows/s "
            f"[{_verdict(run_.rows_per_second >= TARGET_RATE)} >= {TARGET_RATE:,}], "
            f"{share:.3f} of the floor [{_verdict(share >= TARGET_FLOOR_SHARE)} >= 1/3]"
        )
    if with_contributions is not None:
        ratio = big.peak_rss_mib / with_contributions.peak_rss_mib
        lines.append(
            f"peak RSS {result.big_rows:,} / {result.rows:,} rows: {ratio:.3f} "
            f"[{_verdict(ratio <= TARGET_RSS_RATIO)} <= {TARGET_RSS_RATIO}]"
        )
    return "\n".join(lines)


def _stage_lines(result: Result) -> list[str]:
    """Each stage's seconds on one thread, with and without contributions, its rate and its
    share of the floor's rate, and the best rate the machine's cores could reach."""
    floor, runs = result.floor, result.stages
    cores = os.cpu_count() or 1

    def figures(rows: int, seconds: float) -> str:
        per_second = rows / seconds
        return f"{seconds:>8.2f}{per_second:>12,.0f}{per_second / floor.rows_per_second:>7.3f}"

    lines = [
        f"stages on one thread, {runs[0].rows:,} rows in chunks of {DEFAULT_CHUNK_SIZE:,}",
        f"{'':<42}"
        + "".join(f"{'contributions ' + ('on' if s.contributions else 'off'):>27}" for s in runs),
        f"{'':<42}" + f"{'s':>8}{'rows/s':>12}{'floor':>7}" * len(runs),
    ]
    for label, field in (
        ("read Parquet", "read"),
        ("validate and screen (as /predict does)", "validate"),
        ("model: derive, predict (+ contributions)", "model"),
        ("output columns, text and counts", "output"),
        ("write Parquet", "write"),
        ("all stages", "total"),
    ):
        lines.append(
            f"  {label:<40}" + "".join(figures(s.rows, float(getattr(s, field))) for s in runs)
        )
    best = []
    for stages in runs:
        label = "local, contributions" if stages.contributions else "local, no contributions"
        scoring = result.scoring(label)
        if scoring is not None:
            best.append(figures(stages.rows, scoring.loading_seconds + stages.total / cores))
    if len(best) == len(runs):
        lines.append(f"  {f'best case: load + all stages / {cores} cores':<40}" + "".join(best))
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.batch",
        description="Throughput, floor, memory and Spark rate of `mrbs score`, simulated cohorts.",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="patients in the main file")
    parser.add_argument(
        "--big-rows", type=int, default=5_000_000, help="patients in the memory comparison file"
    )
    parser.add_argument(
        "--base-size", type=int, default=5_000, help="simulated patients tiled into the files"
    )
    parser.add_argument(
        "--train-size", type=int, default=2_000, help="patients in the development cohort"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulation seed")
    parser.add_argument("--model", help="a registered model URI to use instead of training")
    parser.add_argument("--home", type=Path, help="the MRBS_HOME holding --model")
    parser.add_argument("--no-spark", dest="spark", action="store_false", help="skip Spark")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    args = parser.parse_args(argv)
    if min(args.rows, args.big_rows, args.base_size) < 1:
        parser.error("--rows, --big-rows and --base-size must be at least 1")
    if args.model and args.home is None:
        parser.error("--model needs --home (the store that holds it)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    with tempfile.TemporaryDirectory(prefix="mrbs-bench-batch-") as work:
        try:
            result = run(args, Path(work))
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(report(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
