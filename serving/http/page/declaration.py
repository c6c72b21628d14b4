"""What the clinician page is built from: the record declaration and the SLEDAI-2K sheet, as JSON.

The page holds no field of its own: every input, its label, units, ranges and whether it is
required come from `features.record.FIELDS`, and the SLEDAI-2K calculator's descriptors, weights
and definitions from `features.sledai`, so a newly declared field appears on the page as it is.
Ranges are given in every unit a field accepts (converted here, by the declaration's own
factors), so the page never converts a value itself.
"""

from __future__ import annotations

from typing import Any, Final

from features.record import FIELDS, FieldSpec
from features.sledai import (
    DESCRIPTOR_DEFINITIONS,
    DESCRIPTOR_WEIGHTS,
    MAX_TOTAL,
    MIN_TOTAL,
)
from features.units import Unit

#: The page's sections, one per role a field plays, in the order they are shown.
SECTIONS: Final = (
    ("predictor", "Disease activity, laboratory values and treatment"),
    ("serology", "Serology and laboratory references"),
    ("inclusion", "Inclusion criteria"),
    ("exclusion", "Exclusion criteria"),
    ("context", "Context (reporting only)"),
)
#: Significant digits of a range converted to another unit (no float noise in hints).
RANGE_DIGITS: Final = 6


def _in_unit(bounds: tuple[float, float] | None, unit: Unit) -> list[float] | None:
    if bounds is None:
        return None
    return [float(f"{unit.from_canonical(value):.{RANGE_DIGITS}g}") for value in bounds]


def field_entry(spec: FieldSpec) -> dict[str, Any]:
    """One field as the page shows it: label, kind, units with their ranges, required."""
    return {
        "name": spec.name,
        "label": spec.label,
        "kind": spec.kind,
        "role": spec.role,
        "required": spec.required,
        "description": spec.description,
        "source": spec.source,
        "unit": spec.unit,
        "unit_field": spec.unit_column if spec.has_alternative_units else None,
        "units": [
            {
                "symbol": unit.symbol,
                "plausible_range": _in_unit(spec.hard, unit),
                "training_range": _in_unit(spec.soft, unit),
            }
            for unit in spec.units.all
        ],
        "categories": list(spec.categories),
    }


def declaration() -> dict[str, Any]:
    """Everything the page is built from; no patient data, so it is served without a token."""
    return {
        "sections": [{"role": role, "title": title} for role, title in SECTIONS],
        "fields": [field_entry(spec) for spec in FIELDS],
        "sledai": {
            "field": "sledai_2k",
            "range": [MIN_TOTAL, MAX_TOTAL],
            "descriptors": [
                {
                    "name": name,
                    "label": DESCRIPTOR_DEFINITIONS[name][0],
                    "definition": DESCRIPTOR_DEFINITIONS[name][1],
                    "weight": weight,
                }
                for name, weight in DESCRIPTOR_WEIGHTS.items()
            ],
        },
    }
