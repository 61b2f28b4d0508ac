"""What an operator watches of notifications: send attempts by channel and outcome."""

from __future__ import annotations

from typing import get_args

from prometheus_client import Counter

from panthera.kernel.service import ServiceMetrics
from panthera.services.notifications.store import Channel

OUTCOMES = ("sent", "retry", "failed")
"""`retry`: failed, will be tried again; `failed`: given up after the last attempt."""

SENDS = Counter(
    "panthera_notifications_sends_total",
    "Notification send attempts by channel and outcome",
    ["channel", "outcome"],
)


def start() -> None:
    for channel in get_args(Channel):
        for outcome in OUTCOMES:
            SENDS.labels(channel, outcome)


NOTIFICATIONS = ServiceMetrics(start=start)
