"""The event envelope every service publishes and consumes (see docs/events.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, Field

_propagator = TraceContextTextMapPropagator()


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

    def attach_trace_context(self) -> None:
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        self.traceContext = carrier
