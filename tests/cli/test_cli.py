"""The `mrbs` command line, run through Typer's test runner on small simulated cohorts."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from mrbs.cli import app

N: Final = 200
SEED: Final = 3
TABLES: Final = ("patients", "labs", "assessments")
C3_CODES: Final = ("4485-9", "C3")
UNIT_NOT_ACCEPTED: Final = "c3: unit not accepted (accepted: mg/dL, g/L)"
NOT_A_NUMBER: Final = "c3: not a number"


def invoke(*args: str | Path | int) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def summary_printed(result: Result) -> dict[str, Any]:
    """The JSON object the build prints first on standard output."""
    assert result.stdout.startswith("{")
    printed, _ = json.JSONDecoder().raw_decode(result.stdout)
    assert isinstance(printed, dict)
    return printed


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder written by `mrbs simulate`, shared read-only by the tests of this module."""
    folder = tmp_path_factory.mktemp("simulated")
    result = invoke("simulate", "--n", N, "--seed", SEED, "--out", folder)
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def raw(simulated: Path, tmp_path: Path) -> Path:
    """A private copy of the simulated cohort's input tables (the truth table left out)."""
    folder = tmp_path / "raw"
    folder.mkdir()
    for name in TABLES:
        shutil.copy(simulated / f"{name}.csv", folder / f"{name}.csv")
    return folder


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_help_lists_the_subcommands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "simulate" in result.stdout
    assert "cohort" in result.stdout
    cohort_help = invoke("cohort", "--help")
    assert cohort_help.exit_code == 0
    assert "build" in cohort_help.stdout


def test_simulate_writes_the_four_tables(simulated: Path) -> None:
    assert sorted(p.name for p in simulated.iterdir()) == [
        "assessments.csv",
        "labs.csv",
        "patients.csv",
        "truth.csv",
    ]
    assert len(pd.read_csv(simulated / "patients.csv")) == N


def test_simulate_rejects_an_unknown_format(tmp_path: Path) -> None:
    result = invoke("simulate", "--n", 10, "--out", tmp_path / "x", "--format", "xlsx")
    assert result.exit_code == 2
    assert "error: --format: 'xlsx' is not csv, parquet or fhir" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_simulated_bulk_fhir_export_builds_like_its_tables(tmp_path: Path) -> None:
    for fmt in ("csv", "fhir"):
        simulated = invoke(
            "simulate", "--n", 20, "--seed", SEED, "--out", tmp_path / fmt, "--format", fmt
        )
        assert simulated.exit_code == 0, simulated.stderr
    assert (tmp_path / "fhir" / "Observation.ndjson").exists()
    built = {}
    for fmt in ("csv", "fhir"):
        result = invoke("cohort", "build", tmp_path / fmt, "--out", tmp_path / f"{fmt}.csv")
        assert result.exit_code == 0, result.stderr
        built[fmt] = (tmp_path / f"{fmt}.csv").read_text()
    assert built["fhir"] == built["csv"]


def test_build_writes_table_and_summary_and_prints_the_summary(raw: Path, out_dir: Path) -> None:
    before = snapshot(raw)
    out = out_dir / "baseline.csv"
    result = invoke("cohort", "build", raw, "--out", out)

    assert result.exit_code == 0, result.output
    summary_path = out_dir / "baseline.summary.json"
    assert sorted(p.name for p in out_dir.iterdir()) == ["baseline.csv", "baseline.summary.json"]
    written = json.loads(summary_path.read_text())
    assert summary_printed(result) == written
    assert result.stdout.rstrip().splitlines()[-1].startswith(f"wrote {out} and {summary_path}")

    table = pd.read_csv(out)
    patients = pd.read_csv(raw / "patients.csv")
    assert table["patient_id"].tolist() == patients["patient_id"].tolist()
    assert written["patients"] == N
    assert sum(written["label"].values()) == N
    assert sum(written["eligible"].values()) == N
    assert written["label"]["responder"] == int(table["sri4_w48"].eq(True).sum())
    assert written["rows_with_problems"] == int(table["problems"].notna().sum())
    assert {"eligible", "eligibility_reasons", "sri4_w48", "problems", "flags"} <= set(table)
    assert snapshot(raw) == before


