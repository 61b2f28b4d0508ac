"""The event envelope every service publishes and consumes (see docs/events.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, Field

from panthera.contracts import EventContract

_propagator = TraceContextTextMapPropagator()

C = TypeVar("C", bound=EventContract)


class Event(BaseModel):
    id: uuid.UUID
    type: str = Field(
        description="`<source>.<entity>.<past-tense verb>`, e.g. `users.user.registered`"
    )
    version: int = 1
    occurredAt: datetime
    source: str
    subject: str = Field(description="The id of the entity the event is about.")
    data: dict[str, Any]
    traceContext: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, contract: EventContract) -> Event:
        """A new envelope around a payload, carrying the current trace context."""
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        return cls(
            id=uuid.uuid4(),
            type=contract.TYPE,
            version=contract.VERSION,
            occurredAt=datetime.now(UTC),
            source=contract.source(),
            subject=contract.subject,
            data=contract.wire(),
            traceContext=carrier,
        )


@dataclass(frozen=True)
class Received(Generic[C]):
    """An event as a handler sees it: the envelope and its payload, parsed and typed."""

    event: Event
    data: C

    @property
    def id(self) -> uuid.UUID:
        return self.event.id

    @property
    def occurred_at(self) -> datetime:
        return self.event.occurredAt
