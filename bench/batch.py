"""Benchmark of batch scoring (`mrbs score`) against the script a user would write, and Spark.

In one run, in a temporary folder that is removed afterwards:

1. trains a small model the way `mrbs train` does (configs/quick.yaml: spline logistic
   regression on the core predictors and XGBoost on the extended set) on a simulated development
   cohort in a temporary MLflow store and registers the chosen one, whose run holds the reference
   bins training logs (``--model``/``--home`` reuse a registered model instead);
2. writes a baseline-shaped Parquet file of ``--rows`` patients, and one of ``--big-rows``, by
   tiling a simulated, assembled cohort of ``--base-size`` patients with fresh ids and
   perturbed laboratory values (simulating millions of patients would take longer than
   everything else);
3. runs each of these in its own process, on the ``--rows`` file unless said otherwise:
   - the naive script a user would write with plain MLflow: ``pandas.read_parquet`` ->
     ``mlflow.pyfunc.load_model(uri).predict`` -> ``to_parquet``, with the model's
     ``contributions`` parameter off (the baseline) and on;
   - `mrbs score`'s local engine with contributions and without (`serving.batch.score`);
   - `mrbs score` with contributions on the ``--big-rows`` file (peak memory against ``--rows``);
   - `mrbs score --engine spark` on local[2] (``--no-spark`` skips it); the Spark session is
     started first and its start-up reported apart, since a cluster pays it once per job;
   each timed inside the process around the work (model loading included), with the process's
   wall time and its peak resident memory (``VmHWM``, Linux);
4. times the floor for reference: the registered pipeline's classifier ``predict_proba`` on the
   rows derived, imputed and encoded in memory beforehand.

Targets (ratios of rows per second in the same run): local with contributions at least 0.6 of
the naive baseline, local without contributions at least 1.0 of it, Spark at least 0.5 of the
local engine (contributions on both), peak memory of the big file at most 1.1 of the small one.

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
from features.columns import from_frame
from features.io import write_table
from features.schema import validate_table
from infra.quiet import child_environment, quiet_process
from infra.settings import Settings
from scoring import Scorer, load
from simulator import simulate
from training.config import DEFAULT_CONFIG, TrainingConfig, load_config
from training.train import train

MIB: Final = 1024 * 1024
TARGET_WITH_CONTRIBUTIONS: Final = 0.6
TARGET_WITHOUT_CONTRIBUTIONS: Final = 1.0
TARGET_SPARK: Final = 0.5
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
#: Rows per Parquet row group of the written files, as a cohort written for Spark has them:
#: Spark reads a file's row groups in parallel, never less than one.
ROW_GROUP_ROWS: Final = 100_000

#: `mrbs score` in its own process: argv = input, output, model URI, engine, contributions
#: (on/off), MRBS_HOME. Spark's session is started (and timed) before the scoring.
_SCORE: Final = """
import json, sys, time
from pathlib import Path
from infra.quiet import quiet_process
quiet_process()
from infra.settings import Settings
from serving.batch import score

settings = Settings(home=Path(sys.argv[6]))
session_seconds = 0.0
if sys.argv[4] == "spark":
    import contextlib
    from serving.batch.spark import spark_session
    started = time.perf_counter()
    stack = contextlib.ExitStack()
    stack.enter_context(spark_session(settings.spark_master))
    session_seconds = time.perf_counter() - started
started = time.perf_counter()
summary = score(Path(sys.argv[1]), Path(sys.argv[2]), model_uri=sys.argv[3], engine=sys.argv[4],
                contributions=sys.argv[5] == "on", settings=settings, resume=True,
                progress=False)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": summary.rows_in,
                  "loading": summary.loading_seconds, "startup": session_seconds,
                  "peak_kib": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])}))
"""

#: The naive script: argv = input, output, model URI, contributions (on/off), tracking URI.
_NAIVE: Final = """
import json, sys, time
started = time.perf_counter()
import mlflow.pyfunc, pandas as pd
mlflow.set_tracking_uri(sys.argv[5])
model = mlflow.pyfunc.load_model(sys.argv[3])
loaded = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
out = model.predict(frame, params={"contributions": sys.argv[4] == "on"})
out.to_parquet(sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "rows": len(out),
                  "loading": loaded - started, "startup": 0.0,
                  "peak_kib": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])}))
