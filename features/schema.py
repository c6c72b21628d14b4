"""Validation generated from the record declaration: a pydantic model and a table validator.

`patient_model()` builds the pydantic model of one patient's baseline record (the API's request
body). `validate_table()` validates a whole baseline table with pandera and returns it in
canonical units, keeping every row: rows with problems carry them in a ``problems`` column and
values outside the training population's range are listed in ``flags``.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandera.pandas as pa
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
)

from features import vocabulary
from features.columns import Columns, from_frame, size
from features.notes import join_notes, note, text_per_row
from features.record import FIELDS, REQUIRED, FieldSpec
from features.units import UnitError

PROBLEMS: Final = "problems"
FLAGS: Final = "flags"


class MissingColumnsError(ValueError):
    """A table lacks columns it must have; the message names every one."""

    def __init__(self, table: str, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"{table}: missing required column(s): {', '.join(missing)}")


# -- pydantic ---------------------------------------------------------------------------------


def _json_number(value: Any) -> Any:
    """A clinical number as JSON gives it: a number, never a boolean or a string."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise ValueError(f"must be a JSON number, not {_json_type(value)}")
    return value


def _json_whole_number(value: Any) -> Any:
    """A whole number as JSON gives it (``4`` or ``4.0``), never a fraction, boolean or string."""
    _json_number(value)
    if not float(value).is_integer():
        raise ValueError("must be a whole number")
    return int(value)


