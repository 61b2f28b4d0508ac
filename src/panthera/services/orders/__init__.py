"""The orders service: checkout, the order saga, payments, the order lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from panthera.kernel.events import Received
from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.orders import workers
from panthera.services.orders.api import router
from panthera.services.orders.catalog import HttpCatalog
from panthera.services.orders.decisions import DECISIVE, on_decided
from panthera.services.orders.handlers import HANDLERS
from panthera.services.orders.metrics import ORDERS
from panthera.services.orders.models import inbox, outbox
from panthera.services.orders.payments import SandboxPaymentProvider
from panthera.services.orders.repository import OrdersTx
from panthera.services.orders.runtime import OrdersRuntime
from panthera.services.orders.settings import OrdersSettings


@asynccontextmanager
async def runtime(host: ServiceHost[OrdersRuntime]) -> AsyncIterator[OrdersRuntime]:
    """The runtime, with the payment worker and the expiry job running beside it."""
    settings = host.service_settings
    assert isinstance(settings, OrdersSettings)
    catalog = HttpCatalog(host.peers.client("catalog", url=settings.catalog_url))
    rt = OrdersRuntime(
        uow=host.uow,
        settings=settings,
        catalog=catalog,
        payments=SandboxPaymentProvider(host.db),
    )
    tasks = [asyncio.create_task(workers.payments(rt)), asyncio.create_task(workers.expiry(rt))]
    try:
        yield rt
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await catalog.aclose()


async def _decided(received: Received[Any], rt: OrdersRuntime) -> None:
    await on_decided(received, rt.decisions)


spec: ServiceSpec[OrdersRuntime] = ServiceSpec(
    name="orders",
    title="Order Service API",
    description="Checkout, the order lifecycle and payments.",
    router=router,
    migrations=Path(__file__).parent / "migrations",
    settings_type=OrdersSettings,
    route_prefixes=("/v1/orders",),
    runtime=runtime,
    transaction=OrdersTx,
    handlers=HANDLERS,
    metrics=ORDERS,
    observers=dict.fromkeys(DECISIVE, _decided),
    outbox=outbox,
    inbox=inbox,
    tags=({"name": "Orders", "description": "Checkout and the order lifecycle"},),
)
