"""The orders service: checkout, the order saga, payments, the order lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from panthera.kernel.database import Database
from panthera.kernel.events import Received
from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.kernel.wakeup import stop_loop
from panthera.services.orders import workers
from panthera.services.orders.api import router as orders_router
from panthera.services.orders.catalog import HttpCatalog
from panthera.services.orders.decisions import DECISIVE, on_decided
from panthera.services.orders.handlers import HANDLERS
from panthera.services.orders.metrics import ORDERS
from panthera.services.orders.models import inbox, outbox
from panthera.services.orders.payments import PaymentProvider, SandboxPaymentProvider
from panthera.services.orders.payments_api import router as payments_router
from panthera.services.orders.repository import OrdersTx
from panthera.services.orders.runtime import OrdersRuntime
from panthera.services.orders.settings import OrdersSettings
from panthera.services.orders.stripe_provider import StripePaymentProvider

router = APIRouter()
router.include_router(orders_router)
router.include_router(payments_router)


@asynccontextmanager
async def runtime(host: ServiceHost[OrdersRuntime]) -> AsyncIterator[OrdersRuntime]:
    """The runtime, with the payment worker and the expiry job running beside it."""
    settings = host.service_settings
    assert isinstance(settings, OrdersSettings)
    catalog = HttpCatalog(host.peers.client("catalog", url=settings.catalog_url))
    async with payment_provider(settings, host.db) as payments:
        rt = OrdersRuntime(uow=host.uow, settings=settings, catalog=catalog, payments=payments)
        tasks = [
            asyncio.create_task(work(rt))
            for work in (workers.payments, workers.expiry, workers.reconciliation)
        ]
        try:
            yield rt
        finally:
            await asyncio.gather(*(stop_loop(task) for task in tasks), return_exceptions=True)
            await catalog.aclose()


@asynccontextmanager
async def payment_provider(
    settings: OrdersSettings, db: Database
) -> AsyncIterator[PaymentProvider]:
    """The provider the settings name: the sandbox (default) or Stripe."""
    if settings.payment_provider == "sandbox":
        yield SandboxPaymentProvider(db)
        return
    if settings.stripe_api_key is None:
        raise ValueError("PANTHERA_ORDERS__STRIPE_API_KEY is required with the stripe provider")
    stripe = StripePaymentProvider(
        db,
        api_key=settings.stripe_api_key.get_secret_value(),
        api_base=settings.stripe_api_base,
    )
    try:
        yield stripe
    finally:
        await stripe.aclose()


async def _decided(received: Received[Any], rt: OrdersRuntime) -> None:
    await on_decided(received, rt.decisions)


spec: ServiceSpec[OrdersRuntime] = ServiceSpec(
    name="orders",
    title="Order Service API",
    description="Checkout, the order lifecycle and payments.",
    router=router,
    migrations=Path(__file__).parent / "migrations",
    settings_type=OrdersSettings,
    route_prefixes=("/v1/orders", "/v1/payments"),
    runtime=runtime,
    transaction=OrdersTx,
    handlers=HANDLERS,
    metrics=ORDERS,
    observers=dict.fromkeys(DECISIVE, _decided),
    outbox=outbox,
    inbox=inbox,
    tags=(
        {"name": "Orders", "description": "Checkout and the order lifecycle"},
        {"name": "Payments", "description": "Payment providers' webhooks"},
    ),
)
