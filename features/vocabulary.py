"""The spellings MRBS reads for yes/no facts and categories, declared once for every table and
request.

Tables (baseline tables, raw visit tables, week-48 rescue therapy) come from spreadsheets and
hospital exports, so a yes/no fact may be written ``true``/``false``, ``yes``/``no``, ``Y``/``N``,
``T``/``F``, ``1``/``0`` or ``1.0``/``0.0``, ``positive``/``negative``; a category may be written
in any case or as a declared alias (``female`` for ``F``). A JSON request takes booleans as JSON
booleans only (`features.schema`), but its categories go through the same `category` as a
table's. A spelling not declared here is refused, never guessed.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.record import FieldSpec

__all__ = ["FALSE", "TRUE", "UNREADABLE_FACT", "booleans", "categories", "category"]

TRUE: Final = frozenset({"true", "t", "yes", "y", "1", "1.0", "positive", "pos"})
FALSE: Final = frozenset({"false", "f", "no", "n", "0", "0.0", "negative", "neg"})
#: The problem of a yes/no fact written in none of these spellings.
UNREADABLE_FACT: Final = (
    "not a yes/no value (read: true/false, yes/no, y/n, t/f, 1/0, positive/negative)"
)


def booleans(column: pd.Series) -> tuple[pd.Series, npt.NDArray[np.bool_]]:
    """A table column read as yes/no facts (nullable booleans), and where a value was given
    but is not one of the declared spellings (those rows hold missing, and are a problem)."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype("boolean"), np.zeros(len(column), dtype=bool)
    text = column.astype("string").str.strip().str.lower()
    result = pd.Series(pd.NA, index=column.index, dtype="boolean")
    result[text.isin(TRUE).fillna(False)] = True
    result[text.isin(FALSE).fillna(False)] = False
    invalid = (text.notna() & (text != "") & result.isna()).to_numpy(dtype=bool)
    return result, invalid


def _spellings(spec: FieldSpec) -> dict[str, str]:
    known = {value.lower(): value for value in spec.categories}
    known.update({alias.lower(): value for alias, value in spec.aliases})
    return known


def category(spec: FieldSpec, text: str) -> str | None:
    """The declared category ``text`` spells (case and surrounding spaces do not matter), or
    None when it spells none of them."""
    return _spellings(spec).get(text.strip().lower())


def categories(spec: FieldSpec, column: pd.Series) -> tuple[pd.Series, npt.NDArray[np.bool_]]:
    """A table column read as ``spec``'s categories (missing where blank or not declared), and
    where a value was given but spells no category."""
    text = column.astype("string").str.strip()
    given = text.notna() & (text != "")
    if not spec.categories:
        return text.where(given), np.zeros(len(text), dtype=bool)
    read = text.str.lower().map(_spellings(spec), na_action="ignore").astype("string")
    read = read.where(given)
    invalid = (given & read.isna()).to_numpy(dtype=bool)
    return read, invalid