def _json_boolean(value: Any) -> Any:
    """A yes/no fact as JSON gives it: ``true`` or ``false``, never 1, 0 or a string."""
    if not isinstance(value, bool):
        raise ValueError(f"must be a JSON boolean (true or false), not {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Real | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "an array" if isinstance(value, list) else "an object"


def _json_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a JSON string, not {_json_type(value)}")
    return value


def _category_reader(spec: FieldSpec) -> Any:
    def read(value: Any) -> str:
        found = vocabulary.category(spec, _json_text(value))
        if found is None:
            raise ValueError(f"must be one of {', '.join(spec.categories)}")
        return found

    return read


def _unit_reader(spec: FieldSpec) -> Any:
    accepted = ", ".join(spec.units.symbols)

    def read(value: Any) -> str:
        # As for tables: the given spelling is not echoed.
        try:
            return spec.units.lookup(_json_text(value), field=spec.unit_column).symbol
        except UnitError:
            raise ValueError(f"unit not accepted (accepted: {accepted})") from None

    return read


def _python_type(spec: FieldSpec) -> Any:
    """The field's type, read exactly as its JSON type (see `_json_number`)."""
    if spec.kind == "number":
        return Annotated[float, BeforeValidator(_json_number)]
    if spec.kind == "integer":
        return Annotated[int, BeforeValidator(_json_whole_number)]
    if spec.kind == "boolean":
        return Annotated[bool, BeforeValidator(_json_boolean)]
    if spec.categories:
        schema = {"type": "string", "enum": list(spec.categories)}
        return Annotated[str, BeforeValidator(_category_reader(spec)), WithJsonSchema(schema)]
    return Annotated[str, BeforeValidator(_json_text)]


def _json_extra(spec: FieldSpec) -> dict[str, Any]:
    extra: dict[str, Any] = {"source": spec.source, "role": spec.role}
    if spec.unit:
        extra["unit"] = spec.unit
    if spec.has_alternative_units:
        extra["accepted_units"] = list(spec.units.symbols)
    if spec.hard:
        extra["plausible_range"] = list(spec.hard)
    if spec.soft:
        extra["training_range"] = list(spec.soft)
    if spec.loinc:
        extra["loinc"] = list(spec.loinc)
    return extra


def _field_definition(spec: FieldSpec) -> tuple[Any, Any]:
    description = spec.description + (f" Canonical unit: {spec.unit}." if spec.unit else "")
    low = high = None
    if spec.hard and not spec.has_alternative_units:
        # Alternative units are range-checked after conversion, in the field validator.
        low, high = spec.hard
    annotation = _python_type(spec)
    info = Field(
        default=... if spec.required else None,
        description=description,
        json_schema_extra=_json_extra(spec),
        ge=low,
        le=high,
    )
    return (annotation if spec.required else annotation | None), info


def _unit_definition(spec: FieldSpec) -> tuple[Any, Any]:
    accepted = ", ".join(spec.units.symbols)
    schema = {"type": "string", "enum": list(spec.units.symbols)}
    annotation = Annotated[str, BeforeValidator(_unit_reader(spec)), WithJsonSchema(schema)]
    return annotation | None, Field(
        default=None,
        description=f"Unit of {spec.name}: one of {accepted}; default {spec.unit}. Case, spaces "
        "and the micro sign do not matter (features.units.normalise_symbol).",
    )


def _to_canonical(value: float | None, info: ValidationInfo) -> float | None:
    """Convert a multi-unit value to its canonical unit and check its plausible range.

    When the unit itself was refused, its error is the only one reported: the value cannot be
    read without it.
    """
    if value is None or info.field_name is None:
        return value
    spec = FIELDS_BY_NAME_WITH_UNITS[info.field_name]
    if spec.unit_column not in info.data:
        return value
    unit = spec.units.lookup(info.data[spec.unit_column] or spec.unit, field=spec.name)
    canonical = unit.to_canonical(value)
    if spec.hard and not spec.hard[0] <= canonical <= spec.hard[1]:
        raise ValueError(_range_message(spec, unit.symbol))
    return canonical


FIELDS_BY_NAME_WITH_UNITS: Final = {s.name: s for s in FIELDS if s.has_alternative_units}


@functools.cache
def patient_model() -> type[BaseModel]:
    """The pydantic model of one baseline record, generated from `features.record.FIELDS`.

    Each clinical value takes exactly its declared JSON type: numbers as JSON numbers, yes/no
    facts as JSON booleans, categories as strings (read by `features.vocabulary`). Fields with
    alternative units take an optional ``<field>_unit`` (read by `features.units`, as tables
    are); the validated model holds every value in its canonical unit. Unknown fields are
    rejected, and validation errors never echo the input values (they would put patient data
    into server logs).
    """
    definitions: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.has_alternative_units:
            # Declared before the value so the value's validator can read it.
            definitions[spec.unit_column] = _unit_definition(spec)
        definitions[spec.name] = _field_definition(spec)
    validators = {
        "canonical_units": field_validator(*FIELDS_BY_NAME_WITH_UNITS)(_to_canonical),
    }
    return create_model(
        "PatientRecord",
        __config__=ConfigDict(extra="forbid", hide_input_in_errors=True),
        __validators__=validators,
        **definitions,
    )


def canonical_values(record: BaseModel) -> dict[str, Any]:
    """The record's field values (canonical units), without the unit fields."""
    return {spec.name: getattr(record, spec.name) for spec in FIELDS}


#: The fields with a training population's range, whose values outside it are flagged.
FLAGGED_FIELDS: Final = tuple(spec for spec in FIELDS if spec.soft)
#: The flag of each of `FLAGGED_FIELDS`, in order.
FLAG_MESSAGES: Final = tuple(
    f"{spec.name}: outside the training population's range {spec.describe_range(spec.soft)}"
    for spec in FLAGGED_FIELDS
    if spec.soft
)


_SOFT_LOW: Final = np.array([spec.soft[0] if spec.soft else np.nan for spec in FLAGGED_FIELDS])
_SOFT_HIGH: Final = np.array([spec.soft[1] if spec.soft else np.nan for spec in FLAGGED_FIELDS])


def outside_training_range(columns: Columns) -> npt.NDArray[np.bool_]:
    """Which known values lie outside the training population's range: records (as columns,
    `features.columns`) x `FLAGGED_FIELDS`; a field absent from ``columns`` is never flagged."""
    n = size(columns)
    absent = np.full(n, np.nan)
    values = np.column_stack([columns.get(spec.name, absent) for spec in FLAGGED_FIELDS])
    with np.errstate(invalid="ignore"):
        marks = (values < _SOFT_LOW) | (values > _SOFT_HIGH)
    return np.asarray(marks.reshape(n, len(FLAGGED_FIELDS)))


def flags_of(marks: npt.NDArray[np.bool_]) -> list[str]:
    """The flags of one record's row of `outside_training_range`."""
    return [FLAG_MESSAGES[j] for j in np.flatnonzero(marks)]


# -- tables -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidatedTable:
    """A table in canonical units with per-row ``problems`` and ``flags`` (empty string: none)."""

    frame: pd.DataFrame

    @property
    def ok(self) -> pd.Series:
        return self.frame[PROBLEMS].eq("")


def _range_message(spec: FieldSpec, given_unit: str | None = None) -> str:
    assert spec.hard is not None
    converted = (
        f" (given in {given_unit}, converted to {spec.unit})"
        if given_unit and given_unit != spec.unit
        else ""
    )
    return f"{spec.name}: outside the plausible range {spec.describe_range(spec.hard)}{converted}"


class _RowNotes:
    """Messages per row, held as one row mask per message and joined once at the end."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._messages: list[str] = []
        self._masks: list[npt.NDArray[np.bool_]] = []

    def add(self, mask: npt.NDArray[np.bool_], message: str) -> None:
        if mask.any():
            self._messages.append(note(message))
            self._masks.append(np.asarray(mask, dtype=bool))

    def mentions(self, name: str) -> npt.NDArray[np.bool_]:
        """Rows with a message about field ``name``."""
        found = np.zeros(self._n, dtype=bool)
        for message, mask in zip(self._messages, self._masks, strict=True):
            if message.startswith(f"{name}:"):
                found |= mask
        return found

    def joined(self) -> npt.NDArray[np.object_]:
        """Each row's messages in the order they were added, each once, ``"; "``-joined."""
        marks = np.column_stack(self._masks) if self._masks else np.zeros((self._n, 0), bool)
        messages = self._messages
        return text_per_row(marks, lambda columns: join_notes(messages[c] for c in columns))


def _parse_number(
    spec: FieldSpec, frame: pd.DataFrame, notes: _RowNotes
) -> tuple[pd.Series, pd.Series]:
    """Numeric values in the canonical unit, and the unit each was given in."""
    raw = frame[spec.name]
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    text_given = raw.notna() & values.isna()
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        text_given &= raw.astype("string").str.strip().ne("").fillna(False)
    notes.add(text_given.to_numpy(dtype=bool), f"{spec.name}: not a number")
    given_unit = pd.Series(spec.unit, index=frame.index, dtype="string")
    if spec.unit_column in frame.columns:
        symbols = frame[spec.unit_column]
        factors, unknown = spec.units.factors(symbols.to_numpy(dtype=object), field=spec.name)
        unknown &= values.notna().to_numpy()
        notes.add(
            unknown,
            f"{spec.name}: unit not accepted (accepted: {', '.join(spec.units.symbols)})",
        )
        values = values * factors
        given_unit = symbols.astype("string").fillna(spec.unit)
    if spec.kind == "integer":
        fractional = values.notna() & (values != np.floor(values))
        notes.add(fractional.to_numpy(dtype=bool), f"{spec.name}: must be a whole number")
        values = values.where(~fractional)
    return values, given_unit


@functools.cache
def table_schema() -> pa.DataFrameSchema:
    """The pandera schema of a baseline table in canonical units, from `FIELDS`."""
    columns: dict[str, pa.Column] = {}
    for spec in FIELDS:
        checks = [pa.Check.in_range(*spec.hard)] if spec.hard else []
        if spec.categories:
            checks.append(pa.Check.isin(list(spec.categories)))
        dtype: Any = {"number": float, "integer": float, "boolean": "boolean"}.get(
            spec.kind, "string"
        )
        columns[spec.name] = pa.Column(
            dtype,
            checks=checks,
            nullable=not spec.required,
            required=False,
            description=spec.description,
        )
    return pa.DataFrameSchema(columns, strict=False, name="baseline record")


def validate_table(frame: pd.DataFrame, *, table: str = "baseline table") -> ValidatedTable:
    """Validate a baseline table against the record declaration, keeping every row.

    Raises `MissingColumnsError` naming every required column that is absent. Otherwise returns
    the table with each declared field converted to its canonical unit (unit columns consumed),
    other columns passed through unchanged, and ``problems``/``flags`` per row. A row with a
    problem keeps its values, except that a value that failed validation is set missing so it
    can never reach a model.
    """
    missing = [name for name in REQUIRED if name not in frame.columns]
    if missing:
        raise MissingColumnsError(table, missing)
    frame = frame.reset_index(drop=True)
    notes, flags = _RowNotes(len(frame)), _RowNotes(len(frame))
    canonical: dict[str, pd.Series] = {}
    given_units: dict[str, pd.Series] = {}
    for spec in FIELDS:
        if spec.name not in frame.columns:
            continue
        if spec.kind in ("number", "integer"):
            canonical[spec.name], given_units[spec.name] = _parse_number(spec, frame, notes)
        else:
            canonical[spec.name], invalid = (
                vocabulary.booleans(frame[spec.name])
                if spec.kind == "boolean"
                else vocabulary.categories(spec, frame[spec.name])
            )
            notes.add(
                invalid,
                f"{spec.name}: "
                + (
                    vocabulary.UNREADABLE_FACT
                    if spec.kind == "boolean"
                    else f"not one of the accepted values ({', '.join(spec.categories)})"
                ),
            )
    out = pd.DataFrame(canonical, index=frame.index)
    _apply_schema(out, notes, given_units)
    outside = outside_training_range(
        from_frame(out, [s.name for s in FLAGGED_FIELDS if s.name in out])
    )
    for j, message in enumerate(FLAG_MESSAGES):
        flags.add(outside[:, j], message)
    unit_columns = {spec.unit_column for spec in FIELDS}
    passthrough = [c for c in frame.columns if c not in out.columns and c not in unit_columns]
    result = pd.concat([frame[passthrough], out], axis=1)
    result[PROBLEMS] = pd.Series(notes.joined(), index=frame.index, dtype="string")
    result[FLAGS] = pd.Series(flags.joined(), index=frame.index, dtype="string")
    return ValidatedTable(result)


def _apply_schema(out: pd.DataFrame, notes: _RowNotes, given_units: dict[str, pd.Series]) -> None:
    """Run the pandera schema lazily and turn each failure into a per-row problem."""
    try:
        table_schema().validate(out, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases[cases["index"].notna()]
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            spec = FIELDS_BY_NAME[str(column)]
            positions = group["index"].astype(int).to_numpy()
            failed = np.zeros(len(out), dtype=bool)
            failed[positions] = True
            if str(check) == "not_nullable":
                # A value already rejected has a more precise reason than its absence.
                unexplained = failed & ~notes.mentions(spec.name)
                notes.add(unexplained, f"{spec.name}: required value missing")
                continue
            for rows, message in _failure_messages(spec, str(check), given_units, failed):
                notes.add(rows, message)
            out.loc[positions, spec.name] = pd.NA if spec.kind != "number" else np.nan


FIELDS_BY_NAME: Final = {spec.name: spec for spec in FIELDS}


def _failure_messages(
    spec: FieldSpec, check: str, given_units: dict[str, pd.Series], failed: npt.NDArray[np.bool_]
) -> list[tuple[npt.NDArray[np.bool_], str]]:
    """The rows failing ``check`` grouped by message (a range message names the given unit)."""
    if not check.startswith("in_range"):
        return [(failed, f"{spec.name}: failed check {check}")]
    if spec.name not in given_units:
        return [(failed, _range_message(spec))]
    # A missing unit and an empty one both mean the canonical unit in the message.
    units = given_units[spec.name].fillna("").to_numpy(dtype=object)
    return [
        (failed & (units == unit), _range_message(spec, unit or None))
        for unit in dict.fromkeys(units[failed].tolist())
    ]
