"""Rows of a table in, their prediction columns out: every row kept, in order, with its
problems, and the text columns as `/predict` lists them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.columns import from_frame
from features.record import FIELDS
from features.schema import validate_table
from scoring.scorer import shown
from scoring.table import prediction_fields, prediction_table, record_frame, score_rows
from scoring.text import contributions_text, join_names, merge_notes
from tests.scoring.conftest import Fitted

RECORD = [spec.name for spec in FIELDS]


@pytest.fixture(scope="module")
def rows(fitted: Fitted) -> pd.DataFrame:
    """Ten baseline rows with some units in g/L and four kinds of problem."""
    frame = fitted.cohort.frame[[c for c in RECORD if c in fitted.cohort.frame]].head(10)
    frame = frame.reset_index(drop=True).astype({"c3": object, "igg": object})
    frame["c3_unit"] = "mg/dL"
    frame.loc[1, ["c3", "c3_unit"]] = [frame.loc[1, "c3"] / 100, "g/L"]
    frame.loc[2, "c3_unit"] = "furlongs"  # unit not accepted
    frame.loc[3, "c4"] = np.nan  # required value missing
    frame.loc[4, "igg"] = "high"  # not a number
    frame.loc[5, "blys"] = np.nan  # optional: imputed
    frame["problems"] = ""
    frame.loc[6, "problems"] = "anti_dsdna: removed by the cohort build"
    frame.loc[6, "anti_dsdna"] = np.nan
    return frame


def test_every_row_comes_out_in_order_with_its_problems(fitted: Fitted, rows: pd.DataFrame) -> None:
    out = prediction_table(rows, fitted.scorer).to_pandas()
    assert len(out) == len(rows)
    problems = out["problems"].tolist()
    assert problems[2].startswith("c3: unit not accepted")
    assert problems[3] == "c4: required value missing"
    assert problems[4] == "igg: not a number"
    assert problems[6] == "anti_dsdna: removed by the cohort build"  # the input's own, kept
    bad = [2, 3, 4, 6]
    assert out.loc[bad, "probability"].isna().all()
    assert out.loc[bad, "contributions"].isna().all()
    assert out["eligible"].notna().sum() + out["eligible"].isna().sum() == len(rows)
    good = [i for i in range(len(rows)) if i not in bad]
    assert out.loc[good, "problems"].eq("").all()
    assert out.loc[good, "probability"].between(0, 1).all()
    assert "blys" in out.loc[5, "imputed"].split("; ")


def test_the_probability_is_the_scorers_for_the_same_rows(
    fitted: Fitted, rows: pd.DataFrame
) -> None:
    out = prediction_table(rows, fitted.scorer).to_pandas()
    ok = out["problems"].eq("").to_numpy()
    canonical = validate_table(rows[ok].drop(columns=["problems"])).frame
    assert canonical.loc[canonical.index[1], "c3"] == pytest.approx(rows.loc[1, "c3"] * 100)
    scores = fitted.scorer.score(from_frame(canonical))
    np.testing.assert_array_equal(out["probability"][ok], shown(scores.probability))


def test_columns_have_the_declared_types_in_order(fitted: Fitted, rows: pd.DataFrame) -> None:
    for contributions in (True, False):
        table = prediction_table(rows, fitted.scorer, contributions=contributions)
        assert table.schema == pa.schema(
            prediction_fields(fitted.scorer, contributions=contributions)
        )
    lean = prediction_table(rows, fitted.scorer, contributions=False).column_names
    assert "contributions" not in lean
    assert not any(name.startswith("contribution_") for name in lean)


def test_an_arrow_table_is_read_with_nullable_booleans(fitted: Fitted, rows: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(rows.astype({"c3": str, "igg": str}), preserve_index=False)
    frame = record_frame(table)
    assert isinstance(frame["hiv_positive"].dtype, pd.BooleanDtype)
    scored = score_rows(frame, fitted.scorer, contributions=True, source="test")
    assert len(scored.scored) == len(scored.probability)


def test_contributions_text_names_the_three_largest_in_order() -> None:
    effects = np.array(
        [
            [0.62, -0.18, 0.0, 0.05, -0.7],
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [0.1, -0.1, 0.0, 0.0, 0.0],  # a tie: the earlier column first
            [0.005, 0.0, 0.0, 0.0, -0.0049],  # halves away from zero, to 2 decimals
        ]
    )
    names = ("a", "b", "c", "d", "e")
    text = contributions_text(effects, shown(effects), names).to_pylist()
    assert text == ["e -0.70; a +0.62; b -0.18", "", "a +0.10; b -0.10", "a +0.01; e -0.00"]


def test_names_are_joined_per_row_in_order() -> None:
    mask = np.array([[True, False, True], [False, False, False], [False, True, False]])
    assert join_names(mask, ("x", "y", "z")).tolist() == ["x; z", "", "y"]


def test_the_inputs_own_notes_come_first_and_are_not_restated() -> None:
    earlier = np.array(["c3: implausible, removed", "", "c4: odd"], dtype=object)
    new = np.array(["c3: required value missing; igg: not a number", "age: x", ""], dtype=object)
    merged = merge_notes(earlier, new).tolist()
    assert merged == ["c3: implausible, removed; igg: not a number", "age: x", "c4: odd"]