def test_build_writes_parquet(raw: Path, out_dir: Path) -> None:
    result = invoke("cohort", "build", raw, "--out", out_dir / "baseline.parquet")
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out_dir / "baseline.parquet")
    assert len(table) == N
    assert table["patient_id"].is_unique


def _semicolons(folder: Path) -> None:
    path = folder / "labs.csv"
    path.write_text(path.read_text().replace(",", ";"))


def _drop_analyte(folder: Path) -> None:
    path = folder / "labs.csv"
    pd.read_csv(path, dtype="string").drop(columns="analyte").to_csv(path, index=False)


def _empty(folder: Path) -> None:
    (folder / "patients.csv").write_bytes(b"")


def _no_assessments(folder: Path) -> None:
    (folder / "assessments.csv").unlink()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(
            _semicolons,
            r"labs\.csv: missing required column\(s\): patient_id, visit_week, analyte, value, "
            r"unit \(the file seems to use ';' as delimiter; MRBS reads comma-separated CSV\)",
            id="semicolon-delimiter",
        ),
        pytest.param(
            _drop_analyte,
            r"labs\.csv: missing required column\(s\): analyte$",
            id="missing-column",
        ),
        pytest.param(_empty, r"patients\.csv: the file is empty$", id="empty-file"),
        pytest.param(
            _no_assessments, r": no assessments\.csv or assessments\.parquet$", id="missing-table"
        ),
    ],
)
def test_malformed_input_is_refused_without_output(
    raw: Path, out_dir: Path, damage: Callable[[Path], None], message: str
) -> None:
    damage(raw)
    before = snapshot(raw)
    result = invoke("cohort", "build", raw, "--out", out_dir / "baseline.csv")

    assert result.exit_code == 2
    error = result.stderr.strip()
    assert error.startswith(f"error: {raw}")
    assert len(error.splitlines()) == 1
    assert re.search(message, error), error
    assert result.stdout == ""
    assert list(out_dir.iterdir()) == []
    assert snapshot(raw) == before


def test_unsupported_output_format_is_refused(raw: Path, out_dir: Path) -> None:
    result = invoke("cohort", "build", raw, "--out", out_dir / "baseline.xlsx")
    assert result.exit_code == 2
    assert "baseline.xlsx: unsupported format '.xlsx' (use .csv or .parquet)" in result.stderr
    assert list(out_dir.iterdir()) == []


def _c3_rows(labs: pd.DataFrame, patient_ids: list[str]) -> list[Any]:
    is_c3 = labs["analyte"].isin(C3_CODES)
    return [labs.index[is_c3 & labs["patient_id"].eq(pid)][0] for pid in patient_ids]


def test_unknown_unit_and_text_value_are_row_problems(
    simulated: Path, raw: Path, out_dir: Path
) -> None:
    truth = pd.read_csv(simulated / "truth.csv", keep_default_na=False)
    clean = truth.loc[truth["injected_error"].eq(""), "patient_id"].tolist()
    unit_patient, text_patient = clean[0], clean[1]
    labs = pd.read_csv(raw / "labs.csv", dtype="string")
    unit_row, text_row = _c3_rows(labs, [unit_patient, text_patient])
    labs.loc[unit_row, "unit"] = "mmol/L"
    labs.loc[text_row, "value"] = "see comment"
    labs.to_csv(raw / "labs.csv", index=False)
    before = snapshot(raw)

    result = invoke("cohort", "build", raw, "--out", out_dir / "baseline.csv")

    assert result.exit_code == 0, result.output
    table = pd.read_csv(out_dir / "baseline.csv").set_index("patient_id")
    assert len(table) == N
    unit_notes = table.loc[unit_patient, "problems"].split("; ")
    assert UNIT_NOT_ACCEPTED in unit_notes
    assert table.loc[text_patient, "problems"] == NOT_A_NUMBER
    assert pd.isna(table.loc[unit_patient, "c3"])
    assert pd.isna(table.loc[text_patient, "c3"])
    summary = summary_printed(result)
    assert summary["problems"][UNIT_NOT_ACCEPTED] == 1
    assert summary["problems"][NOT_A_NUMBER] == 1
    assert summary == json.loads((out_dir / "baseline.summary.json").read_text())
    assert snapshot(raw) == before


