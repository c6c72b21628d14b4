"""The long ``labs`` table: each baseline result in its site's code, unit and reference range.

Codes, units and conversions follow CLINICAL.md section 6 (LOINC 4485-9 C3, 4498-2 C4, 2465-3 IgG,
2458-8 IgA, 5130-0 anti-dsDNA, 2889-4 24 h urine protein, 2890-2 urine protein/creatinine, 777-3
platelets, 6690-2 leukocytes, 14682-9 / 2160-0 creatinine; BLyS has no LOINC code in use and
goes by name). Reference limits: C3 90-180 mg/dL (ARUP), C4 lower limit 16 mg/dL (BLISS; upper
40, ARUP), IgG 767-1590 and IgA 61-356 mg/dL (Mayo), platelets 150-400 and leukocytes 4-11
x10^9/L, creatinine 50-110 umol/L (OSCAR); anti-dsDNA's ``ref_high`` is its assay's positivity
cut-off. A site reporting in g/L gives values and limits divided by 100.

Optional labs may be absent for a patient; an injected error (`simulator.mess`) replaces one
reported value with an implausible one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import tables as t
from simulator.sites import SiteProfile

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

G_L_PER_MG_DL: Final = 0.01
"""1 mg/dL = 0.01 g/L (CLINICAL.md section 6)."""
UMOL_L_PER_MG_DL: Final = 88.4
"""Creatinine: mg/dL x 88.4 = umol/L."""
MG_MMOL_PER_G_G: Final = 113.0
"""Urine protein/creatinine ratio: 1 g/g = 113 mg/mmol."""
NAN: Final = float("nan")


@dataclass(frozen=True)
class Protein:
    """A serum protein reported in mg/dL or g/L."""

    key: str
    loinc: str
    name: str
    ref_mg_dl: tuple[float, float]
    decimals_mg_dl: int
    decimals_g_l: int
    column_in_g_l: bool = False


PROTEINS: Final = (
    Protein("c3_mg_dl", "4485-9", "C3", (90.0, 180.0), 0, 2),
    Protein("c4_mg_dl", "4498-2", "C4", (16.0, 40.0), 0, 2),
    Protein("igg_g_l", "2465-3", "IgG", (767.0, 1590.0), -1, 1, column_in_g_l=True),
    Protein("iga_mg_dl", "2458-8", "IgA", (61.0, 356.0), 0, 2),
)
COUNTS: Final = (("platelets", "777-3", (150.0, 400.0)), ("leukocytes", "6690-2", (4.0, 11.0)))
CREATININE_REF_UMOL_L: Final = (50.0, 110.0)


@dataclass
class _Rows:
    """Accumulates result rows as column arrays."""

    patient: list[npt.NDArray[np.int64]]
    order: list[npt.NDArray[np.int64]]
    analyte: list[npt.NDArray[np.object_]]
    value: list[FloatArray]
    unit: list[npt.NDArray[np.object_]]
    ref_low: list[FloatArray]
    ref_high: list[FloatArray]

    def add(
        self,
        keep: BoolArray,
        analyte: npt.ArrayLike,
        value: FloatArray,
        unit: npt.ArrayLike,
        ref: tuple[npt.ArrayLike, npt.ArrayLike],
    ) -> None:
        n = keep.size
        rows = np.flatnonzero(keep)
        self.patient.append(rows)
        self.order.append(np.full(rows.size, len(self.order), dtype=np.int64))
        self.analyte.append(np.broadcast_to(np.asarray(analyte, dtype=object), n)[rows])
        self.value.append(value[rows])
        self.unit.append(np.broadcast_to(np.asarray(unit, dtype=object), n)[rows])
        self.ref_low.append(np.broadcast_to(np.asarray(ref[0], dtype=float), n)[rows])
        self.ref_high.append(np.broadcast_to(np.asarray(ref[1], dtype=float), n)[rows])


def _site_values(
    sites: tuple[SiteProfile, ...], index: npt.NDArray[np.int64], attr: str
) -> npt.NDArray[np.object_]:
    """Each patient's value of a site-profile attribute."""
    return np.array([getattr(site, attr) for site in sites], dtype=object)[index]


