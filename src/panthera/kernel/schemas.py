"""Base classes for request and response bodies: camelCase on the wire.

Every request body refuses, wherever it appears (names, passwords, addresses,
keys and values of free-form objects), text that no field has a use for and
some database refuses: control characters other than tab, line feed and
carriage return (PostgreSQL refuses NUL in text), and lone UTF-16 surrogates
(JSON can spell them, UTF-8 cannot encode them). Free-form JSON is bounded in
depth and size (`BoundedJson`), so that nothing a write accepts can break
the reads that serialise it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictInt,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from panthera.contracts.iso import COUNTRIES, CURRENCIES

# C0 controls but tab, LF and CR; DEL; C1 controls; lone surrogates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

MAX_JSON_DEPTH = 5
"""Nesting of free-form JSON (an object in an object ... five deep)."""
MAX_JSON_NODES = 500
"""Values and keys of a free-form JSON document, counted all together."""


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a character no field has a use for (see the module's doc)."""
    return _FORBIDDEN.search(text) is not None


def _check_text(value: Any) -> None:
    """Refuse forbidden characters in `value`, or in any string inside it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if has_control_characters(item):
                raise ValueError(
                    "text may not contain control characters (other than tab and new line)"
                )
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


def _bounded(value: Any) -> Any:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH or larger than MAX_JSON_NODES."""
    nodes = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            children = list(item.values()) if isinstance(item, dict) else item
            nodes += len(item) * (2 if isinstance(item, dict) else 1)
            pending.extend((child, depth + 1) for child in children)
        if nodes > MAX_JSON_NODES:
            raise ValueError(f"more than {MAX_JSON_NODES} keys and values in all")
    return value


TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
"""The published schema's words for text without control characters (tab and new line
are fine); every string of a request body says it."""


def _json_value_schema(depth: int) -> dict[str, Any]:
    """A JSON value at most `depth` levels deep, its text without control characters.

    JSON Schema cannot count the values of a whole document: MAX_JSON_NODES is said in
    the description and checked on input.
    """
    leaves: list[dict[str, Any]] = [
        {"type": "string", "pattern": TEXT_PATTERN},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
    if depth <= 1:
        return {"anyOf": leaves}
    inner = _json_value_schema(depth - 1)
    return {
        "anyOf": [
            *leaves,
            {"type": "array", "items": inner},
            {
                "type": "object",
                "propertyNames": {"pattern": TEXT_PATTERN},
                "additionalProperties": inner,
            },
        ]
    }


BoundedJson = Annotated[
    dict[str, Any],
    AfterValidator(_bounded),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": TEXT_PATTERN},
            "additionalProperties": _json_value_schema(MAX_JSON_DEPTH),
            "description": f"Free-form JSON: at most {MAX_JSON_DEPTH} levels deep and "
            f"{MAX_JSON_NODES} keys and values in all.",
        }
    ),
]
"""A free-form JSON object, bounded in depth and size."""


def _say_no_control_characters(schema: dict[str, Any]) -> None:
    """Give every plain string of a request body's schema the pattern it is held to."""
    for prop in schema.get("properties", {}).values():
        for option in [prop, *prop.get("anyOf", ()), prop.get("items", {})]:
            if option.get("type") == "string" and not {"pattern", "format", "enum"} & set(option):
                option["pattern"] = TEXT_PATTERN


def _whole_number(value: Any) -> Any:
    # JSON has one kind of number: 2.0 is the integer 2 (JSON Schema says so too, and so
    # the schema we publish). A string, a boolean or 2.5 is a client bug worth reporting.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = BeforeValidator(_whole_number)
"""Last in an `Annotated[StrictInt, Field(ge=...), WholeNumber]`: bounds before it stay in
the published schema."""
JsonInt = Annotated[StrictInt, WholeNumber]
"""An integer as JSON has it: `2` or `2.0`, never `"2"`, `true` or `2.5` (bounds go on
the field: `quantity: JsonInt = Field(ge=1)`)."""


def _iso_date(value: Any) -> Any:
    # Pydantic would read "0" or 1700000000 as a Unix time: the schema says `format: date`.
    if not (isinstance(value, date) or re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", str(value))):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar day, as ISO 8601 writes it (YYYY-MM-DD) and nothing else."""


def _one_of(codes: tuple[str, ...], standard: str) -> Callable[[str], str]:
    allowed = frozenset(codes)

    def check(code: str) -> str:
        if code not in allowed:
            raise ValueError(f"{code!r} is not an {standard} code")
        return code

    return check


Country = Annotated[
    str,
    AfterValidator(_one_of(COUNTRIES, "ISO 3166-1 alpha-2")),
    WithJsonSchema(
        {"type": "string", "enum": list(COUNTRIES), "description": "ISO 3166-1 alpha-2, e.g. FR"}
    ),
]
Currency = Annotated[
    str,
    AfterValidator(_one_of(CURRENCIES, "ISO 4217")),
    WithJsonSchema({"type": "string", "enum": list(CURRENCIES), "description": "ISO 4217"}),
]


class ApiModel(BaseModel):
    """A response body: snake_case in Python, camelCase in JSON."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class ApiInput(ApiModel):
    """A request body: unknown fields are refused rather than silently ignored, and so
    is text with control characters."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra=lambda schema, _cls: _say_no_control_characters(schema),
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        _check_text(value)
        return value
