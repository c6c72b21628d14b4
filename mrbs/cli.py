"""The `mrbs` command line: thin Typer commands over plain, typed functions."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Annotated, Literal

import typer

app = typer.Typer(
    name="mrbs",
    help="MRBS: predict week-48 SRI-4 response to belimumab in SLE from baseline data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cohort_app = typer.Typer(help="Assemble baseline cohort tables from raw clinical records.")
app.add_typer(cohort_app, name="cohort")


class UserError(Exception):
    """An error the user can fix; its message says what to do."""


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
    from features.cohort import build_cohort, write_cohort
    from features.io import TableError
    from features.schema import MissingColumnsError

    started = time.perf_counter()
    try:
        cohort = build_cohort(folder)
        table_path, summary_path = write_cohort(cohort, out)
    except (TableError, MissingColumnsError) as error:
        raise _fail(str(error)) from None
    elapsed = time.perf_counter() - started
    typer.echo(cohort.summary.to_json())
    typer.echo(f"wrote {table_path} and {summary_path} in {elapsed:.1f} s")


if __name__ == "__main__":
    app()