def build_labs(
    frame: pd.DataFrame,
    ids: npt.NDArray[np.object_],
    sites: tuple[SiteProfile, ...],
    present: dict[str, BoolArray],
    errors: npt.NDArray[np.object_],
) -> pd.DataFrame:
    """The long labs table at week 0.

    ``frame`` holds canonical values (`simulator.baseline`); ``present`` maps each optional lab
    group to the patients who have it; ``errors`` holds the injected error kind per patient
    ("" for none), applied to the reported value (`simulator.mess.ERROR_KINDS`).
    """
    site = frame["site_index"].to_numpy(dtype=np.int64)
    g_l = _site_values(sites, site, "protein_unit") == "g/L"
    by_name = _site_values(sites, site, "coding") == "name"
    rows = _Rows([], [], [], [], [], [], [])
    everyone = np.ones(len(frame), dtype=bool)

    for protein in PROTEINS:
        mg_dl = frame[protein.key].to_numpy(dtype=float)
        if protein.column_in_g_l:
            mg_dl = mg_dl / G_L_PER_MG_DL
        value = np.where(
            g_l,
            np.round(mg_dl * G_L_PER_MG_DL, protein.decimals_g_l),
            np.round(mg_dl, protein.decimals_mg_dl),
        )
        value = _unit_mismatch(value, g_l, errors == f"{protein.name.lower()}_unit_mismatch")
        scale = np.where(g_l, G_L_PER_MG_DL, 1.0)
        keep = present["iga"] if protein.name == "IgA" else everyone
        rows.add(
            keep,
            np.where(by_name, protein.name, protein.loinc),
            value,
            np.where(g_l, "g/L", "mg/dL"),
            (protein.ref_mg_dl[0] * scale, protein.ref_mg_dl[1] * scale),
        )

    cutoff = frame["anti_dsdna_cutoff"].to_numpy(dtype=float)
    dsdna = frame["anti_dsdna_iu_ml"].to_numpy(dtype=float)
    dsdna = np.where(errors == "negative_anti_dsdna", -dsdna, dsdna)
    rows.add(everyone, np.where(by_name, "anti-dsDNA", "5130-0"), dsdna, "IU/mL", (NAN, cutoff))
    blys = frame["blys_ng_ml"].to_numpy(dtype=float)
    rows.add(present["blys"], "BLyS", blys, "ng/mL", (NAN, NAN))
    _urine(rows, frame, sites, site, present["urine_protein"])
    for key, loinc, ref in COUNTS:
        counts = frame[key].to_numpy(dtype=float)
        counts = np.where(errors == f"negative_{key}", -counts, counts)
        rows.add(present["blood_counts"], loinc, counts, "10^9/L", ref)
    _creatinine(rows, frame, sites, site, present["creatinine"])
    return _assemble(rows, ids)


def _unit_mismatch(value: FloatArray, g_l: BoolArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
    """The value in the other unit's number under this site's unit label (85 "g/L" for C3)."""
    wrong = np.where(g_l, value / G_L_PER_MG_DL, value * G_L_PER_MG_DL)
    return np.where(mask, np.round(wrong, 4), value)


def _urine(
    rows: _Rows,
    frame: pd.DataFrame,
    sites: tuple[SiteProfile, ...],
    site: npt.NDArray[np.int64],
    keep: BoolArray,
) -> None:
    grams = frame["proteinuria_g_24h"].to_numpy(dtype=float)
    kind = _site_values(sites, site, "urine_protein")
    value = np.where(kind == "upcr_mg_mmol", np.round(grams * MG_MMOL_PER_G_G), np.round(grams, 2))
    unit = np.where(kind == "24h", "g/24h", np.where(kind == "upcr_g_g", "g/g", "mg/mmol"))
    rows.add(keep, np.where(kind == "24h", "2889-4", "2890-2"), value, unit, (NAN, NAN))


def _creatinine(
    rows: _Rows,
    frame: pd.DataFrame,
    sites: tuple[SiteProfile, ...],
    site: npt.NDArray[np.int64],
    keep: BoolArray,
) -> None:
    umol = frame["creatinine_umol_l"].to_numpy(dtype=float)
    mg = _site_values(sites, site, "creatinine_unit") == "mg/dL"
    low, high = CREATININE_REF_UMOL_L
    rows.add(
        keep,
        np.where(mg, "2160-0", "14682-9"),
        np.where(mg, np.round(umol / UMOL_L_PER_MG_DL, 2), umol),
        np.where(mg, "mg/dL", "umol/L"),
        (
            np.where(mg, round(low / UMOL_L_PER_MG_DL, 2), low),
            np.where(mg, round(high / UMOL_L_PER_MG_DL, 2), high),
        ),
    )


def _assemble(rows: _Rows, ids: npt.NDArray[np.object_]) -> pd.DataFrame:
    patient = np.concatenate(rows.patient)
    order = np.concatenate(rows.order)
    sort = np.lexsort((order, patient))
    return pd.DataFrame(
        {
            t.PATIENT_ID: ids[patient[sort]],
            t.VISIT_WEEK: np.full(sort.size, t.BASELINE_WEEK, dtype=np.int64),
            t.ANALYTE: np.concatenate(rows.analyte)[sort],
            t.VALUE: np.concatenate(rows.value)[sort],
            t.UNIT: np.concatenate(rows.unit)[sort],
            t.REF_LOW: np.concatenate(rows.ref_low)[sort],
            t.REF_HIGH: np.concatenate(rows.ref_high)[sort],
        }
    )
