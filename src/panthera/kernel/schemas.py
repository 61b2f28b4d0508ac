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
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema, field_validator
from pydantic.alias_generators import to_camel

from panthera.contracts.iso import COUNTRIES, CURRENCIES

# C0 controls but tab, LF and CR; DEL; C1 controls; lone surrogates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

MAX_JSON_DEPTH = 5
"""Nesting of free-form JSON (an object in an object ... five deep)."""
MAX_JSON_NODES = 500
"""Values and keys of a free-form JSON document, counted all together."""


def _check_text(value: Any) -> None:
    """Refuse forbidden characters in `value`, or in any string inside it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _FORBIDDEN.search(item):
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


BoundedJson = Annotated[dict[str, Any], AfterValidator(_bounded)]
"""A free-form JSON object, bounded in depth and size."""


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

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        _check_text(value)
        return value
