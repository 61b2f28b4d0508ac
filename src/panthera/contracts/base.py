"""What every event contract is: a typed, versioned payload with a stable type name."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class EventContract(BaseModel):
    """The `data` of one event type at one version, camelCase on the wire.

    A compatible change (a new optional field) keeps the version: consumers ignore
    fields they do not know. An incompatible one is a new class with `VERSION + 1`,
    published beside the old one until every consumer reads it.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        strict=False,
    )

    TYPE: ClassVar[str]
    """`<source>.<entity>.<past-tense verb>`, e.g. `users.user.registered`."""
    VERSION: ClassVar[int] = 1

    @property
    def subject(self) -> str:
        """The id of the entity the event is about (the envelope's `subject`)."""
        raise NotImplementedError

    @classmethod
    def source(cls) -> str:
        """The publishing service: the first part of the type."""
        return cls.TYPE.split(".", 1)[0]

    def wire(self) -> dict[str, object]:
        """The payload as JSON-ready data, camelCase."""
        return self.model_dump(mode="json", by_alias=True)
