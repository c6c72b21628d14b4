"""Notes per row (problems, flags, reasons), joined into text once per distinct pattern.

A table's rows share few distinct combinations of notes, so each combination is rendered once
and no Python code runs per row, whatever the size of the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import numpy as np
import numpy.typing as npt

#: Between the notes of one row, in every table MRBS writes.
SEPARATOR: Final = "; "


def note(text: str) -> str:
    """A note as every table holds it: never containing the separator (a ``;`` inside one
    becomes ``,``), so splitting a row's text on `SEPARATOR` gives back exactly its notes, and
    summaries count each once."""
    return text.replace(";", ",")


def join_notes(notes: Iterable[str]) -> str:
    """One row's notes (each made by `note`, or texts already joined) as text: each non-empty
    one once, in order, between `SEPARATOR`s."""
    return SEPARATOR.join(dict.fromkeys(n for n in notes if n))


def text_per_row(
    marks: npt.NDArray[np.bool_], render: Callable[[list[int]], str]
) -> npt.NDArray[np.object_]:
    """``render(the columns marked in the row)`` for every row of the boolean matrix ``marks``.

    Rows share few distinct patterns of marks, so each distinct pattern is rendered once and no
    Python code runs per row; a row with no mark gets ``render([])``.
    """
    text = np.full(marks.shape[0], render([]), dtype=object)
    marked = np.flatnonzero(marks.any(axis=1))
    if marked.size == 0:
        return text
    packed = np.ascontiguousarray(np.packbits(marks[marked], axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, pattern = np.unique(keys, return_index=True, return_inverse=True)
    rendered = [render(np.flatnonzero(marks[marked[row]]).tolist()) for row in first.tolist()]
    text[marked] = np.asarray(rendered, dtype=object)[pattern.ravel()]
    return text
