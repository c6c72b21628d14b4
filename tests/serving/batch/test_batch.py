"""Batch scoring of cohort files (`mrbs score`): every row kept in order, units, problems,
drift, malformed files, resume, and the Spark engine against the local one.

The session's store (tests/conftest.py) holds the two models: version 1 from a training (its run
holds reference bins, so scoring reports drift), version 2 logged directly (no reference bins).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.record import FIELDS
from features.reference import parse_reference, reference_bins
from infra.settings import Settings
from serving.batch import BatchError, score, summary_path
from serving.batch.chunks import DUPLICATE_FLAG
from serving.batch.drift import PSI_MAJOR, psi
from tests.conftest import RECALIBRATED_LOGISTIC, TRAINED, ModelStore

pytestmark = pytest.mark.slow

WITH_BINS: Final = TRAINED
WITHOUT_BINS: Final = RECALIBRATED_LOGISTIC
RECORD: Final = tuple(spec.name for spec in FIELDS)


@pytest.fixture(scope="session")
def records(development_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cohort's record columns only, with C3 of every third patient given in g/L."""
    frame = pd.read_parquet(development_cohort)
    frame = frame[["patient_id", *[c for c in RECORD if c in frame.columns]]].copy()
    in_grams = np.arange(len(frame)) % 3 == 0
    frame["c3_unit"] = np.where(in_grams, "g/L", "mg/dL")
    frame.loc[in_grams, "c3"] = frame.loc[in_grams, "c3"] / 100
    frame.loc[np.arange(len(frame)) % 7 == 0, "iga"] = np.nan
    path = tmp_path_factory.mktemp("records") / "records.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_every_row_comes_out_in_order_with_units_converted(
    model_store: ModelStore, records: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.parquet"
    summary = score(
        records, out, model_uri=WITH_BINS, settings=model_store.settings, chunk_size=250
    )
    scored, given = pd.read_parquet(out), pd.read_parquet(records)
    assert list(scored["patient_id"]) == list(given["patient_id"])
    assert summary.rows_in == len(given)
    # C3 of every third patient is given in g/L: the canonical value is what the model read.
    grams = given["c3_unit"].eq("g/L").to_numpy()
    assert grams.sum() > 500
    ok = scored["problems"].eq("").to_numpy()
    assert scored.loc[ok, "probability"].between(0, 1).all()
    assert scored.loc[~ok, "probability"].isna().all()
    assert (scored["model_name"] == "mrbs-sri4").all()
    assert (scored["model_version"] == "1").all()
    assert summary.engine_details == {"threads": min(4, os.cpu_count() or 1)}


def test_summary_counts_every_row_and_reports_drift(
    model_store: ModelStore, development_cohort: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.parquet"
    score(development_cohort, out, model_uri=WITH_BINS, settings=model_store.settings)
    written = json.loads(summary_path(out).read_text())
    scored = pd.read_parquet(out)
    assert written["rows_in"] == len(scored) == pq.ParquetFile(development_cohort).metadata.num_rows
    assert written["rows_scored"] == scored["probability"].notna().sum()
    assert written["rows_with_problems"] == (scored["problems"] != "").sum()
    expected = np.quantile(scored["probability"].dropna(), [0.05, 0.5, 0.95])
    got = [written["probability"]["quantiles"][q] for q in ("0.05", "0.5", "0.95")]
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-7)  # reported to 6 decimals
    assert written["probability"]["bands"] == scored["risk_band"].value_counts().to_dict()
    assert written["population"]["outside"] == scored["eligible"].eq(False).sum()
    assert written["population"]["unknown"] == scored["eligible"].isna().sum()
    assert written["model"] == {"name": "mrbs-sri4", "version": "1", "uri": WITH_BINS}
    # Scoring the cohort the model was trained on: nothing drifts.
    levels = {v["level"] for v in written["drift"]["predictors"].values()}
    assert levels == {"stable"}
    assert not written["drift"]["warnings"]
    assert "sledai_2k" in written["drift"]["predictors"]


