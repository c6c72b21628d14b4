"""The SLEDAI-2K descriptors as the simulator groups them: organ domains and BILAG domains.

Weights and column names come from `features.sledai` (Gladman 2002), so the simulator and the
cohort builder cannot disagree about them. Organ domains follow the SELENA-SLEDAI organ systems
reported for the BLISS trials (Manzi et al., ARD 2012); each maps onto the BILAG-2004 domain that
grades the same organ (cutaneous vasculitis is graded in BILAG's mucocutaneous domain, lupus
retinopathy in its ophthalmic domain, serositis in its cardiorespiratory domain).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

from features.sledai import DESCRIPTOR_COLUMNS, DESCRIPTOR_WEIGHTS, DESCRIPTORS
from features.sri import BILAG_DOMAINS

SEROLOGY: Final = ("low_complement", "increased_dna_binding")
"""The two laboratory descriptors; they are derived from the simulated labs."""

CLINICAL: Final = tuple(name for name in DESCRIPTORS if name not in SEROLOGY)
"""The 22 clinical descriptors."""

INDEX: Final[Mapping[str, int]] = MappingProxyType({n: i for i, n in enumerate(DESCRIPTORS)})
"""Descriptor name -> its column in a descriptor matrix (order of `features.sledai`)."""

WEIGHTS: Final[npt.NDArray[np.int64]] = np.array(
    [DESCRIPTOR_WEIGHTS[name] for name in DESCRIPTORS], dtype=np.int64
)
"""Weights in matrix column order."""

COLUMNS: Final[tuple[str, ...]] = tuple(DESCRIPTOR_COLUMNS[name] for name in DESCRIPTORS)
"""Assessment-table column of each matrix column."""

BILAG_OF_DESCRIPTOR: Final[Mapping[str, str]] = MappingProxyType(
    {
        "seizure": "neuropsychiatric",
        "psychosis": "neuropsychiatric",
        "organic_brain_syndrome": "neuropsychiatric",
        "visual_disturbance": "ophthalmic",
        "cranial_nerve_disorder": "neuropsychiatric",
        "lupus_headache": "neuropsychiatric",
        "cerebrovascular_accident": "neuropsychiatric",
        "vasculitis": "mucocutaneous",
        "arthritis": "musculoskeletal",
        "myositis": "musculoskeletal",
        "urinary_casts": "renal",
        "haematuria": "renal",
        "proteinuria": "renal",
        "pyuria": "renal",
        "rash": "mucocutaneous",
        "alopecia": "mucocutaneous",
        "mucosal_ulcers": "mucocutaneous",
        "pleurisy": "cardiorespiratory",
        "pericarditis": "cardiorespiratory",
        "fever": "constitutional",
        "thrombocytopenia": "haematological",
        "leukopenia": "haematological",
    }
)
"""Clinical descriptor -> the BILAG-2004 domain grading the same organ."""


def check_names(items: Mapping[str, object], *, field: str) -> None:
    """Raise ValueError naming ``field`` if ``items`` names something not a clinical item."""
    unknown = [name for name in items if name not in CLINICAL]
    if unknown:
        raise ValueError(
            f"{field}: unknown SLEDAI-2K descriptor(s) {', '.join(unknown)}; "
            f"known: {', '.join(CLINICAL)}"
        )


def totals(matrix: npt.NDArray[np.int8]) -> npt.NDArray[np.int64]:
    """SLEDAI-2K totals of a complete 0/1 descriptor matrix (rows: patients)."""
    return np.asarray(matrix.astype(np.int64) @ WEIGHTS, dtype=np.int64)


def serology_points(matrix: npt.NDArray[np.int8]) -> npt.NDArray[np.int64]:
    """Points contributed by the two serology descriptors."""
    columns = [INDEX[name] for name in SEROLOGY]
    return np.asarray(matrix[:, columns].astype(np.int64) @ WEIGHTS[columns], dtype=np.int64)


def bilag_activity(matrix: npt.NDArray[np.int8]) -> npt.NDArray[np.bool_]:
    """Whether each BILAG domain (columns in `BILAG_DOMAINS` order) has an active descriptor."""
    active = np.zeros((matrix.shape[0], len(BILAG_DOMAINS)), dtype=bool)
    for name, domain in BILAG_OF_DESCRIPTOR.items():
        active[:, BILAG_DOMAINS.index(domain)] |= matrix[:, INDEX[name]] == 1
    return active
