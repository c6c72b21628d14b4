"""Benchmark of `mrbs train`: how close the registered model comes to the truth, by cohort size.

The simulator knows every patient's true probability of SRI-4 response, so a model trained on a
simulated development cohort can be compared with the best any model could do. An independent
test cohort (``--test-size`` patients, its own seed) is simulated and assembled once; its
ORACLE AUROC is the AUROC of the true probabilities against the observed labels, the ceiling no
model can pass. For each development size N, N patients are simulated (the development seed),
assembled and written as a baseline table, and the full training comparison runs on it exactly
as `mrbs train` runs it (`training.train.train`, the default configuration, every candidate,
``--resamples`` bootstrap resamples, an MLflow store in a temporary folder). A cohort below the
Riley minimum sample size is trained again with ``sample_size.allow_below_minimum`` (reported as
an override). Every candidate's fitted pipeline, the registered one included, then predicts the
test cohort, and the run reports test AUROC, the gap to the oracle, the ICI against the true
probabilities (mean |p_model - p_true|), the calibration slope and intercept on the observed
test labels (`training.metrics`), and the wall time of the training call. Figures are reported,
not asserted; the targets at 2,000 patients are printed with PASS or MISS.

    python -m bench.training [--sizes 500,1000,2000,5000] [--test-size 20000] [--seed 1]
                             [--test-seed SEED] [--resamples 200] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from features import tables as t
from features.cohort import assemble
from features.io import write_table
from infra.settings import Settings
from simulator import simulate
from training.config import TrainingConfig, load_config
from training.data import ModellingCohort, load_cohort
from training.metrics import clinical_metrics
from training.train import CandidateResult, NothingToRegisterError, TrainingResult, train
from training.validate import HARRELL

DEFAULT_SIZES: Final = (500, 1000, 2000, 5000)
#: The test cohort's seed when ``--test-seed`` is not given: far from any development seed.
TEST_SEED_OFFSET: Final = 1_000_000
TRUE_PROBABILITY: Final = "true_response_probability"

#: Targets, all read at this development size with the default configuration.
TARGET_SIZE: Final = 2000
TARGET_AUROC_GAP: Final = 0.015
TARGET_ICI_TRUE: Final = 0.03
TARGET_TRAINING_SECONDS: Final = 600.0
TARGET_RESAMPLES: Final = 200

PACKAGES: Final = ("numpy", "pandas", "scikit-learn", "xgboost", "mlflow")


@dataclass(frozen=True)
class TestCohort:
    """The independent test cohort, its true probabilities and the oracle AUROC."""

    simulated: int
    seed: int
    cohort: ModellingCohort
    p_true: npt.NDArray[np.float64]
    oracle_auroc: float
    #: Rows without problems and with a known label, eligible or not.
    labelled: int
    oracle_auroc_labelled: float
    seconds: float


@dataclass(frozen=True)
class CandidateFigures:
    """One candidate trained at one size, measured on the test cohort."""

    candidate: str
    kind: str
    feature_set: str
    chosen: bool
    recalibration: str
    params: dict[str, Any]
    riley_parameters: int
    riley_minimum_n: int
    sample_size_met: bool
    gate_passed: bool
    #: Headline internal AUROC (.632+ bootstrap) and Harrell's optimism-corrected one.
    internal_auroc: float
    internal_auroc_harrell: float
    #: Headline internal calibration slope (cross-validated predictions).
    internal_calibration_slope: float
    test_auroc: float
    auroc_gap: float
    ici_true: float
    max_abs_error_true: float
    ici_observed: float
    calibration_slope: float
    calibration_intercept: float
    brier: float


@dataclass(frozen=True)
class SizeFigures:
    """One development size: the training call and every candidate's test figures."""

    simulated: int
    seed: int
    used: int
    responders: int
    override: bool
    training_seconds: float
    refused_seconds: float | None
    chosen: str
    candidates: list[CandidateFigures]

    def chosen_figures(self) -> CandidateFigures:
        return next(c for c in self.candidates if c.chosen)


@dataclass(frozen=True)
class Target:
    """A stated target and whether this run met it (None when it was not measured)."""

    name: str
    limit: str
    value: float | None
    met: bool | None

    @property
    def verdict(self) -> str:
        return "n/a" if self.met is None else ("PASS" if self.met else "MISS")


