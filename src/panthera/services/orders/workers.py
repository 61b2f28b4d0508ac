"""The orders service's background work: the payment worker and the expiry job."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from panthera.kernel.wakeup import woken_or_timed_out
from panthera.services.orders import saga
from panthera.services.orders.runtime import OrdersRuntime

log = structlog.get_logger("panthera.orders.workers")

PAYMENTS_POLL_SECONDS = 1.0
"""Besides being woken, the payment worker looks for work this often (another replica's)."""


async def payments(rt: OrdersRuntime) -> None:
    """Charge and refund whenever a commit made one due, and every second regardless."""

    async def until_done() -> None:
        while await saga.process_payments(
            uow=rt.uow, payments=rt.payments, payments_due=rt.payments_due
        ):
            pass

    await _every(PAYMENTS_POLL_SECONDS, until_done, name="payments", wake=rt.payments_due)


async def expiry(rt: OrdersRuntime) -> None:
    """Reject the orders that have waited too long for their stock."""
    after = timedelta(seconds=rt.settings.pending_timeout_seconds)
    await _every(
        rt.settings.expiry_interval_seconds,
        lambda: saga.expire_pending(uow=rt.uow, after=after),
        name="expiry",
    )


async def _every(
    seconds: float,
    work: Callable[[], Awaitable[object]],
    *,
    name: str,
    wake: asyncio.Event | None = None,
) -> None:
    """Run `work` every `seconds` (or as soon as `wake` is set), surviving its errors."""
    while True:
        try:
            if wake is not None:
                await woken_or_timed_out(wake, seconds)
            else:
                await asyncio.sleep(seconds)
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_job_failed", job=name)