def test_a_shifted_predictor_is_a_drift_warning(
    model_store: ModelStore, records: Path, tmp_path: Path
) -> None:
    shifted = pd.read_parquet(records)
    shifted["disease_duration"] = shifted["disease_duration"] + 15
    path = tmp_path / "shifted.parquet"
    shifted.to_parquet(path, index=False)
    summary = score(
        path, tmp_path / "out.parquet", model_uri=WITH_BINS, settings=model_store.settings
    )
    assert summary.drift["predictors"]["disease_duration"]["psi"] > PSI_MAJOR
    assert summary.drift["predictors"]["sledai_2k"]["level"] == "stable"
    [warning] = summary.warnings
    assert warning.startswith("disease_duration: PSI")
    assert "may not apply" in warning


def test_trained_models_carry_reference_bins_for_drift(
    model_store: ModelStore, records: Path, tmp_path: Path
) -> None:
    summary = score(
        records, tmp_path / "o.parquet", model_uri=WITH_BINS, settings=model_store.settings
    )
    assert set(summary.drift["predictors"]) >= {"sledai_2k", "c3", "c4", "igg", "anti_dsdna"}
    assert {entry["level"] for entry in summary.drift["predictors"].values()} <= {
        "stable",
        "moderate",
        "major",
    }


def test_a_model_without_reference_bins_scores_and_says_drift_was_skipped(
    model_store: ModelStore, records: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.parquet"
    summary = score(records, out, model_uri=WITHOUT_BINS, settings=model_store.settings)
    assert summary.rows_scored > 800
    assert summary.drift["reference"] is None
    assert summary.drift["predictors"] == {}
    assert not summary.warnings
    note = summary.drift["note"]
    assert note.startswith("drift not computed")
    assert "trained without reference bins" in note
    assert f"drift: {note}" in summary.describe()
    assert json.loads(summary_path(out).read_text())["drift"] == summary.drift


def test_psi_and_reference_bins_known_answers() -> None:
    expected = np.array([0.5, 0.5, 0.0])
    # (0.6 - 0.5) ln(0.6 / 0.5) + (0.4 - 0.5) ln(0.4 / 0.5) = 0.0182 + 0.0223
    assert psi(expected, np.array([60, 40, 0])) == pytest.approx(0.0405465, abs=1e-6)
    frame = pd.DataFrame(
        {
            "sledai_2k": [4.0, 6.0, 8.0, 10.0, np.nan],
            "sex": pd.array(["F", "F", "M", None, "F"], dtype="string"),
            "smoking_current": pd.array([True, False, False, None, False], dtype="boolean"),
        }
    )
    table = reference_bins(frame, ["sledai_2k", "sex", "smoking_current"], bins=2)
    assert table["sledai_2k"] == {"edges": [7.0], "proportions": [0.4, 0.4], "missing": 0.2}
    assert table["sex"]["proportions"] == [0.6, 0.2]
    assert table["sex"]["missing"] == 0.2
    assert table["smoking_current"]["categories"] == [False, True]
    assert table["smoking_current"]["proportions"] == [0.6, 0.2]
    bins = parse_reference(json.loads(json.dumps(table)))
    assert psi(bins["sledai_2k"].expected, bins["sledai_2k"].count(frame["sledai_2k"])) == 0


def test_csv_text_in_numbers_and_mixed_units_become_row_problems(
    model_store: ModelStore, records: Path, tmp_path: Path
) -> None:
    frame = pd.read_parquet(records).head(40).astype("string")
    frame.loc[1, "c4"] = "12,5"  # a decimal comma
    frame.loc[2, "igg"] = "n/a?"
    frame.loc[3, "c3_unit"] = "mmol/L"
    # Patient 5 (C3 in mg/dL) again as row 4, with C3 in g/L.
    frame.loc[4, frame.columns[1:]] = frame.loc[5, frame.columns[1:]].to_numpy()
    assert frame.loc[5, "c3_unit"] == "mg/dL"
    frame.loc[4, ["c3", "c3_unit"]] = [str(float(frame.loc[5, "c3"]) / 100), "g/L"]
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    summary = score(path, out, model_uri=WITH_BINS, settings=model_store.settings)
    scored = pd.read_csv(out, dtype={"problems": "string"}, keep_default_na=False)
    assert len(scored) == 40
    assert list(scored["patient_id"]) == list(frame["patient_id"])
    assert scored.loc[1, "problems"] == "c4: not a number"
    assert scored.loc[2, "problems"] == "igg: not a number"
    assert scored.loc[3, "problems"].startswith("c3: unit not accepted")
    assert (scored.loc[1:3, "probability"] == "").all()
    # The same patient in g/L and in mg/dL: one probability.
    assert scored.loc[4, "problems"] == ""
    assert scored.loc[4, "probability"] != ""
    assert float(scored.loc[4, "probability"]) == float(scored.loc[5, "probability"])
    assert summary.problems["c4: not a number"] == 1
    assert summary.rows_in == 40


def _assert_refused(path: Path, out: Path, model_store: ModelStore, *fragments: str) -> None:
    with pytest.raises(BatchError) as raised:
        score(path, out, model_uri=WITH_BINS, settings=model_store.settings)
    for fragment in fragments:
        assert fragment in str(raised.value)
    assert not out.exists()
    assert not summary_path(out).exists()
    assert not any(out.parent.glob(f".{out.name}*"))


def test_malformed_files_are_refused_before_any_output(
    model_store: ModelStore, records: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "scored.parquet"
    frame = pd.read_parquet(records).head(5)
    semicolons = tmp_path / "semicolons.csv"
    frame.to_csv(semicolons, index=False, sep=";")
    _assert_refused(semicolons, out, model_store, "missing required column(s)", "';' as delimiter")
    no_c4 = tmp_path / "no-c4.parquet"
    frame.drop(columns=["c4", "igg"]).to_parquet(no_c4)
    _assert_refused(no_c4, out, model_store, "missing required column(s): c4, igg")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _assert_refused(empty, out, model_store, "the file is empty")
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(frame.columns) + "\n")
    _assert_refused(header_only, out, model_store, "no rows to score")
    no_rows = tmp_path / "no-rows.parquet"
    frame.head(0).to_parquet(no_rows)
    _assert_refused(no_rows, out, model_store, "no rows to score")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(records.read_bytes()[:1000])
    _assert_refused(truncated, out, model_store, "not a readable Parquet file")
    _assert_refused(
        records, tmp_path / "scored.xlsx", model_store, "name the file .parquet or .csv"
    )
    with pytest.raises(BatchError, match=r"models:/absent@champion: not in the registry"):
        score(records, out, model_uri="models:/absent@champion", settings=model_store.settings)


def test_contributions_can_be_left_out(
    model_store: ModelStore, records: Path, tmp_path: Path
) -> None:
    with_them, without = tmp_path / "with.parquet", tmp_path / "without.parquet"
    score(records, with_them, model_uri=WITH_BINS, settings=model_store.settings)
    score(records, without, model_uri=WITH_BINS, settings=model_store.settings, contributions=False)
    full, lean = pd.read_parquet(with_them), pd.read_parquet(without)
    assert not [c for c in lean.columns if c.startswith("contribution")]
    assert list(lean.columns) == [c for c in full.columns if not c.startswith("contribution")]
    pd.testing.assert_series_equal(full["probability"], lean["probability"])


_KILLED_RUN: Final = """
import sys, time
from pathlib import Path
import serving.batch.chunks as chunks
import serving.batch.local as local
from infra.settings import Settings
from serving.batch import score

scorer = chunks.score_chunk

def slowly(*args, **kwargs):
    time.sleep(0.15)
    return scorer(*args, **kwargs)

local.score_chunk = slowly
score(Path(sys.argv[1]), Path(sys.argv[2]), model_uri=sys.argv[3], chunk_size=100,
      settings=Settings(home=Path(sys.argv[4])), progress=False)
"""


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_killed_run_leaves_no_output_and_resumes_to_identical_bytes(
    model_store: ModelStore, development_cohort: Path, tmp_path: Path, suffix: str
) -> None:
    clean, resumed = tmp_path / f"clean{suffix}", tmp_path / f"resumed{suffix}"
    score(
        development_cohort,
        clean,
        model_uri=WITH_BINS,
        settings=model_store.settings,
        chunk_size=100,
        resume=False,
    )
    progress = tmp_path / f".{resumed.name}.partial" / "progress.json"
    command = [sys.executable, "-c", textwrap.dedent(_KILLED_RUN)]
    args = [str(development_cohort), str(resumed), WITH_BINS, str(model_store.settings.home)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    child = subprocess.Popen([*command, *args], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if progress.exists() and json.loads(progress.read_text())["chunks_done"] >= 3:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not resumed.exists(), "a killed run must leave no output"
    done = json.loads(progress.read_text())["rows_done"]
    assert 0 < done < 1800
    summary = score(
        development_cohort,
        resumed,
        model_uri=WITH_BINS,
        settings=model_store.settings,
        chunk_size=100,
    )
    assert summary.resumed_from_row == done
    assert summary.rows_in == 1800
    assert resumed.read_bytes() == clean.read_bytes()
    assert not progress.parent.exists()


def test_spark_engine_matches_the_local_engine_running_the_model_once_per_row(
    model_store: ModelStore, records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort = tmp_path / "cohort.parquet"
    frame = pd.read_parquet(records).head(300)
    frame.loc[290:294, "patient_id"] = frame.loc[0:4, "patient_id"].to_numpy()  # 10 rows
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), cohort, row_group_size=60)
    # Small splits, so the cohort is read as several partitions and order is put to the test.
    monkeypatch.setenv(
        "PYSPARK_SUBMIT_ARGS", "--conf spark.sql.files.maxPartitionBytes=16384 pyspark-shell"
    )
    local, spark = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    on_one = score(cohort, local, model_uri=WITH_BINS, settings=model_store.settings)
    on_spark = score(
        cohort,
        spark,
        model_uri=WITH_BINS,
        settings=model_store.settings,
        engine="spark",
        chunk_size=50,
    )
    expected, got = pd.read_parquet(local), pd.read_parquet(spark)
    assert list(got.columns) == list(expected.columns)
    assert list(got["patient_id"]) == list(expected["patient_id"])
    both = expected["probability"].notna()
    assert (got["probability"].notna() == both).all()
    assert np.max(np.abs(got["probability"][both] - expected["probability"][both])) < 1e-12
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert on_spark.to_dict()["drift"] == on_one.to_dict()["drift"]
    assert on_spark.problems == on_one.problems
    assert on_spark.population == on_one.population
    assert on_spark.probability == on_one.probability
    assert on_spark.engine_details == {"master": "local[2]", "rows_through_model": 300}
    assert on_spark.rows_with_duplicate_ids == on_one.rows_with_duplicate_ids == 10
    assert got["flags"].str.contains(DUPLICATE_FLAG, regex=False).sum() == 10


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_duplicate_patient_ids_are_flagged_and_counted(
    model_store: ModelStore, records: Path, tmp_path: Path, suffix: str
) -> None:
    frame = pd.read_parquet(records).head(40)
    frame.loc[[5, 6, 7], "patient_id"] = frame.loc[4, "patient_id"]
    frame.loc[30, "patient_id"] = frame.loc[31, "patient_id"]
    given = tmp_path / f"duplicates{suffix}"
    if suffix == ".csv":
        frame.to_csv(given, index=False)
    else:
        frame.to_parquet(given, index=False)
    out = tmp_path / f"scored{suffix}"
    summary = score(given, out, model_uri=WITH_BINS, settings=model_store.settings, chunk_size=7)
    scored = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    flagged = scored["flags"].fillna("").str.contains(DUPLICATE_FLAG, regex=False)
    assert flagged.tolist() == [i in {4, 5, 6, 7, 30, 31} for i in range(40)]
    assert summary.rows_with_duplicate_ids == 6
    assert summary.rows_flagged >= 6
    assert scored.loc[flagged, "probability"].notna().all()  # flagged, still scored
    assert "rows whose patient_id another row holds too" in summary.describe()


def test_a_folder_given_as_input_is_named_as_a_folder(
    model_store: ModelStore, tmp_path: Path
) -> None:
    folder = tmp_path / "cohort"
    folder.mkdir()
    (folder / "baseline.parquet").write_bytes(b"")
    _assert_refused(folder, tmp_path / "out.parquet", model_store, "is a folder, not a table")


def test_scoring_where_no_store_exists_creates_none(records: Path, tmp_path: Path) -> None:
    home = tmp_path / "mlruns"
    with pytest.raises(BatchError, match="no MRBS model store at"):
        score(records, tmp_path / "out.parquet", model_uri=WITH_BINS, settings=Settings(home=home))
    assert not home.exists()
