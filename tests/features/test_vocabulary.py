"""One vocabulary for yes/no facts and categories, in every table and request."""

from __future__ import annotations

import pandas as pd
import pytest

from features import vocabulary
from features.notes import SEPARATOR, join_notes, note
from features.record import field

SEX = field("sex")


@pytest.mark.parametrize("text", [*sorted(vocabulary.TRUE), "TRUE", " Yes ", "Y"])
def test_every_declared_true_spelling_reads_true(text: str) -> None:
    values, invalid = vocabulary.booleans(pd.Series([text]))
    assert values.tolist() == [True]
    assert not invalid.any()


@pytest.mark.parametrize("text", [*sorted(vocabulary.FALSE), "FALSE", " No ", "N"])
def test_every_declared_false_spelling_reads_false(text: str) -> None:
    values, invalid = vocabulary.booleans(pd.Series([text]))
    assert values.tolist() == [False]
    assert not invalid.any()


def test_an_undeclared_yes_no_spelling_is_refused_and_a_blank_is_missing() -> None:
    values, invalid = vocabulary.booleans(pd.Series(["maybe", "2", "", None]))
    assert values.isna().all()
    assert invalid.tolist() == [True, True, False, False]


@pytest.mark.parametrize(
    ("text", "read"),
    [("F", "F"), ("f", "F"), (" female ", "F"), ("Woman", "F"), ("M", "M"), ("MALE", "M")],
)
def test_sex_spellings_are_read_the_same_in_tables_and_requests(text: str, read: str) -> None:
    assert vocabulary.category(SEX, text) == read
    values, invalid = vocabulary.categories(SEX, pd.Series([text]))
    assert values.tolist() == [read]
    assert not invalid.any()


def test_an_undeclared_category_is_refused() -> None:
    assert vocabulary.category(SEX, "x") is None
    values, invalid = vocabulary.categories(SEX, pd.Series(["x", ""]))
    assert values.isna().all()
    assert invalid.tolist() == [True, False]


def test_joined_notes_split_back_into_exactly_the_notes() -> None:
    notes = [note("c3: unit 'mg;dL' is not accepted"), "c4: required value missing", ""]
    text = join_notes([*notes, notes[0]])
    assert text.split(SEPARATOR) == [
        "c3: unit 'mg,dL' is not accepted",
        "c4: required value missing",
    ]
