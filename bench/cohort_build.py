"""Benchmark of `mrbs cohort build`: wall time and peak memory on a simulated cohort.

Simulates ``--n`` patients into a temporary folder (``--format`` csv or parquet), then runs
``mrbs cohort build`` on it as a separate process, the way users run it, writing the baseline
table in the same format. As a same-run baseline it also times a separate process that only
reads the three raw tables with pandas (``pd.read_csv`` or ``pd.read_parquet`` with default
options), so the ratio build/read shows what cohort building costs beyond reading the data on
this machine. Each process's peak resident memory comes from its own resource usage
(``os.wait4``), so the two measurements never mix. Wall times include interpreter start-up and
imports, as a user sees them.

    python -m bench.cohort_build [--n 100000] [--seed 1] [--format csv|parquet] [--json PATH]
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd

from simulator import simulate, write_tables

TABLES: Final = ("patients", "labs", "assessments")
MIB: Final = 1024 * 1024
#: ``ru_maxrss`` is in kibibytes on Linux and in bytes on macOS.
RSS_UNIT_BYTES: Final = 1 if sys.platform == "darwin" else 1024

_READ_RAW: Final = """
import sys
import pandas as pd

folder, fmt = sys.argv[1], sys.argv[2]
read = pd.read_parquet if fmt == "parquet" else pd.read_csv
frames = [read(f"{folder}/{name}.{fmt}") for name in ("patients", "labs", "assessments")]
print(sum(len(frame) for frame in frames))
"""


class BenchmarkError(RuntimeError):
    """A measured command failed; the message holds the end of its output."""


@dataclass(frozen=True)
class Run:
    """One measured process: wall time and peak resident memory."""

    seconds: float
    peak_rss_mib: float


@dataclass(frozen=True)
class Result:
    """Every figure of one benchmark run."""

    n: int
    seed: int
    format: str
    input_mib: dict[str, float]
    simulate_seconds: float
    read: Run
    build: Run
    rows_per_second: float
    time_ratio: float
    peak_rss_ratio: float
    environment: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(command: Sequence[str], log: Path) -> Run:
    """Run ``command`` to completion; its own wall time and peak RSS (output kept in ``log``)."""
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise BenchmarkError(f"{' '.join(command)} exited with {process.returncode}:\n{tail}")
    return Run(seconds, usage.ru_maxrss * RSS_UNIT_BYTES / MIB)


def mrbs_command() -> list[str]:
    """The installed ``mrbs`` script beside this interpreter, else the module."""
    script = Path(sys.executable).parent / "mrbs"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mrbs.cli"]


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def run(n: int, seed: int, fmt: Literal["csv", "parquet"], work: Path) -> Result:
    """Simulate, read and build in ``work``; all figures of the run."""
    raw = work / "raw"
    started = time.perf_counter()
    write_tables(simulate(n, seed), raw, fmt=fmt)
    simulate_seconds = time.perf_counter() - started
    sizes = {name: (raw / f"{name}.{fmt}").stat().st_size / MIB for name in TABLES}
    (raw / f"truth.{fmt}").unlink()  # not an input of the build

    read = measure([sys.executable, "-c", _READ_RAW, str(raw), fmt], work / "read.log")
    out = work / "out" / f"baseline.{fmt}"
    build = measure(
        [*mrbs_command(), "cohort", "build", str(raw), "--out", str(out)], work / "build.log"
    )
    summary = json.loads(out.with_name(out.stem + ".summary.json").read_text())
    if summary["patients"] != n:
        raise BenchmarkError(f"the build saw {summary['patients']} patients, expected {n}")
    return Result(
        n=n,
        seed=seed,
        format=fmt,
        input_mib=sizes,
        simulate_seconds=simulate_seconds,
        read=read,
        build=build,
        rows_per_second=n / build.seconds,
        time_ratio=build.seconds / read.seconds,
        peak_rss_ratio=build.peak_rss_mib / read.peak_rss_mib,
        environment=environment(),
    )


def report(result: Result) -> str:
    """The figures as a small text table."""
    inputs = ", ".join(f"{name} {size:.1f}" for name, size in result.input_mib.items())
    lines = [
        f"mrbs cohort build: {result.n:,} patients, {result.format} input, seed {result.seed}",
        f"input tables (MiB): {inputs}",
        "",
        f"{'step':<36}{'wall (s)':>10}{'peak RSS (MiB)':>16}",
        f"{'simulate and write (in process)':<36}{result.simulate_seconds:>10.2f}{'-':>16}",
        f"{'read raw tables with pandas':<36}{result.read.seconds:>10.2f}"
        f"{result.read.peak_rss_mib:>16.0f}",
        f"{'mrbs cohort build':<36}{result.build.seconds:>10.2f}{result.build.peak_rss_mib:>16.0f}",
        f"{'build / read':<36}{result.time_ratio:>9.1f}x{result.peak_rss_ratio:>15.1f}x",
        "",
        f"build throughput: {result.rows_per_second:,.0f} patients/s",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cohort_build",
        description="Time and peak memory of `mrbs cohort build` on a simulated cohort.",
    )
    parser.add_argument("--n", type=int, default=100_000, help="patients to simulate")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed")
    parser.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="format of the raw tables"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    fmt: Literal["csv", "parquet"] = "parquet" if args.format == "parquet" else "csv"
    with tempfile.TemporaryDirectory(prefix="mrbs-bench-") as work:
        try:
            result = run(args.n, args.seed, fmt, Path(work))
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