@dataclass(frozen=True)
class Result:
    """Every figure of one benchmark run."""

    test_size: int
    test_seed: int
    test_used: int
    test_labelled: int
    oracle_auroc: float
    oracle_auroc_labelled: float
    seed: int
    resamples: int
    cv_folds: int
    n_jobs: int
    sizes: list[SizeFigures]
    targets: list[Target]
    environment: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_baseline(n: int, seed: int, path: Path) -> tuple[Path, dict[str, float]]:
    """Simulate ``n`` patients, write their baseline table; the path and true probabilities."""
    simulated = simulate(n, seed)
    write_table(assemble(simulated.patients, simulated.labs, simulated.assessments).table, path)
    truth = simulated.truth
    return path, dict(
        zip(truth[t.PATIENT_ID].astype(str), truth[TRUE_PROBABILITY].astype(float), strict=True)
    )


def _true_probabilities(
    cohort: ModellingCohort, truth: dict[str, float]
) -> npt.NDArray[np.float64]:
    ids = cohort.frame[t.PATIENT_ID].astype(str)
    missing = [i for i in ids if i not in truth]
    if missing:
        raise RuntimeError(f"{len(missing)} test patients have no true probability")
    return np.array([truth[i] for i in ids], dtype=np.float64)


def build_test_cohort(n: int, seed: int, work: Path, eligible_only: bool) -> TestCohort:
    """The test cohort as training reads a cohort, aligned with its true probabilities."""
    started = time.perf_counter()
    path, truth = build_baseline(n, seed, work / "test" / "baseline.parquet")
    cohort = load_cohort(path, eligible_only=eligible_only)
    labelled = load_cohort(path, eligible_only=False)
    p_true = _true_probabilities(cohort, truth)
    return TestCohort(
        simulated=n,
        seed=seed,
        cohort=cohort,
        p_true=p_true,
        oracle_auroc=float(roc_auc_score(cohort.y, p_true)),
        labelled=len(labelled.y),
        oracle_auroc_labelled=float(
            roc_auc_score(labelled.y, _true_probabilities(labelled, truth))
        ),
        seconds=time.perf_counter() - started,
    )


def with_resamples(config: TrainingConfig, resamples: int) -> TrainingConfig:
    validation = config.validation.model_copy(update={"bootstrap_resamples": resamples})
    return config.model_copy(update={"validation": validation})


def allowing_below_minimum(config: TrainingConfig) -> TrainingConfig:
    sample_size = config.sample_size.model_copy(update={"allow_below_minimum": True})
    return config.model_copy(update={"sample_size": sample_size})


def isolated_settings(home: Path) -> Settings:
    """An embedded store in ``home``, whatever tracking server the environment names."""
    return Settings(home=home).model_copy(update={"tracking_uri": None, "registry_uri": None})


def timed_training(
    path: Path, config: TrainingConfig, home: Path
) -> tuple[TrainingResult, float, bool, float | None]:
    """Train; if nothing may be registered, train again with the Riley override.

    Returns the result, the wall time of the call that registered, whether the override was
    needed, and the wall time of the refused call (None when the first call registered).
    """
    started = time.perf_counter()
    try:
        result = train(path, config, isolated_settings(home))
        return result, time.perf_counter() - started, False, None
    except NothingToRegisterError:
        refused = time.perf_counter() - started
    started = time.perf_counter()
    result = train(path, allowing_below_minimum(config), isolated_settings(home))
    return result, time.perf_counter() - started, True, refused


def candidate_figures(result: CandidateResult, chosen: str, test: TestCohort) -> CandidateFigures:
    """The candidate's fitted pipeline scored on the test cohort."""
    fitted = result.fitted
    X = test.cohort.inputs(fitted.candidate.feature_set)
    p = np.asarray(fitted.pipeline.predict_proba(X)[:, 1], dtype=np.float64)
    metrics = clinical_metrics(test.cohort.y, p)
    error = np.abs(p - test.p_true)
    return CandidateFigures(
        candidate=result.name,
        kind=fitted.candidate.kind,
        feature_set=fitted.candidate.feature_set,
        chosen=result.name == chosen,
        recalibration=fitted.recalibration,
        params={k.removeprefix("classifier__"): v for k, v in fitted.best_params.items()},
        riley_parameters=result.sample_size.parameters,
        riley_minimum_n=result.sample_size.n,
        sample_size_met=result.sample_size_met,
        gate_passed=result.gate.passed,
        internal_auroc=result.report.headline("auroc"),
        internal_auroc_harrell=result.report.estimates("auroc")[HARRELL].value,
        internal_calibration_slope=result.report.headline("calibration_slope"),
        test_auroc=metrics["auroc"],
        auroc_gap=test.oracle_auroc - metrics["auroc"],
        ici_true=float(error.mean()),
        max_abs_error_true=float(error.max()),
        ici_observed=metrics["ici"],
        calibration_slope=metrics["calibration_slope"],
        calibration_intercept=metrics["calibration_intercept"],
        brier=metrics["brier"],
    )


