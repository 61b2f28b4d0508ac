"""The orders service's background work: the payment worker, expiry, reconciliation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from panthera.kernel.database import utcnow
from panthera.services.orders import reconcile, saga
from panthera.services.orders.payments_due import PaymentsDue
from panthera.services.orders.runtime import OrdersRuntime

log = structlog.get_logger("panthera.orders.workers")

PAYMENTS_POLL_SECONDS = 15.0
"""Besides being woken, the payment worker sweeps the table for due work this often: a
crashed replica's, or a charge whose hand-over failed. Charges handed over by this
process's reservations never wait for it."""


async def payments(rt: OrdersRuntime) -> None:
    """Charge what reservations hand over at once; sweep when asked and on the slow poll."""
    sweep = True  # at start: a crash may have left charges and refunds due
    while True:
        try:
            await payments_round(rt, sweep=sweep)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_job_failed", job="payments")
        sweep = not await _woken(rt.payments_due, PAYMENTS_POLL_SECONDS)


async def payments_round(rt: OrdersRuntime, *, sweep: bool) -> None:
    """One round of the payment worker: the handed-over charges (no query), then, if
    `sweep` or someone asked for it, whatever the table says is due."""
    due = rt.payments_due
    charges, asked = due.take() if isinstance(due, PaymentsDue) else ([], True)
    if charges:
        try:
            await saga.charge_handed_over(
                uow=rt.uow, payments=rt.payments, charges=charges, payments_due=due
            )
        except Exception:
            due.set()  # the charges not made stay due: the next round sweeps for them
            raise
    if sweep or asked:
        while await saga.process_payments(uow=rt.uow, payments=rt.payments, payments_due=due):
            pass


async def _woken(wake: asyncio.Event, seconds: float) -> bool:
    """Whether `wake` was set within `seconds` (False: the poll interval passed); clears it."""
    try:
        async with asyncio.timeout(seconds):
            await wake.wait()
    except TimeoutError:
        return False
    finally:
        wake.clear()
    return True


async def expiry(rt: OrdersRuntime) -> None:
    """Reject the orders that have waited too long for their stock or their customer's card.

    Between rounds it sleeps until the oldest waiting order can go stale (at least
    `expiry_interval_seconds`): with nothing waiting, that is a whole timeout, so an
    idle service does not poll every few seconds.
    """
    floor = rt.settings.expiry_interval_seconds
    after = timedelta(seconds=rt.settings.pending_timeout_seconds)
    action = timedelta(seconds=rt.settings.action_timeout_seconds)
    wait = floor
    while True:
        await asyncio.sleep(wait)
        try:
            expired = await saga.expire_pending(uow=rt.uow, after=after)
            expired += await saga.expire_actions(uow=rt.uow, after=action)
            wait = floor
            if not expired:
                wait = _seconds_until(
                    await saga.next_expiry(uow=rt.uow, pending=after, action=action),
                    floor=floor,
                    ceiling=min(after, action).total_seconds(),
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_job_failed", job="expiry")
            wait = floor


def _seconds_until(when: datetime | None, *, floor: float, ceiling: float) -> float:
    """Seconds from now until `when` (a whole `ceiling` for None), kept within bounds."""
    if when is None:
        return max(floor, ceiling)
    return min(max(floor, (when - utcnow()).total_seconds()), max(floor, ceiling))


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


async def _every(seconds: float, work: Callable[[], Awaitable[object]], *, name: str) -> None:
    """Run `work` every `seconds`, surviving its errors."""
    while True:
        try:
            await asyncio.sleep(seconds)
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_job_failed", job=name)
