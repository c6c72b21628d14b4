"""The `mrbs` command line: thin Typer commands over plain, typed functions."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from training.config import TrainingConfig

app = typer.Typer(
    name="mrbs",
    help="MRBS: predict week-48 SRI-4 response to belimumab in SLE from baseline data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cohort_app = typer.Typer(help="Assemble baseline cohort tables from raw clinical records.")
app.add_typer(cohort_app, name="cohort")


def _quiet_third_party_noise() -> None:
    # pandera imports pyspark.pandas when pyspark is installed, which warns about pandas 3 on
    # every start although MRBS never uses pandas-on-Spark.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


@app.callback()
def _main() -> None:
    _quiet_third_party_noise()


@app.command()
def simulate(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of patients to simulate.")],
    out: Annotated[Path, typer.Option(help="Folder to write the raw tables into.")],
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same cohort.")
    ] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="File format of the tables: csv or parquet.")
    ] = "csv",
) -> None:
    """Simulate a treated cohort calibrated to the BLISS trials, as raw tables."""
    from simulator import simulate as run_simulation
    from simulator import write_tables

    if fmt not in ("csv", "parquet"):
        raise _fail(f"--format: {fmt!r} is not csv or parquet")
    started = time.perf_counter()
    cohort = run_simulation(n, seed)
    fmt_literal: Literal["csv", "parquet"] = "csv" if fmt == "csv" else "parquet"
    paths = write_tables(cohort, out, fmt=fmt_literal)
    elapsed = time.perf_counter() - started
    typer.echo(f"simulated {n} patients (seed {seed}) in {elapsed:.1f} s:")
    for path in paths:
        typer.echo(f"  {path}")


@cohort_app.command("build")
def cohort_build(
    folder: Annotated[
        Path, typer.Argument(help="Folder holding patients, labs and assessments (.csv/.parquet).")
    ],
    out: Annotated[Path, typer.Option(help="Baseline table to write (.csv or .parquet).")],
) -> None:
    """Build one baseline row per patient: predictors, eligibility and the SRI-4 label."""
    from features.cohort import build_cohort, check_output, write_cohort
    from features.io import TableError
    from features.schema import MissingColumnsError

    started = time.perf_counter()
    try:
        check_output(folder, out)
        cohort = build_cohort(folder)
        table_path, summary_path = write_cohort(cohort, out)
    except (TableError, MissingColumnsError) as error:
        raise _fail(str(error)) from None
    elapsed = time.perf_counter() - started
    typer.echo(cohort.summary.to_json())
    typer.echo(f"wrote {table_path} and {summary_path} in {elapsed:.1f} s")


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Training configuration (YAML); default configs/default.yaml."),
]


def _config(path: Path | None) -> TrainingConfig:
    from training.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as error:
        raise _fail(str(error)) from None


@app.command()
def train(
    cohort: Annotated[Path, typer.Option(help="Baseline table from `mrbs cohort build`.")],
    config: ConfigOption = None,
) -> None:
    """Fit, validate and compare the configured candidates; register the best in MLflow."""
    from features.io import TableError
    from mrbs.settings import Settings
    from training.data import CohortError
    from training.train import NothingToRegisterError, summary_json
    from training.train import train as run_training

    settings = Settings()
    started = time.perf_counter()
    try:
        result = run_training(cohort, _config(config), settings)
    except (TableError, CohortError, NothingToRegisterError) as error:
        raise _fail(str(error)) from None
    typer.echo(summary_json(result))
    typer.echo(
        f"registered {result.registered.name} version {result.registered.version} "
        f"(alias candidate) in {time.perf_counter() - started:.0f} s; tracking store: "
        f"{settings.resolved_tracking_uri}"
    )


@app.command()
def evaluate(
    model: Annotated[str, typer.Option(help="Model URI, e.g. models:/mrbs-sri4/3 or @champion.")],
    cohort: Annotated[Path, typer.Option(help="Baseline table of the validation cohort.")],
    config: ConfigOption = None,
) -> None:
    """Validate a registered model on another cohort (external validation), nothing refitted."""
    from mlflow.exceptions import MlflowException

    from features.io import TableError
    from mrbs.settings import Settings
    from training.data import CohortError
    from training.evaluate import evaluate as run_evaluation

    try:
        result = run_evaluation(model, cohort, _config(config), Settings())
    except (TableError, CohortError, MlflowException) as error:
        raise _fail(str(error)) from None
    typer.echo(result.to_json())


@app.command()
def promote(
    version: Annotated[
        str,
        typer.Argument(help="Version to make the champion: a number, or an alias like @candidate."),
    ],
    config: ConfigOption = None,
) -> None:
    """Move the `champion` alias to a version, only if its promotion gate passes."""
    from mlflow.exceptions import MlflowException

    from mrbs.settings import Settings
    from training import tracking
    from training.registry import PromotionRefusedError, resolve_alias
    from training.registry import promote as run_promotion

    settings = Settings()
    loaded = _config(config)
    tracking.configure(settings)
    try:
        if version.startswith("@"):
            version = resolve_alias(loaded.registered_model, version[1:])
        run_promotion(loaded.registered_model, version, loaded)
    except (PromotionRefusedError, MlflowException) as error:
        raise _fail(str(error)) from None
    typer.echo(f"{loaded.registered_model} version {version} is now the champion")


if __name__ == "__main__":
    app()
