"""The `mrbs` command line: thin Typer commands over plain, typed functions of the stages.

This is the entry point: it builds the settings from the environment and passes them down, and
it alone sets up the process (warnings, library defaults) before the stages are imported.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from infra.quiet import child_environment, quiet_process
from infra.settings import Settings

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


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


@app.callback()
def _main() -> None:
    quiet_process()


@app.command()
def simulate(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of patients to simulate.")],
    out: Annotated[Path, typer.Option(help="Folder to write the raw tables into.")],
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same cohort.")
    ] = 0,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="csv or parquet tables, or fhir (a FHIR Bulk Data export, NDJSON)."
        ),
    ] = "csv",
    response_rate: Annotated[
        float | None,
        typer.Option(help="A shifted site: its share of responders (default: BLISS, 50.6 %)."),
    ] = None,
    effect_scale: Annotated[
        float,
        typer.Option(help="A shifted site: multiplies the strongest predictors' effects."),
    ] = 1.0,
) -> None:
    """Simulate a treated cohort calibrated to the BLISS trials, as raw tables."""
    from pydantic import ValidationError

    from simulator import simulate as run_simulation
    from simulator import write_tables
    from simulator.site_shift import SiteShift, shifted_config

    formats: dict[str, Literal["csv", "parquet", "fhir"]] = {
        "csv": "csv",
        "parquet": "parquet",
        "fhir": "fhir",
    }
    if fmt not in formats:
        raise _fail(f"--format: {fmt!r} is not csv, parquet or fhir")
    config = None
    if response_rate is not None or effect_scale != 1.0:
        try:
            shift = SiteShift(response_rate=response_rate, effect_scale=effect_scale)
        except ValidationError as error:
            details = "; ".join(
                f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in error.errors()
            )
            raise _fail(details) from None
        config = shifted_config(shift)
    started = time.perf_counter()
    cohort = run_simulation(n, seed, config=config)
    fmt_literal = formats[fmt]
    paths = write_tables(cohort, out, fmt=fmt_literal)
    elapsed = time.perf_counter() - started
    typer.echo(f"simulated {n} patients (seed {seed}) in {elapsed:.1f} s:")
    for path in paths:
        typer.echo(f"  {path}")


@cohort_app.command("build")
def cohort_build(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder holding patients, labs and assessments (.csv/.parquet), or a FHIR "
            "Bulk Data export (Patient.ndjson, Observation.ndjson, ...)."
        ),
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
    from infra.store import ModelNotFoundError
    from scoring import ModelIntegrityError, ModelLoadError
    from training.data import CohortError
    from training.evaluate import evaluate as run_evaluation

    try:
        result = run_evaluation(model, cohort, _config(config), Settings())
    except (
        TableError,
        CohortError,
        MlflowException,
        ModelNotFoundError,
        ModelLoadError,
        ModelIntegrityError,
    ) as error:
        raise _fail(str(error)) from None
    typer.echo(result.to_json())


@app.command()
def update(
    model: Annotated[str, typer.Option(help="Parent model URI, e.g. models:/mrbs-sri4/3.")],
    cohort: Annotated[Path, typer.Option(help="Baseline table of the local (site) cohort.")],
    site: Annotated[
        str | None,
        typer.Option(
            help="Site name; the site model is mrbs-sri4-<site>. Default: the cohort file's name."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Validate a model at a new site and update it as little as the local data support."""
    from mlflow.exceptions import MlflowException

    from features.io import TableError
    from infra.store import ModelNotFoundError
    from scoring import ModelIntegrityError, ModelLoadError
    from training.data import CohortError
    from training.update import UpdateError
    from training.update import update as run_update

    started = time.perf_counter()
    try:
        result = run_update(model, cohort, _config(config), Settings(), site=site, echo=typer.echo)
    except (
        TableError,
        CohortError,
        UpdateError,
        MlflowException,
        ModelNotFoundError,
        ModelLoadError,
        ModelIntegrityError,
    ) as error:
        raise _fail(str(error)) from None
    typer.echo(result.to_json())
    typer.echo(
        f"promote it with: mrbs promote {result.registered.version} --name "
        f"{result.registered.name} ({time.perf_counter() - started:.0f} s)"
    )


