"""HTTP routes of payment providers calling the orders service: Stripe's webhook."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from panthera.kernel.errors import NotFound, ServiceUnavailable, responses
from panthera.kernel.routes import edge
from panthera.kernel.schemas import ApiModel
from panthera.kernel.service import runtime_of
from panthera.services.orders import webhooks
from panthera.services.orders.runtime import OrdersRuntime

Runtime = Annotated[OrdersRuntime, Depends(runtime_of)]

router = APIRouter(prefix="/payments", tags=["Payments"])


class WebhookReceipt(ApiModel):
    received: bool = True
    duplicate: bool = False


@router.post(
    "/stripe/webhook",
    response_model=WebhookReceipt,
    summary="Receive a Stripe event",
    # Stripe calls from a few addresses of its own: per-client limits would drop its retries.
    openapi_extra={
        **edge(rate_limited=False),
        "requestBody": {
            "required": True,
            "description": "The event exactly as Stripe sent it (the signature covers the "
            "raw bytes)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
    responses=responses(400, 404, 503),
)
async def stripe_webhook(
    rt: Runtime,
    request: Request,
    signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookReceipt:
    """Verify the `Stripe-Signature`, then apply the event once (a replay changes nothing)."""
    settings = rt.settings
    if settings.payment_provider != "stripe":
        # Nothing here takes Stripe payments: for the caller, the endpoint does not exist.
        raise NotFound("This shop does not take payments through Stripe")
    if settings.stripe_webhook_secret is None:
        # Stripe is in use but its events cannot be checked: ours to fix, Stripe retries.
        raise ServiceUnavailable("Stripe webhooks are not configured here")
    event = webhooks.verify(
        await request.body(),
        signature,
        secret=settings.stripe_webhook_secret.get_secret_value(),
        tolerance=settings.stripe_webhook_tolerance_seconds,
    )
    applied = await webhooks.receive(event, rt=rt)
    return WebhookReceipt(duplicate=not applied)
