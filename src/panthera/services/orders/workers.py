"""The orders service's background work: the payment worker, expiry, reconciliation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from panthera.kernel.wakeup import woken_or_timed_out
from panthera.services.orders import reconcile, saga
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
    """Reject the orders that have waited too long for their stock or their customer's card."""
    after = timedelta(seconds=rt.settings.pending_timeout_seconds)
    action = timedelta(seconds=rt.settings.action_timeout_seconds)

    async def both() -> None:
        await saga.expire_pending(uow=rt.uow, after=after)
        await saga.expire_actions(uow=rt.uow, after=action)

    await _every(rt.settings.expiry_interval_seconds, both, name="expiry")


async def reconciliation(rt: OrdersRuntime) -> None:
    """Ask the provider about payments left in between, now and then (reconcile.py)."""
    await _every(
        rt.settings.reconcile_interval_seconds,
        lambda: reconcile.run(
            uow=rt.uow,
            payments=rt.payments,
            payments_due=rt.payments_due,
            stuck_after=timedelta(seconds=rt.settings.reconcile_after_seconds),
            window=timedelta(seconds=rt.settings.reconcile_window_seconds),
        ),
        name="reconciliation",
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
