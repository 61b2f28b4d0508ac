"""The order state machine: which status may follow which.

pending -> confirmed (stock reserved, payment captured) | rejected | cancelled
confirmed -> shipped | cancelled;  shipped -> delivered
"""

from __future__ import annotations

from typing import Literal

from panthera.kernel.errors import Conflict

Status = Literal["pending", "confirmed", "rejected", "cancelled", "shipped", "delivered"]
STATUSES: tuple[Status, ...] = (
    "pending",
    "confirmed",
    "rejected",
    "cancelled",
    "shipped",
    "delivered",
)
FINAL: frozenset[str] = frozenset({"rejected", "cancelled", "delivered"})

_NEXT: dict[str, frozenset[str]] = {
    "pending": frozenset({"confirmed", "rejected", "cancelled"}),
    "confirmed": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
}


def can_move(current: str, target: str) -> bool:
    return target in _NEXT.get(current, frozenset())


def sources_of(target: str) -> frozenset[str]:
    """Every status from which `target` may be reached."""
    return frozenset(status for status, nexts in _NEXT.items() if target in nexts)


def ensure_can_move(current: str, target: str) -> None:
    if not can_move(current, target):
        raise Conflict(
            f"An order that is {current} cannot become {target}",
            extra={"currentStatus": current},
        )
