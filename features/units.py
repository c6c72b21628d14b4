"""Units of measurement and their conversion to each field's canonical unit.

Every conversion used by MRBS is a fixed multiplicative factor (CLINICAL.md section 6):
g/L x 100 = mg/dL for complement and immunoglobulins; creatinine mg/dL x 88.4 = umol/L;
urine protein/creatinine ratio 1 g/g = 113 mg/mmol. A spot urine protein/creatinine ratio in g/g
is taken as an estimate of the 24 h protein excretion in g/24 h (the KDIGO convention), so both
report on one proteinuria scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd


@dataclass(frozen=True)
class Unit:
    """A unit a field may be reported in: ``canonical = value * factor``."""

    symbol: str
    factor: float = 1.0

    def to_canonical(self, value: float) -> float:
        return value * self.factor

    def from_canonical(self, value: float) -> float:
        return value / self.factor


class UnitError(ValueError):
    """A unit that a field does not accept."""


_MICRO = re.compile("[µμ]")
_SPACES = re.compile(r"\s+")


def normalise_symbol(symbol: str) -> str:
    """Spelling-insensitive key for a unit: case, spaces and the micro sign do not matter."""
    text = _MICRO.sub("u", symbol.strip())
    text = _SPACES.sub("", text).lower()
    return text.replace("x10^9/l", "10^9/l").replace("x10e9/l", "10^9/l")


@dataclass(frozen=True)
class UnitSet:
    """The canonical unit of a field and the alternatives it accepts."""

    canonical: Unit
    alternatives: tuple[Unit, ...] = ()

    @property
    def all(self) -> tuple[Unit, ...]:
        return (self.canonical, *self.alternatives)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(unit.symbol for unit in self.all)

    def lookup(self, symbol: str, *, field: str) -> Unit:
        """The accepted unit spelled ``symbol``; UnitError naming the field otherwise."""
        key = normalise_symbol(symbol)
        for unit in self.all:
            if normalise_symbol(unit.symbol) == key:
                return unit
        accepted = ", ".join(self.symbols)
        raise UnitError(f"{field}: unit {symbol!r} is not accepted (accepted: {accepted})")

    def factors(
        self, symbols: npt.ArrayLike, *, field: str
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Vectorised lookup: the factor for each symbol (NaN where unknown) and a mask of unknowns.

        A missing symbol (None/NaN/empty) means the canonical unit.
        """
        raw = pd.Series(np.asarray(symbols, dtype=object).ravel(), dtype="string").fillna("")
        table = {normalise_symbol(u.symbol): u.factor for u in self.all}
        # Units repeat across a cohort: normalise each distinct spelling once.
        codes, uniques = pd.factorize(raw)
        lookup = np.array(
            [table.get(normalise_symbol(u), np.nan) if u.strip() else 1.0 for u in uniques],
            dtype=float,
        )
        factors = lookup[codes] if len(raw) else np.empty(0, dtype=float)
        return factors, np.isnan(factors)


MG_DL = Unit("mg/dL")
G_L_TO_MG_DL = Unit("g/L", 100.0)
PLAIN = Unit("")

PROTEIN_MG_DL = UnitSet(MG_DL, (G_L_TO_MG_DL,))
PROTEINURIA = UnitSet(
    Unit("g/24h"),
    (
        Unit("mg/24h", 0.001),
        Unit("g/g", 1.0),  # spot UPCR as an estimate of g/24 h
        Unit("mg/mg", 1.0),
        Unit("mg/g", 0.001),
        Unit("mg/mmol", 1 / 113.0),
    ),
)
CREATININE = UnitSet(Unit("umol/L"), (Unit("mg/dL", 88.4),))
CELLS_10E9_L = UnitSet(Unit("10^9/L"), (Unit("10^3/uL"), Unit("G/L")))
IU_ML = UnitSet(Unit("IU/mL"), (Unit("U/mL"),))
NG_ML = UnitSet(Unit("ng/mL"), (Unit("ug/L"),))
YEARS = UnitSet(Unit("years"))
MG_DAY = UnitSet(Unit("mg/day"))
POINTS = UnitSet(Unit("points"))
NONE = UnitSet(PLAIN)
