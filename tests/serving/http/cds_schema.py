"""JSON Schemas of the CDS Hooks 2.0 discovery response and card, written from the
specification (cds-hooks.hl7.org, "Discovery" and "CDS Service Response"), not from MRBS."""

from __future__ import annotations

from typing import Any, Final

_TEXT: Final = {"type": "string", "minLength": 1}

LINK: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["label", "url", "type"],
    "properties": {
        "label": _TEXT,
        "url": {"type": "string", "format": "uri", "minLength": 1},
        "type": {"enum": ["absolute", "smart"]},
        "appContext": _TEXT,
        "autolaunchable": {"type": "boolean"},
    },
}

CARD: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["summary", "indicator", "source"],
    "properties": {
        "uuid": _TEXT,
        "summary": {"type": "string", "minLength": 1, "maxLength": 139},
        "detail": _TEXT,
        "indicator": {"enum": ["info", "warning", "critical"]},
        "source": {
            "type": "object",
            "required": ["label"],
            "properties": {
                "label": _TEXT,
                "url": _TEXT,
                "icon": _TEXT,
                "topic": {"type": "object"},
            },
        },
        "suggestions": {"type": "array", "minItems": 1},
        "selectionBehavior": {"enum": ["at-most-one", "any"]},
        "overrideReasons": {"type": "array", "minItems": 1},
        "links": {"type": "array", "minItems": 1, "items": LINK},
    },
    "dependentRequired": {"suggestions": ["selectionBehavior"]},
}

RESPONSE: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["cards"],
    "properties": {"cards": {"type": "array", "items": CARD}, "systemActions": {"type": "array"}},
}

DISCOVERY: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "services": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["hook", "description", "id"],
                "properties": {
                    "hook": _TEXT,
                    "title": _TEXT,
                    "description": _TEXT,
                    "id": _TEXT,
                    "prefetch": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": _TEXT,
                    },
                    "usageRequirements": _TEXT,
                },
            },
        }
    },
}
