"""Order statistics for the shop's staff: orders, revenue and outcomes per day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from panthera.contracts.orders import OrderReason, OrderStatus
from panthera.kernel.errors import BadRequest
from panthera.services.orders.repository import OrdersUoW

MAX_DAYS = 366
"""The widest range one request may ask for."""

TAKEN = frozenset({OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.DELIVERED})
"""Orders whose money the shop has taken: they count as confirmed and as revenue."""


@dataclass
class DayStats:
    start: date
    currency: str | None
    orders: int = 0
    revenue: int = 0
    confirmed: int = 0
    rejected: int = 0
    cancelled: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


def check_range(start: date, end: date) -> None:
    if end <= start:
        raise BadRequest("`to` must come after `from`")
    if (end - start).days > MAX_DAYS:
        raise BadRequest(f"At most {MAX_DAYS} days at a time")


async def per_day(*, uow: OrdersUoW, start: date, end: date) -> list[DayStats]:
    """One entry per day in [start, end) (UTC) and per currency sold in that range, days
    without orders included at zero, so that a chart has every day. Orders count on the
    day they were placed, by the status they have now."""
    check_range(start, end)
    since = datetime.combine(start, time(), UTC)
    until = datetime.combine(end, time(), UTC)
    async with uow.read() as tx:
        tallies = await tx.orders.tally_by_day(since, until)
    currencies: list[str | None] = [*sorted({t.currency for t in tallies})] or [None]
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    series = {(day, currency): DayStats(day, currency) for day in days for currency in currencies}
    for t in tallies:
        point = series[(t.day, t.currency)]
        point.orders += t.count
        status = OrderStatus(t.status)
        if status in TAKEN:
            point.confirmed += t.count
            point.revenue += t.total
        elif status == OrderStatus.REJECTED:
            point.rejected += t.count
            code = OrderReason(t.reason).value if t.reason else "unknown"
            point.rejected_by_reason[code] = point.rejected_by_reason.get(code, 0) + t.count
        elif status == OrderStatus.CANCELLED:
            point.cancelled += t.count
    return list(series.values())