def run_size(
    n: int, seed: int, config: TrainingConfig, test: TestCohort, work: Path
) -> SizeFigures:
    """Simulate, train and measure one development size."""
    folder = work / f"n{n}"
    path, _ = build_baseline(n, seed, folder / "baseline.parquet")
    result, seconds, override, refused = timed_training(path, config, folder / "mlruns")
    y = result.chosen.report.y
    return SizeFigures(
        simulated=n,
        seed=seed,
        used=len(y),
        responders=int(y.sum()),
        override=override,
        training_seconds=seconds,
        refused_seconds=refused,
        chosen=result.chosen.name,
        candidates=[candidate_figures(r, result.chosen.name, test) for r in result.results],
    )


def targets(sizes: Sequence[SizeFigures], resamples: int) -> list[Target]:
    """The stated targets, read at `TARGET_SIZE` (not measured when that size was not run)."""
    at = next((s for s in sizes if s.simulated == TARGET_SIZE), None)
    chosen = at.chosen_figures() if at is not None else None
    gap = chosen.auroc_gap if chosen is not None else None
    ici = chosen.ici_true if chosen is not None else None
    seconds = at.training_seconds if at is not None and resamples == TARGET_RESAMPLES else None
    return [
        Target(
            f"AUROC gap to the oracle at {TARGET_SIZE:,}",
            f"<= {TARGET_AUROC_GAP}",
            gap,
            None if gap is None else gap <= TARGET_AUROC_GAP,
        ),
        Target(
            f"ICI against the true probabilities at {TARGET_SIZE:,}",
            f"<= {TARGET_ICI_TRUE}",
            ici,
            None if ici is None else ici <= TARGET_ICI_TRUE,
        ),
        Target(
            f"training time at {TARGET_SIZE:,} with {TARGET_RESAMPLES} resamples (s)",
            f"< {TARGET_TRAINING_SECONDS:.0f}",
            seconds,
            None if seconds is None else seconds < TARGET_TRAINING_SECONDS,
        ),
    ]


