"""Settings of the event backbone (`PANTHERA_EVENTS__*`); the NATS URL is the platform's."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PANTHERA_EVENTS__", extra="ignore")

    stream_prefix: str = Field(
        default="PANTHERA",
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="JetStream stream names are `<prefix>_<SOURCE>`; tests make it unique.",
    )
    subject_prefix: str = Field(
        default="panthera",
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="Subjects are `<prefix>.<event type>`, e.g. `panthera.users.user.registered`.",
    )
    max_deliver: int = Field(
        default=5, ge=1, le=100, description="Attempts before an event is dead-lettered."
    )
    backoff_seconds: list[float] = Field(
        default=[1.0, 5.0, 30.0, 120.0],
        description="Delay before redelivery after the n-th failure (the last one repeats).",
    )
    inprocess_backoff_seconds: list[float] = Field(
        default=[0.05, 0.2, 1.0, 2.0],
        description="The same in-process, kept short: a retry there holds up the relay.",
    )
    ack_wait_seconds: float = Field(
        default=30.0, gt=0, description="A delivery not acked by then goes to another replica."
    )
    max_ack_pending: int = Field(default=100, ge=1)
    consumer_concurrency: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Events one replica handles at once (JetStream); 1 keeps stream order.",
    )
    duplicate_window_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long JetStream remembers message ids (Nats-Msg-Id) to drop duplicates.",
    )
    max_age_days: float = Field(default=7.0, gt=0, description="Retention, and so replay depth.")
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Copies of each stream across a NATS cluster: 3 in production, so that "
        "losing a server loses no event and pauses nothing; 1 on a single server.",
    )
    relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    relay_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="The relay's safety poll, for rows committed by another process: a commit "
        "in the relay's own process wakes it at once.",
    )
    publish_ack_seconds: float = Field(
        default=10.0, gt=0, description="How long the relay waits for JetStream's acks."
    )
    lag_poll_seconds: float = Field(default=5.0, gt=0)

    def backoff(self, failures: int, *, inprocess: bool = False) -> float:
        """The delay after the `failures`-th failed attempt (counted from 1)."""
        steps = self.inprocess_backoff_seconds if inprocess else self.backoff_seconds
        if not steps:
            return 0.0
        return steps[min(max(failures, 1), len(steps)) - 1]
