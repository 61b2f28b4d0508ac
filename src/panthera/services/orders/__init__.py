"""The orders service: checkout, the order saga, payments, the order lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog

from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.orders import events, service
from panthera.services.orders.api import router
from panthera.services.orders.models import inbox, outbox
from panthera.services.orders.payments import SandboxPaymentProvider
from panthera.services.orders.settings import OrdersSettings

log = structlog.get_logger("panthera.orders")


def build_runtime(host: ServiceHost[Any]) -> service.OrdersRuntime:
    settings = host.service_settings
    assert isinstance(settings, OrdersSettings)
    assert host.outbox is not None
    return service.OrdersRuntime(
        db=host.db,
        settings=settings,
        outbox=host.outbox,
        catalog=host.peers.client("catalog", url=settings.catalog_url),
        payments=SandboxPaymentProvider(host.db),
        payments_due=asyncio.Event(),
    )


async def _loop(
    name: str,
    every: float,
    work: Callable[[], Awaitable[object]],
    wake: asyncio.Event | None = None,
) -> None:
    """Run `work` every `every` seconds (or as soon as `wake` is set), surviving its errors."""
    while True:
        try:
            if wake is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=every)
                wake.clear()
            else:
                await asyncio.sleep(every)
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_job_failed", job=name)


@asynccontextmanager
async def lifespan(host: ServiceHost[Any]) -> AsyncIterator[None]:
    rt = build_runtime(host)
    host.runtime = rt
    settings = rt.settings

    async def pay_until_done() -> None:
        while await service.process_payments(rt=rt):
            pass

    tasks = [
        asyncio.create_task(_loop("payments", 1.0, pay_until_done, rt.payments_due)),
        asyncio.create_task(
            _loop("expiry", settings.expiry_interval_seconds, lambda: service.expire_pending(rt=rt))
        ),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await rt.catalog.aclose()


spec: ServiceSpec[Any] = ServiceSpec(
    name="orders",
    title="Order Service API",
    description="Checkout, the order lifecycle and payments.",
    router=router,
    migrations=Path(__file__).parent / "migrations",
    settings_type=OrdersSettings,
    route_prefixes=("/v1/orders",),
    lifespan=lifespan,
    handlers={
        events.STOCK_RESERVED: service.on_stock_reserved,
        events.STOCK_REJECTED: service.on_stock_rejected,
    },
    outbox=outbox,
    inbox=inbox,
    tags=({"name": "Orders", "description": "Checkout and the order lifecycle"},),
)