"""


class BenchmarkError(RuntimeError):
    """A measured command failed; the message holds the end of its output."""


@dataclass(frozen=True)
class Scoring:
    """One scoring process: the time of its work (start-up of Spark's session apart), the
    process's wall time and peak RSS."""

    label: str
    rows: int
    score_seconds: float
    loading_seconds: float
    startup_seconds: float
    process_seconds: float
    peak_rss_mib: float

    @property
    def rows_per_second(self) -> float:
        """End to end after start-up: model loading, reading, scoring, writing, summary."""
        return self.rows / self.score_seconds


@dataclass(frozen=True)
class Floor:
    """Seconds (best of three) of the classifier alone on rows prepared in memory."""

    rows: int
    classifier_seconds: float

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
            writer.write_table(block, row_group_size=ROW_GROUP_ROWS)
    return path


def measure_scoring(label: str, command: Sequence[str], rows: int, log: Path) -> Scoring:
    """Run one scoring process to completion: its own figures (output kept in ``log``)."""
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=child_environment(os.environ)
        )
        _, status, _ = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchmarkError(f"{label} failed:\n{text[-3000:]}")
    figures = [line for line in text.splitlines() if line.startswith('{"seconds"')]
    if not figures:
        raise BenchmarkError(f"{label} printed no figures:\n{text[-3000:]}")
    timed = json.loads(figures[-1])
    if timed["rows"] != rows:
        raise BenchmarkError(f"{label}: scored {timed['rows']} rows, expected {rows}")
    # The process's own high-water mark (VmHWM): the rusage of a child also counts the memory
    # of the process it was forked from.
    peak = timed["peak_kib"] * 1024 / MIB
    return Scoring(label, rows, timed["seconds"], timed["loading"], timed["startup"], seconds, peak)


def timed(call: Callable[[], Any], count: int) -> list[float]:
    """Seconds of each of ``count`` calls of ``call``."""
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def measure_floor(path: Path, scorer: Scorer) -> Floor:
    """The classifier alone on the rows of ``path``, every preparation done beforehand."""
    frame = validate_table(pd.read_parquet(path), table=str(path)).frame
    frame = frame[frame["problems"].eq("")]
    derived = scorer.derive(from_frame(frame, scorer.fields))
    steps = scorer.pipeline[1:]
    prepared = steps[:-1].transform(derived)
    classifier = steps[-1]
    seconds = min(timed(lambda: classifier.predict_proba(prepared), 3))
    return Floor(rows=len(frame), classifier_seconds=seconds)


NAIVE: Final = "naive: pandas -> mlflow.pyfunc predict -> pandas"
NAIVE_CONTRIBUTIONS: Final = "naive, contributions"
LOCAL: Final = "mrbs score local, contributions"
LOCAL_LEAN: Final = "mrbs score local, no contributions"
SPARK: Final = "mrbs score spark local[2], contributions"


@dataclass(frozen=True)
class Result:
    rows: int
    big_rows: int
    model: str
    candidate: str
    input_mib: float
    scorings: list[Scoring]
    floor: Floor
    environment: dict[str, Any]

    def scoring(self, label: str) -> Scoring | None:
        return next((s for s in self.scorings if s.label == label), None)

    def ratio(self, label: str, baseline: str) -> float | None:
        measured, base = self.scoring(label), self.scoring(baseline)
        if measured is None or base is None:
            return None
        return measured.rows_per_second / base.rows_per_second

    def to_dict(self) -> dict[str, Any]:
        figures = asdict(self)
        figures["rows_per_second"] = {s.label: s.rows_per_second for s in self.scorings}
        figures["floor_rows_per_second"] = self.floor.rows_per_second
        figures["ratios"] = {
            "local_contributions_over_naive": self.ratio(LOCAL, NAIVE),
            "local_no_contributions_over_naive": self.ratio(LOCAL_LEAN, NAIVE),
            "spark_over_local": self.ratio(SPARK, LOCAL),
        }
        return figures


