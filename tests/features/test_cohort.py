"""Cohort building on hand-made raw tables with known answers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features import sledai, sri
from features.cohort import LABEL, LABEL_REASONS, assemble, build_cohort, write_cohort
from features.io import TableError
from features.schema import FLAGS, PROBLEMS

NONE_ACTIVE = "EEEEEEEEE"
LAB_COLUMNS = ["patient_id", "visit_week", "analyte", "value", "unit", "ref_low", "ref_high"]


def visit(
    pid: str,
    week: int,
    active: Iterable[str],
    bilag: str = NONE_ACTIVE,
    pga: float = 1.0,
    **extra: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "patient_id": pid,
        "visit_week": week,
        "pga": pga,
        "rescue_therapy": False,
    }
    row |= {column: int(name in set(active)) for name, column in sledai.DESCRIPTOR_COLUMNS.items()}
    row |= {f"bilag_{d}": grade for d, grade in zip(sri.BILAG_DOMAINS, bilag, strict=True)}
    return row | extra


def core_labs(
    pid: str, c3: float = 100, c4: float = 20, igg: float = 1500, dna: float = 5
) -> list[tuple[Any, ...]]:
    return [
        (pid, 0, "4485-9", c3, "mg/dL", 90, 180),
        (pid, 0, "4498-2", c4, "mg/dL", 16, 40),
        (pid, 0, "2465-3", igg, "mg/dL", None, None),
        (pid, 0, "5130-0", dna, "IU/mL", None, 30),
    ]


def patients(*ids: str) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": list(ids), "site": "S01", "age": 35.0, "sex": "F"})


def labs(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=LAB_COLUMNS)


def row_of(table: pd.DataFrame, pid: str) -> pd.Series:
    return table.set_index("patient_id").loc[pid]


def test_known_answer_responder_with_serology_from_labs() -> None:
    # Baseline: arthritis 4 + rash 2 + low complement 2 (C3 0.7 g/L = 70 mg/dL < 90)
    # + increased DNA binding 2 (80 IU/mL >= 30) = 10; serology descriptors left blank, so they
    # come from the labs. Week 48: rash 2 only -> drop 8; BILAG B -> C; PGA 1.5 -> 1.2.
    baseline = visit("P1", 0, {"arthritis", "rash"}, "ECEBEEEEE", 1.5)
    for item in ("low_complement", "increased_dna_binding"):
        baseline[f"sledai_{item}"] = None
    week48 = visit("P1", 48, {"rash"}, "ECECEEEEE", 1.2)
    raw_labs = labs(
        [
            ("P1", 0, "4485-9", 0.7, "g/L", 0.9, 1.8),
            ("P1", 0, "C4", 12, "mg/dL", 16, 40),
            ("P1", 0, "IgG", 15, "g/L", None, None),
            ("P1", 0, "anti-dsDNA", 80, "IU/mL", None, 30),
        ]
    )
    table = assemble(patients("P1"), raw_labs, pd.DataFrame([baseline, week48])).table
    row = row_of(table, "P1")
    assert row["sledai_2k"] == 10
    assert row["c3"] == pytest.approx(70.0)
    assert row["igg"] == pytest.approx(1500.0)
    assert row["anti_dsdna_cutoff"] == 30
    assert bool(row[LABEL]) is True
    assert row[LABEL_REASONS] == ""
    assert row[PROBLEMS] == ""
    assert bool(row["musculoskeletal_involvement"])
    assert not bool(row["renal_involvement"])


def test_non_responders_keep_their_reasons() -> None:
    # P2 drops out; P3 needs rescue therapy; P4 drops only 2 points (10 -> 8) and PGA rises 0.3.
    active = {"arthritis", "rash", "alopecia", "mucosal_ulcers"}
    visits = [
        visit("P2", 0, active),
        visit("P3", 0, active),
        visit("P3", 48, set(), rescue_therapy=True),
        visit("P4", 0, active),
        visit("P4", 48, {"arthritis", "rash", "alopecia"}, pga=1.3),
    ]
    raw_labs = labs(core_labs("P2") + core_labs("P3") + core_labs("P4"))
    table = assemble(patients("P2", "P3", "P4"), raw_labs, pd.DataFrame(visits)).table
    assert table[LABEL].tolist() == [False, False, False]
    assert table[LABEL_REASONS].tolist() == [
        "missing_week48",
        "rescue_therapy",
        "sledai_reduction_below_k;pga_worsened",
    ]


def test_disagreeing_total_is_reported_not_overwritten_silently() -> None:
    baseline = visit("P5", 0, {"arthritis", "rash"}, sledai_2k_total=12)  # descriptors sum to 6
    table = assemble(patients("P5"), labs(core_labs("P5")), pd.DataFrame([baseline])).table
    row = row_of(table, "P5")
    assert row["sledai_2k"] == 6
    assert "sledai_2k_total: given 12 disagrees with the 24 descriptors (sum 6)" in row[PROBLEMS]


def test_descriptor_disagreeing_with_labs_is_flagged() -> None:
    baseline = visit("P6", 0, {"arthritis", "low_complement"})  # but C3 100, C4 20 are normal
    table = assemble(patients("P6"), labs(core_labs("P6")), pd.DataFrame([baseline])).table
    row = row_of(table, "P6")
    assert row["sledai_2k"] == 6
    assert "sledai_low_complement: descriptor disagrees with the labs" in row[FLAGS]


def test_every_patient_gets_one_row_in_input_order_even_with_problems() -> None:
    raw_labs = labs(
        core_labs("P7")
        + core_labs("P8", c3=85)  # 85 mg/dL is fine ...
        + [("P8", 0, "4485-9", 85, "g/L", None, None)]  # ... but a later 85 "g/L" is not
        + [("P9", 0, "4485-9", 90, "mmol/L", None, None)]
    )
    visits = [visit(p, 0, {"arthritis", "rash"}) for p in ("P7", "P8", "P9")]
    cohort = assemble(patients("P9", "P7", "P8", "P10"), raw_labs, pd.DataFrame(visits))
    table = cohort.table
    assert table["patient_id"].tolist() == ["P9", "P7", "P8", "P10"]
    problems = dict(zip(table["patient_id"], table[PROBLEMS], strict=True))
    assert problems["P7"] == ""
    assert (
        problems["P8"]
        == "c3: outside the plausible range 5-500 mg/dL (given in g/L, converted to mg/dL)"
    )
    assert problems["P9"].startswith("c3: unit not accepted (accepted: mg/dL, g/L)")
    assert "sledai_2k: required value missing" in problems["P10"]
    assert pd.isna(row_of(table, "P8")["c3"]), "a rejected value must never reach a model"
    assert cohort.summary.rows_with_problems == 3


def test_duplicate_patient_ids_are_problems() -> None:
    visits = [visit("P1", 0, {"arthritis"})]
    table = assemble(patients("P1", "P1"), labs(core_labs("P1")), pd.DataFrame(visits)).table
    assert len(table) == 2
    assert (table[PROBLEMS].str.contains("appears more than once")).all()


def test_24h_protein_preferred_over_spot_ratio_and_units_converted() -> None:
    raw_labs = labs(
        [
            *core_labs("P1"),
            ("P1", 0, "2890-2", 113, "mg/mmol", None, None),
            ("P1", 0, "2889-4", 0.8, "g/24h", None, None),
            *core_labs("P2"),
            ("P2", 0, "2890-2", 113, "mg/mmol", None, None),
        ]
    )
    visits = [visit(p, 0, {"arthritis"}) for p in ("P1", "P2")]
    table = assemble(patients("P1", "P2"), raw_labs, pd.DataFrame(visits)).table
    assert table["proteinuria"].tolist() == pytest.approx([0.8, 1.0])


def _write_raw(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    patients("P1").to_csv(folder / "patients.csv", index=False)
    labs(core_labs("P1")).to_csv(folder / "labs.csv", index=False)
    pd.DataFrame([visit("P1", 0, {"arthritis"})]).to_csv(folder / "assessments.csv", index=False)


def test_build_and_write_from_files(tmp_path: Path) -> None:
    _write_raw(tmp_path / "raw")
    before = {p.name: p.read_bytes() for p in (tmp_path / "raw").iterdir()}
    cohort = build_cohort(tmp_path / "raw")
    table_path, summary_path = write_cohort(cohort, tmp_path / "out" / "baseline.parquet")
    assert pd.read_parquet(table_path)["sledai_2k"].tolist() == [4]
    assert '"patients": 1' in summary_path.read_text()
    assert {p.name: p.read_bytes() for p in (tmp_path / "raw").iterdir()} == before


def test_malformed_table_names_file_and_problem(tmp_path: Path) -> None:
    _write_raw(tmp_path)
    (tmp_path / "labs.csv").write_text((tmp_path / "labs.csv").read_text().replace(",", ";"))
    with pytest.raises(TableError, match=r"labs\.csv: missing required column"):
        build_cohort(tmp_path)


def test_patients_columns_do_not_shadow_derived_values() -> None:
    # A patients table carrying its own SLEDAI-2K: the assessments' descriptors decide.
    pats = patients("P1").assign(sledai_2k="8", c3="1")
    cohort = assemble(pats, labs(core_labs("P1")), pd.DataFrame([visit("P1", 0, {"arthritis"})]))
    row = row_of(cohort.table, "P1")
    assert row["sledai_2k"] == 4
    assert row["c3"] == 100
    assert any("patients columns replaced" in reason for reason in cohort.summary.dropped)


def test_unrecognised_required_analyte_is_a_per_row_problem() -> None:
    raw = labs(core_labs("P1")).replace({"analyte": {"4485-9": "C3c"}})
    cohort = assemble(patients("P1"), raw, pd.DataFrame([visit("P1", 0, {"arthritis"})]))
    assert row_of(cohort.table, "P1")[PROBLEMS] == "c3: required value missing"
    assert cohort.summary.dropped == {"lab rows with unrecognised analyte 'c3c'": 1}


def test_empty_labs_table_gives_per_row_problems() -> None:
    cohort = assemble(patients("P1"), labs([]), pd.DataFrame([visit("P1", 0, {"arthritis"})]))
    problems = row_of(cohort.table, "P1")[PROBLEMS]
    for name in ("c3", "c4", "igg", "anti_dsdna"):
        assert f"{name}: required value missing" in problems


@pytest.mark.parametrize(
    ("written", "rescued"),
    [("N", False), ("F", False), ("no", False), ("0.0", False), ("Y", True), ("T", True)],
)
def test_week48_rescue_is_read_like_every_other_yes_no_fact(written: str, rescued: bool) -> None:
    # 10 -> 0 points, no BILAG or PGA worsening: a responder unless rescue therapy was given.
    active = {"arthritis", "rash", "alopecia", "mucosal_ulcers"}
    visits = [visit("P1", 0, active), visit("P1", 48, set(), rescue_therapy=written)]
    table = assemble(patients("P1"), labs(core_labs("P1")), pd.DataFrame(visits)).table
    row = row_of(table, "P1")
    assert bool(row[LABEL]) is (not rescued)
    assert row[LABEL_REASONS] == ("rescue_therapy" if rescued else "")
    assert row[PROBLEMS] == ""


def test_unreadable_week48_rescue_is_a_problem_and_leaves_the_label_unknown() -> None:
    active = {"arthritis", "rash", "alopecia", "mucosal_ulcers"}
    visits = [visit("P1", 0, active), visit("P1", 48, set(), rescue_therapy="maybe")]
    cohort = assemble(patients("P1"), labs(core_labs("P1")), pd.DataFrame(visits))
    row = row_of(cohort.table, "P1")
    assert pd.isna(row[LABEL])
    assert row[PROBLEMS].startswith("week48 rescue_therapy: not a yes/no value")
    assert cohort.summary.label == {"responder": 0, "non-responder": 0, "unknown": 1}


def test_a_problem_whose_text_held_the_separator_is_counted_once() -> None:
    baseline = visit("P5", 0, {"arthritis", "rash"}, sledai_2k_total=12)  # descriptors sum to 6
    cohort = assemble(patients("P5"), labs(core_labs("P5")), pd.DataFrame([baseline]))
    assert sum(cohort.summary.problems.values()) == 1
    assert cohort.summary.problems == {
        "sledai_2k_total: given 12 disagrees with the 24 descriptors (sum 6), the descriptor "
        "sum is used": 1
    }