def environment() -> dict[str, Any]:
    versions = {name: metadata.version(name) for name in PACKAGES}
    return {
        "python": platform.python_version(),
        **versions,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def run(
    sizes: Sequence[int],
    test_size: int,
    seed: int,
    test_seed: int,
    resamples: int,
    work: Path,
    progress: bool = True,
) -> Result:
    """Build the test cohort, then train and measure every development size."""
    config = with_resamples(load_config(), resamples)
    test = build_test_cohort(test_size, test_seed, work, config.eligible_only)
    if progress:
        print(
            f"test cohort ready ({len(test.cohort.y):,} patients, {test.seconds:.0f} s)",
            file=sys.stderr,
        )
    figures: list[SizeFigures] = []
    for n in sizes:
        figures.append(run_size(n, seed, config, test, work))
        if progress:
            print(f"N={n:,} trained in {figures[-1].training_seconds:.0f} s", file=sys.stderr)
    return Result(
        test_size=test_size,
        test_seed=test_seed,
        test_used=len(test.cohort.y),
        test_labelled=test.labelled,
        oracle_auroc=test.oracle_auroc,
        oracle_auroc_labelled=test.oracle_auroc_labelled,
        seed=seed,
        resamples=resamples,
        cv_folds=config.cv_folds,
        n_jobs=config.n_jobs,
        sizes=figures,
        targets=targets(figures, resamples),
        environment=environment(),
    )


def _json_ready(value: Any) -> Any:
    """``value`` with every non-finite float as None, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


def _number(value: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _size_header(size: SizeFigures) -> str:
    override = "yes (below the Riley minimum)" if size.override else "no"
    refused = (
        f", refused call {size.refused_seconds:.0f} s" if size.refused_seconds is not None else ""
    )
    return (
        f"N = {size.simulated:,} (seed {size.seed}): {size.used:,} used, {size.responders:,} "
        f"responders; override: {override}; training {size.training_seconds:.0f} s{refused}"
    )


CANDIDATE_COLUMNS: Final = (
    f"  {'candidate':<20}{'recal':>9}{'AUROC':>8}{'gap':>8}{'ICI(true)':>11}{'slope':>8}"
    f"{'interc.':>9}{'Brier':>8}{'int. AUROC':>12}{'Harrell':>9}{'int. slope':>12}"
    f"{'params':>8}{'Riley n':>9}"
)


def _candidate_row(c: CandidateFigures) -> str:
    mark = "*" if c.chosen else " "
    return (
        f"{mark} {c.candidate:<20}{c.recalibration:>9}{_number(c.test_auroc):>8}"
        f"{_number(c.auroc_gap):>8}{_number(c.ici_true):>11}{_number(c.calibration_slope, 2):>8}"
        f"{_number(c.calibration_intercept, 2):>9}{_number(c.brier):>8}"
        f"{_number(c.internal_auroc):>12}{_number(c.internal_auroc_harrell):>9}"
        f"{_number(c.internal_calibration_slope, 2):>12}{c.riley_parameters:>8}"
        f"{c.riley_minimum_n:>9,}"
    )


def report(result: Result) -> str:
    """The figures as text: a summary by size, every candidate, then the targets."""
    lines = [
        f"mrbs train: test cohort of {result.test_size:,} simulated patients (seed "
        f"{result.test_seed}), {result.test_used:,} eligible with a label and no problem",
        f"oracle AUROC (true probabilities): {result.oracle_auroc:.4f} "
        f"({result.test_labelled:,} labelled rows, eligible or not: "
        f"{result.oracle_auroc_labelled:.4f})",
        f"training: default configuration, {result.resamples} bootstrap resamples, "
        f"{result.cv_folds}-fold CV, n_jobs {result.n_jobs}, development seed {result.seed}",
        "",
        "registered (chosen) model on the test cohort",
        f"{'N':>7}{'used':>7}{'chosen':>20}{'AUROC':>8}{'oracle':>8}{'gap':>8}{'ICI(true)':>11}"
        f"{'slope':>8}{'interc.':>9}{'train (s)':>11}{'override':>10}",
    ]
    for size in result.sizes:
        c = size.chosen_figures()
        lines.append(
            f"{size.simulated:>7,}{size.used:>7,}{c.candidate:>20}{_number(c.test_auroc):>8}"
            f"{_number(result.oracle_auroc):>8}{_number(c.auroc_gap):>8}"
            f"{_number(c.ici_true):>11}{_number(c.calibration_slope, 2):>8}"
            f"{_number(c.calibration_intercept, 2):>9}{size.training_seconds:>11.0f}"
            f"{'yes' if size.override else 'no':>10}"
        )
    lines += [
        "",
        "every candidate (* registered; int. AUROC = headline internal AUROC, .632+ bootstrap; "
        "Harrell = Harrell's optimism-corrected AUROC; int. slope = cross-validated; params = "
        "parameters counted for Riley)",
    ]
    for size in result.sizes:
        lines += ["", _size_header(size), CANDIDATE_COLUMNS]
        lines += [_candidate_row(c) for c in size.candidates]
    lines += ["", "targets"]
    for target in result.targets:
        value = "not measured" if target.value is None else f"{target.value:.4g}"
        lines.append(f"  {target.verdict:<5} {target.name}: {value} (target {target.limit})")
    return "\n".join(lines)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of whole numbers"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive whole numbers")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.training",
        description="Test AUROC, calibration and training time of `mrbs train` by cohort size, "
        "against the simulator's true probabilities.",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES),
        help="development cohort sizes, comma-separated (default 500,1000,2000,5000)",
    )
    parser.add_argument("--test-size", type=int, default=20_000, help="test cohort size")
    parser.add_argument("--seed", type=int, default=1, help="development cohort seed")
    parser.add_argument(
        "--test-seed",
        type=int,
        help=f"test cohort seed (default: --seed + {TEST_SEED_OFFSET:,})",
    )
    parser.add_argument(
        "--resamples", type=int, default=200, help="bootstrap resamples of internal validation"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    args = parser.parse_args(argv)
    if args.test_size < 1:
        parser.error("--test-size must be at least 1")
    if not 0 <= args.resamples <= 5000:
        parser.error("--resamples must lie within 0..5000")
    if args.test_seed is None:
        args.test_seed = args.seed + TEST_SEED_OFFSET
    if args.test_seed == args.seed:
        parser.error("--test-seed must differ from --seed (the test cohort is independent)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="mrbs-bench-training-") as work:
        result = run(
            args.sizes, args.test_size, args.seed, args.test_seed, args.resamples, Path(work)
        )
    print(report(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_json_ready(result.to_dict()), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