def run(args: argparse.Namespace, work: Path) -> Result:
    if args.model:
        uri, settings, candidate = args.model, Settings(home=args.home), "given"
    else:
        uri, settings, candidate = train_model(work, args.train_size, args.seed)
    base = base_cohort(args.base_size, args.seed)
    small = write_tiled(base, args.rows, work / "cohort.parquet", args.seed)
    big = write_tiled(base, args.big_rows, work / "big.parquet", args.seed + 1)
    home, tracking = str(settings.home), settings.resolved_tracking_uri
    scorer = [sys.executable, "-c", _SCORE]
    naive = [sys.executable, "-c", _NAIVE]
    runs: list[tuple[str, list[str], int]] = [
        (NAIVE, [*naive, str(small), "{out}", uri, "off", tracking], args.rows),
        (NAIVE_CONTRIBUTIONS, [*naive, str(small), "{out}", uri, "on", tracking], args.rows),
        (LOCAL, [*scorer, str(small), "{out}", uri, "local", "on", home], args.rows),
        (LOCAL_LEAN, [*scorer, str(small), "{out}", uri, "local", "off", home], args.rows),
        (
            f"mrbs score local, contributions, {args.big_rows:,} rows",
            [*scorer, str(big), "{out}", uri, "local", "on", home],
            args.big_rows,
        ),
    ]
    if args.spark:
        runs.append((SPARK, [*scorer, str(small), "{out}", uri, "spark", "on", home], args.rows))
    scorings = []
    for index, (label, command, rows) in enumerate(runs):
        out = str(work / f"scored-{index}.parquet")
        filled = [out if part == "{out}" else part for part in command]
        scorings.append(measure_scoring(label, filled, rows, work / f"{index}.log"))
    return Result(
        rows=args.rows,
        big_rows=args.big_rows,
        model=uri,
        candidate=candidate,
        input_mib=small.stat().st_size / MIB,
        scorings=scorings,
        floor=measure_floor(small, load(uri, settings)),
        environment={
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    )


def _verdict(value: float | None, target: float, *, at_most: bool = False) -> str:
    if value is None:
        return "not measured"
    passed = value <= target if at_most else value >= target
    return f"{value:.2f} [{'PASS' if passed else 'MISS'} {'<=' if at_most else '>='} {target:g}]"


def report(result: Result) -> str:
    floor = result.floor
    lines = [
        f"batch scoring: {result.rows:,} patients, Parquet to Parquet ({result.input_mib:.0f} MiB "
        f"in), model {result.model} ({result.candidate})",
        "",
        f"{'run':<52}{'work (s)':>9}{'rows/s':>11}{'model load':>11}{'start-up':>10}"
        f"{'process (s)':>12}{'peak RSS (MiB)':>15}",
    ]
    for s in result.scorings:
        lines.append(
            f"{s.label:<52}{s.score_seconds:>9.2f}{s.rows_per_second:>11,.0f}"
            f"{s.loading_seconds:>11.2f}{s.startup_seconds:>10.2f}{s.process_seconds:>12.2f}"
            f"{s.peak_rss_mib:>15,.0f}"
        )
    if result.scoring(SPARK) is not None:
        lines.append("(Spark: peak RSS of the Python driver; the JVM runs in its own process)")
    big = result.scorings[4]
    local = result.scoring(LOCAL)
    memory = big.peak_rss_mib / local.peak_rss_mib if local is not None else None
    lines += [
        "",
        f"floor: classifier predict_proba on {floor.rows:,} prepared rows, "
        f"{floor.classifier_seconds:.3f} s, {floor.rows_per_second:,.0f} rows/s",
        "",
        "ratios of rows/s in this run:",
        f"  local with contributions / naive:     "
        f"{_verdict(result.ratio(LOCAL, NAIVE), TARGET_WITH_CONTRIBUTIONS)}",
        f"  local without contributions / naive:  "
        f"{_verdict(result.ratio(LOCAL_LEAN, NAIVE), TARGET_WITHOUT_CONTRIBUTIONS)}",
        f"  spark / local (contributions):        "
        f"{_verdict(result.ratio(SPARK, LOCAL), TARGET_SPARK)}",
        f"  peak RSS {result.big_rows:,} / {result.rows:,} rows: "
        f"{_verdict(memory, TARGET_RSS_RATIO, at_most=True)}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.batch",
        description="Throughput of `mrbs score` against plain MLflow, memory and Spark.",
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
    quiet_process()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
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