@app.command()
def promote(
    version: Annotated[
        str,
        typer.Argument(help="Version to make the champion: a number, or an alias like @candidate."),
    ],
    name: Annotated[
        str | None,
        typer.Option(help="Registered model, e.g. a site model; default the configured one."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Move the `champion` alias to a version, only if its promotion gate passes."""
    from mlflow.exceptions import MlflowException

    from infra import store
    from training.registry import PromotionRefusedError, resolve_alias
    from training.registry import promote as run_promotion

    settings = Settings()
    loaded = _config(config)
    model_name = name or loaded.registered_model
    store.configure(settings)
    try:
        if version.startswith("@"):
            version = resolve_alias(model_name, version[1:])
        run_promotion(model_name, version, loaded)
    except (PromotionRefusedError, MlflowException) as error:
        raise _fail(str(error)) from None
    typer.echo(f"{model_name} version {version} is now the champion")


ModelOption = Annotated[
    str, typer.Option("--model", help="Model URI; default the registry's champion.")
]


@app.command()
def score(
    input_path: Annotated[Path, typer.Argument(help="Cohort file to score (.parquet or .csv).")],
    out: Annotated[Path, typer.Option(help="File to write (.parquet or .csv).")],
    model: ModelOption = "models:/mrbs-sri4@champion",
    engine: Annotated[str, typer.Option(help="local, or spark (Parquet only).")] = "local",
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows scored at a time.")] = 100_000,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run.")] = True,
    contributions: Annotated[bool, typer.Option(help="Per-predictor contributions.")] = True,
) -> None:
    """Score a whole cohort file: every row kept, in order, with problems per row."""
    from serving.batch import BatchError
    from serving.batch import score as run_scoring

    if engine not in ("local", "spark"):
        raise _fail(f"--engine: {engine!r} is not local or spark")
    if engine == "spark":
        # Spark's Python workers on this machine: this interpreter, with MRBS installed.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        summary = run_scoring(
            input_path,
            out,
            model_uri=model,
            engine="local" if engine == "local" else "spark",
            chunk_size=chunk_size,
            resume=resume,
            contributions=contributions,
            settings=Settings(),
        )
    except BatchError as error:
        raise _fail(str(error)) from None
    typer.echo(summary.to_json())


token_app = typer.Typer(help="Bearer tokens for the prediction service.")
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who will use the token (shown in the audit log).")],
    out: Annotated[
        Path | None, typer.Option(help="Write the token to this file (0600) instead of printing.")
    ] = None,
) -> None:
    """Create a token; only its SHA-256 digest is stored, so keep the token itself safe."""
    from serving.http.security import create_token
    from serving.http.settings import ServingSettings

    serving = ServingSettings()
    try:
        token = create_token(serving.resolved_tokens_file, name)
    except ValueError as error:
        raise _fail(str(error)) from None
    if out is None:
        typer.echo(token)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(token + "\n")
    out.chmod(0o600)
    typer.echo(f"token for {name} written to {out}")


def _import_for_serving(model: str) -> tuple[str, Path]:
    """Import ``model`` into the BentoML store (``BENTOML_HOME``, default inside MRBS_HOME)."""
    from serving.http.settings import ServingSettings

    # BentoML reads its home once, when imported: set it before.
    bentoml_home = Path(os.environ.setdefault("BENTOML_HOME", str(ServingSettings().bentoml_home)))
    from mlflow.exceptions import MlflowException

    from infra.store import ModelNotFoundError
    from scoring import ModelIntegrityError, ModelLoadError
    from serving.release import import_model

    try:
        tag = import_model(Settings(), model)
    except (ModelNotFoundError, ModelLoadError, ModelIntegrityError, MlflowException) as error:
        raise _fail(str(error)) from None
    return tag, bentoml_home


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    model: ModelOption = "models:/mrbs-sri4@champion",
) -> None:
    """Serve predictions over HTTP (BentoML) from the champion, pinned to its exact version."""
    from serving.release.bento import SERVICE

    tag, bentoml_home = _import_for_serving(model)
    typer.echo(f"serving {tag} on http://{host}:{port} (BENTOML_HOME={bentoml_home})", err=True)
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--arg", f"bento_model={tag}"]
    environment = child_environment({**os.environ, "BENTOML_HOME": str(bentoml_home)})
    os.execve(sys.executable, [*command, "--host", host, "--port", str(port)], environment)


@app.command()
def release(model: ModelOption = "models:/mrbs-sri4@champion") -> None:
    """Package the champion's exact version with the service into a Bento (no Docker needed)."""
    tag, bentoml_home = _import_for_serving(model)
    from serving.release import build

    bento = build(tag)
    typer.echo(f"built Bento {bento} with model {tag}; serve it with:")
    typer.echo(f"  BENTOML_HOME={bentoml_home} .venv/bin/bentoml serve {bento}")


if __name__ == "__main__":
    app()