@pytest.mark.parametrize("name", ["patients.csv", "labs.parquet"])
def test_output_naming_an_input_table_is_refused(raw: Path, name: str) -> None:
    # labs.parquet beside labs.csv would leave the folder with two labs tables.
    before = snapshot(raw)
    result = invoke("cohort", "build", raw, "--out", raw / name)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {raw / name}")
    assert snapshot(raw) == before


@pytest.mark.slow
def test_a_csv_baseline_goes_through_every_command_and_a_damaged_model_is_refused(
    development_cohort: Path,
    validation_cohort: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from features.io import write_table
    from training.data import load_cohort

    home = tmp_path / "mlruns"
    monkeypatch.setenv("MRBS_HOME", str(home))
    development = write_table(pd.read_parquet(development_cohort), tmp_path / "dev.csv")
    validation = write_table(pd.read_parquet(validation_cohort), tmp_path / "val.csv")
    from_csv = load_cohort(development, eligible_only=True)
    from_parquet = load_cohort(development_cohort, eligible_only=True)
    assert (from_csv.y == from_parquet.y).all()
    assert from_csv.excluded == from_parquet.excluded

    quick = Path("configs/quick.yaml").resolve()
    trained = invoke("train", "--cohort", development, "--config", quick)
    assert trained.exit_code == 0, trained.output
    uri = "models:/mrbs-sri4/1"
    on_csv = invoke("evaluate", "--model", uri, "--cohort", validation, "--config", quick)
    on_parquet = invoke(
        "evaluate", "--model", uri, "--cohort", validation_cohort, "--config", quick
    )
    assert on_csv.exit_code == on_parquet.exit_code == 0, on_csv.output + on_parquet.output
    assert json.loads(on_csv.stdout)["metrics"] == json.loads(on_parquet.stdout)["metrics"]
    scored = invoke("score", validation, "--out", tmp_path / "scored.csv", "--model", uri)
    assert scored.exit_code == 0, scored.output
    assert len(pd.read_csv(tmp_path / "scored.csv")) == len(pd.read_csv(validation))

    # One byte of the registered pipeline changed in the store: every reader refuses it.
    from mlflow import MlflowClient

    from infra import store
    from infra.settings import Settings

    store.configure(Settings(home=home))
    location = MlflowClient().get_model_version_download_uri("mrbs-sri4", "1")
    pipeline = Path(location.removeprefix("file://")) / "artifacts" / "pipeline.skops"
    data = bytearray(pipeline.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pipeline.write_bytes(bytes(data))
    for command in (
        ("score", validation, "--out", tmp_path / "again.csv", "--model", uri),
        ("serve", "--model", uri, "--port", 9),
    ):
        refused = invoke(*command)
        assert refused.exit_code == 2, refused.output
        assert "Traceback" not in refused.output
        assert (
            "model mrbs-sri4 version 1: artifacts/pipeline.skops does not match the digest "
            "recorded at registration" in refused.output
        )
    assert not (tmp_path / "again.csv").exists()


def test_simulate_a_shifted_site_rejects_an_impossible_rate(tmp_path: Path) -> None:
    result = invoke("simulate", "--n", 10, "--out", tmp_path / "x", "--response-rate", 1.5)
    assert result.exit_code == 2
    assert "error: --response-rate:" in result.stderr
    assert not (tmp_path / "x").exists()


def test_update_refuses_an_unusable_site_name_before_reading_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MRBS_HOME", str(tmp_path / "mlruns"))
    result = invoke(
        "update", "--model", "models:/mrbs-sri4/1", "--cohort", tmp_path / "none.parquet",
        "--site", "Site B",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "error: --site: 'Site B' is not a usable site name" in result.stderr
    assert not (tmp_path / "mlruns").exists()
