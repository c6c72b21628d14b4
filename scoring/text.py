"""The text columns of scored rows, built for a whole table of rows at once.

Lists are joined with ``"; "`` in the order ``/predict`` lists them, so a row's text splits back
into the response's lists. Python loops run over predictors or over the few rows that need
them, never over every row: a cohort has millions of rows and twenty predictors.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.notes import SEPARATOR, text_per_row

#: Contributions named in the ``contributions`` text, largest first.
SUMMARY_TOP: Final = 3
_MICRO: Final = 1_000_000

ObjectArray = npt.NDArray[np.object_]


def input_notes(frame: pd.DataFrame, name: str) -> ObjectArray | None:
    """The input's own ``problems`` or ``flags`` column as strings ("" when empty), if any."""
    if name not in frame.columns:
        return None
    column = frame[name].astype("string").fillna("")
    return np.asarray(column.to_numpy(dtype=object), dtype=object)


def _field_of(note: str) -> str:
    return note.split(":", 1)[0]


def merge_notes(earlier: ObjectArray, new: ObjectArray) -> ObjectArray:
    """The input's own notes, then validation's about fields they do not already mention.

    An input written by `mrbs cohort build` has its invalid values removed and the reason noted;
    validating it again would add a vaguer note (e.g. "required value missing") for them.
    """
    merged = new.copy()
    has_earlier = earlier != ""
    only_earlier = has_earlier & (new == "")
    merged[only_earlier] = earlier[only_earlier]
    for position in np.flatnonzero(has_earlier & (new != "")):
        before = earlier[position].split(SEPARATOR)
        mentioned = {_field_of(note) for note in before}
        after = [n for n in new[position].split(SEPARATOR) if _field_of(n) not in mentioned]
        merged[position] = SEPARATOR.join(dict.fromkeys([*before, *after]))
    return merged


def join_names(mask: npt.NDArray[np.bool_], names: tuple[str, ...]) -> ObjectArray:
    """Per row, the names whose column of ``mask`` is set, in order ("" when none)."""
    return text_per_row(mask, lambda found: SEPARATOR.join(names[j] for j in found))


def _ranked(effects: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Each row's columns by decreasing absolute effect, the first ``SUMMARY_TOP``; ties go to
    the earlier column, as the stable sort of a response orders them."""
    remaining = np.abs(effects)
    order = np.empty((effects.shape[0], min(SUMMARY_TOP, effects.shape[1])), dtype=np.intp)
    for rank in range(order.shape[1]):
        order[:, rank] = np.argmax(remaining, axis=1)
        np.put_along_axis(remaining, order[:, rank : rank + 1], -1.0, axis=1)
    return order


def _labelled(
    column: npt.NDArray[np.intp], rounded: npt.NDArray[np.float64], names: tuple[str, ...]
) -> pa.Array:
    """``"<name> +0.62"`` per row: the 6-decimal log-odds to 2 decimals, halves away from 0.

    Rows share few distinct labels, so each distinct label is formatted once.
    """
    hundredths = (np.rint(np.abs(rounded) * _MICRO).astype(np.int64) + 5_000) // 10_000
    span = int(hundredths.max(initial=0)) + 1
    negative = (rounded < 0).astype(np.int64)
    code = (column.astype(np.int64) * 2 + negative) * span + hundredths
    distinct, position = np.unique(code, return_inverse=True)
    labels = []
    for value in distinct.tolist():
        signed, size = divmod(value, span)
        name, minus = divmod(signed, 2)
        labels.append(f"{names[name]} {'-' if minus else '+'}{size // 100}.{size % 100:02d}")
    dictionary = pa.DictionaryArray.from_arrays(
        pa.array(position.astype(np.int32)), pa.array(labels, type=pa.string())
    )
    return dictionary.cast(pa.string())


def contributions_text(
    effects: npt.NDArray[np.float64], rounded: npt.NDArray[np.float64], names: tuple[str, ...]
) -> pa.Array:
    """The ``SUMMARY_TOP`` largest non-zero contributions of each row, in ``/predict``'s order.

    ``effects`` orders them, ``rounded`` (the output's 6-decimal values) is shown. Zeros sort
    last, so a row's non-zero contributions are a prefix of its ranking.
    """
    order = _ranked(effects)
    parts: list[pa.Array] = []
    shown: list[npt.NDArray[np.bool_]] = []
    for rank in range(order.shape[1]):
        value = np.take_along_axis(rounded, order[:, rank : rank + 1], axis=1)[:, 0]
        parts.append(_labelled(order[:, rank], value, names))
        shown.append(value != 0)
    text: pa.Array = pa.array(np.full(effects.shape[0], "", dtype=object), type=pa.string())
    for count in range(1, len(parts) + 1):
        joined = pc.binary_join_element_wise(*parts[:count], SEPARATOR)
        text = pc.if_else(pa.array(shown[count - 1]), joined, text)
    return text
