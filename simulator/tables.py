"""Assembly of the ``patients``, ``assessments`` and ``truth`` tables from the simulated arrays.

Column layout as declared in `features.tables`: patients one row per patient (booleans nullable,
<NA> = not known); assessments one row per patient and visit (week 0 for everyone, week 48 for
completers), with the 24 ``sledai_<descriptor>`` items, ``sledai_2k_total``, the nine
``bilag_<domain>`` grades, ``pga`` and ``rescue_therapy``. Sites that record only the total at
week 48 leave the descriptors missing there.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import tables as t
from features.sledai import sledai_totals
from features.sri import BILAG_COLUMNS
from simulator import descriptors as d
from simulator.assessments import letters
from simulator.mess import EXCLUSION_FACTS, INCLUSION_FACTS
from simulator.sites import SiteProfile

BoolArray = npt.NDArray[np.bool_]

PATIENT_COLUMNS: Final = t.PATIENT_COLUMNS
BOOLEAN_COLUMNS: Final = (
    "immunosuppressant",
    "antimalarial",
    "smoking_current",
    "anti_sm_positive",
    *INCLUSION_FACTS,
    *EXCLUSION_FACTS,
)


def patient_ids(n: int) -> npt.NDArray[np.object_]:
    """Identifiers P000001, P000002, ... (six digits, more when needed)."""
    numbers = np.char.zfill(np.arange(1, n + 1).astype(str), 6)
    return np.asarray(np.char.add("P", numbers), dtype=object)


def site_codes(frame: pd.DataFrame, sites: tuple[SiteProfile, ...]) -> npt.NDArray[np.object_]:
    """Each patient's site code."""
    codes = np.array([site.site_id for site in sites], dtype=object)
    return np.asarray(codes[frame["site_index"].to_numpy(dtype=np.int64)], dtype=object)


def build_patients(
    frame: pd.DataFrame,
    ids: npt.NDArray[np.object_],
    sites: tuple[SiteProfile, ...],
    unknown: dict[str, BoolArray],
) -> pd.DataFrame:
    """The patients table; facts listed in ``unknown`` are <NA> where unknown."""
    out = pd.DataFrame({t.PATIENT_ID: ids, t.SITE: site_codes(frame, sites)})
    for column in PATIENT_COLUMNS[2:]:
        out[column] = frame[column].to_numpy()
    for column in BOOLEAN_COLUMNS:
        values = pd.array(out[column].to_numpy(dtype=bool), dtype="boolean")
        if column in unknown:
            values[unknown[column]] = pd.NA
        out[column] = values
    return out


def visit_frame(
    ids: npt.NDArray[np.object_],
    week: int,
    matrix: npt.NDArray[np.int8],
    bilag: npt.NDArray[np.int8],
    pga: npt.NDArray[np.float64],
    rescue: BoolArray,
) -> pd.DataFrame:
    """Assessment rows of one visit, descriptors complete; total from `sledai_totals`."""
    descriptors = pd.DataFrame(matrix, columns=list(d.COLUMNS)).astype("Int8")
    frame = pd.concat(
        [
            pd.DataFrame({t.PATIENT_ID: ids, t.VISIT_WEEK: np.full(ids.size, week)}),
            descriptors,
        ],
        axis=1,
    )
    frame[t.SLEDAI_TOTAL] = sledai_totals(descriptors).to_numpy()
    for position, column in enumerate(BILAG_COLUMNS.values()):
        frame[column] = letters(bilag[:, position])
    frame[t.PGA] = pga
    frame[t.RESCUE] = rescue
    return frame


def build_assessments(
    baseline: pd.DataFrame, week48: pd.DataFrame, total_only: BoolArray
) -> pd.DataFrame:
    """Baseline rows, then week-48 rows (completers only), sorted by patient and week.

    ``total_only`` marks week-48 rows whose descriptors the site did not record.
    """
    week48 = week48.copy()
    week48.loc[total_only, list(d.COLUMNS)] = pd.NA
    both = pd.concat([baseline, week48], ignore_index=True)
    return both.sort_values([t.PATIENT_ID, t.VISIT_WEEK], kind="stable").reset_index(drop=True)


def scoring_frame(visit: pd.DataFrame) -> pd.DataFrame:
    """A visit's rows as `features.sri.sri_frame` reads them (indexed by patient_id)."""
    columns = [t.SLEDAI_TOTAL, *BILAG_COLUMNS.values(), t.PGA, t.RESCUE]
    return visit.set_index(t.PATIENT_ID)[columns].rename(columns={t.SLEDAI_TOTAL: "sledai_2k"})
