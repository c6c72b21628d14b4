"""Reading tables with clear errors, and atomic writes that never leave a partial file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.io import TableError, atomic_path, find_table, read_table, write_table


def test_reads_csv_as_text_so_stray_words_stay_per_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("patient_id,c3\nP1,85\nP2,abc\n")
    frame = read_table(path, required=["patient_id", "c3"])
    assert frame["c3"].tolist() == ["85", "abc"]


def test_empty_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_text("")
    with pytest.raises(TableError, match=r"labs\.csv: the file is empty"):
        read_table(path)


def test_wrong_delimiter_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_text("patient_id;analyte;value\nP1;4485-9;85\n")
    with pytest.raises(
        TableError, match=r"missing required column\(s\): patient_id, analyte, value .*';'"
    ):
        read_table(path, required=["patient_id", "analyte", "value"])


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "labs.parquet"
    pd.DataFrame({"patient_id": ["P1"]}).to_parquet(path)
    with pytest.raises(TableError, match=r"missing required column\(s\): analyte, unit$"):
        read_table(path, required=["patient_id", "analyte", "unit"])


def test_unsupported_format_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_text("x")
    with pytest.raises(TableError, match=r"unsupported format '\.xlsx'"):
        read_table(path)
    with pytest.raises(TableError, match="no such file"):
        read_table(tmp_path / "absent.csv")


def test_corrupt_parquet_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(TableError, match="cannot be read"):
        read_table(path)


def test_find_table_prefers_nothing_silently(tmp_path: Path) -> None:
    (tmp_path / "labs.csv").write_text("a\n1\n")
    assert find_table(tmp_path, "labs").name == "labs.csv"
    (tmp_path / "labs.parquet").write_bytes(b"")
    with pytest.raises(TableError, match=r"both labs\.csv and labs\.parquet"):
        find_table(tmp_path, "labs")
    with pytest.raises(TableError, match=r"no patients\.csv or patients\.parquet"):
        find_table(tmp_path, "patients")


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def crash_midway() -> None:
        with atomic_path(target) as temporary:
            temporary.write_text("partial")
            raise RuntimeError("crash midway")

    with pytest.raises(RuntimeError):
        crash_midway()
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_write_table_round_trips_both_formats(tmp_path: Path) -> None:
    frame = pd.DataFrame({"patient_id": ["P1", "P2"], "c3": [85.0, 70.5]})
    for name in ("t.csv", "t.parquet"):
        written = write_table(frame, tmp_path / name)
        back = pd.read_csv(written) if name.endswith(".csv") else pd.read_parquet(written)
        assert back["c3"].tolist() == [85.0, 70.5]
