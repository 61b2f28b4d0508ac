"""HTTP routes of the orders service: parse, call a use case, shape the response."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, status

from panthera.contracts.orders import OrderReason, OrderStatus
from panthera.kernel.auth.dependencies import AdminPrincipal, CurrentPrincipal
from panthera.kernel.errors import responses
from panthera.kernel.pagination import PageParams
from panthera.kernel.routes import edge
from panthera.kernel.schemas import IsoDate
from panthera.kernel.service import runtime_of
from panthera.services.orders import service, stats
from panthera.services.orders.models import Order
from panthera.services.orders.runtime import OrdersRuntime
from panthera.services.orders.schemas import (
    Address,
    DayStatsRead,
    OrderCreate,
    OrderLineRead,
    OrderList,
    OrderRead,
    OrderStats,
    PaymentRead,
)

Runtime = Annotated[OrdersRuntime, Depends(runtime_of)]
OrderId = Annotated[uuid.UUID, Path(alias="orderId", description="ID of the order")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retries with the same key return the first result and change nothing.",
    ),
]

router = APIRouter(prefix="/orders", tags=["Orders"])

MAX_DECISION_WAIT = 30.0
"""The longest a request may wait for a decision (the edge allows a little more)."""
DEFAULT_DECISION_WAIT = 10.0


def present(order: Order) -> OrderRead:
    state = order.state
    return OrderRead(
        id=order.id,
        user_id=order.user_id,
        status=state.status,
        reason=OrderReason(order.reason) if order.reason else None,
        reason_text=order.reason_text,
        items=[OrderLineRead.model_validate(line) for line in order.lines],
        total=order.total,
        currency=order.currency,
        shipping_address=Address.model_validate(order.shipping_address),
        payment=PaymentRead(
            status=state.payment,
            provider=order.payment_provider,
            reference=order.payment_reference,
            client_secret=order.payment_client_secret,
        ),
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


@router.post(
    "",
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    summary="Place an order",
    responses=responses(400, 401, 409, 503),
)
async def place_order(
    rt: Runtime,
    body: OrderCreate,
    actor: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> OrderRead:
    """Check out: the order starts `pending` and is confirmed or rejected within seconds."""
    order = await service.place(
        uow=rt.uow,
        catalog=rt.catalog,
        user_id=actor.user_id,
        data=body,
        idempotency_key=idempotency_key,
        provider=rt.payments.name,
    )
    return present(order)


@router.get("", response_model=OrderList, summary="List orders", responses=responses(400, 401))
async def list_orders(
    rt: Runtime,
    actor: CurrentPrincipal,
    page: PageParams,
    status_filter: Annotated[OrderStatus | None, Query(alias="status")] = None,
) -> OrderList:
    """Your orders, newest first; an admin sees everyone's."""
    total, found = await service.get_all(
        uow=rt.uow, actor=actor, status=status_filter, offset=page.offset, limit=page.limit
    )
    return OrderList(
        total=total, page=page.page, limit=page.limit, orders=[present(o) for o in found]
    )


@router.get(
    "/stats",
    response_model=OrderStats,
    summary="Order statistics per day",
    responses=responses(400, 401, 403),
)
async def order_stats(
    rt: Runtime,
    _admin: AdminPrincipal,
    start: Annotated[
        IsoDate | None,
        Query(alias="from", description="First day (UTC), included; default 30 days before `to`"),
    ] = None,
    end: Annotated[
        IsoDate | None,
        Query(alias="to", description="Day (UTC) after the last one; default tomorrow"),
    ] = None,
    _interval: Annotated[
        Literal["day"], Query(alias="interval", description="Only `day` for now")
    ] = "day",
) -> OrderStats:
    """Orders, revenue and outcomes per day and currency, for charts (admin)."""
    end = end or datetime.now(UTC).date() + timedelta(days=1)
    start = start or end - timedelta(days=30)
    days = await stats.per_day(uow=rt.uow, start=start, end=end)
    series = [DayStatsRead.model_validate(day, from_attributes=True) for day in days]
    return OrderStats(series=series)


@router.get(
    "/{orderId}",
    response_model=OrderRead,
    summary="Get an order",
    # A client may hold this request while the order waits for its decision.
    openapi_extra=edge(timeout=MAX_DECISION_WAIT + 5),
    responses=responses(400, 401, 404),
)
async def get_order(
    rt: Runtime,
    order_id: OrderId,
    actor: CurrentPrincipal,
    wait_for: Annotated[
        Literal["decision"] | None,
        Query(
            alias="waitFor",
            description="`decision`: while the order is `pending`, hold the answer until it "
            "is decided (confirmed, rejected or cancelled) or `timeout` passes, instead of "
            "polling.",
        ),
    ] = None,
    wait_seconds: Annotated[
        float,
        Query(
            alias="timeout",
            ge=0,
            le=MAX_DECISION_WAIT,
            description="Seconds to wait with `waitFor`.",
        ),
    ] = DEFAULT_DECISION_WAIT,
) -> OrderRead:
    """One order: yours, or any for an admin; with `waitFor=decision`, once it is decided."""
    if wait_for is None:
        return present(await service.get(uow=rt.uow, order_id=order_id, actor=actor))
    order = await service.get_decided(
        uow=rt.uow, decisions=rt.decisions, order_id=order_id, actor=actor, within=wait_seconds
    )
    return present(order)


@router.post(
    "/{orderId}/cancel",
    response_model=OrderRead,
    summary="Cancel an order",
    responses=responses(400, 401, 404, 409),
)
async def cancel_order(rt: Runtime, order_id: OrderId, actor: CurrentPrincipal) -> OrderRead:
    """Cancel before shipping; stock is released and the payment refunded."""
    order = await service.cancel(
        uow=rt.uow, order_id=order_id, actor=actor, payments_due=rt.payments_due
    )
    return present(order)


@router.post(
    "/{orderId}/ship",
    response_model=OrderRead,
    summary="Ship an order",
    responses=responses(400, 401, 403, 404, 409),
)
async def ship_order(rt: Runtime, order_id: OrderId, _admin: AdminPrincipal) -> OrderRead:
    """Mark a confirmed order shipped (admin)."""
    return present(await service.ship(uow=rt.uow, order_id=order_id))


@router.post(
    "/{orderId}/deliver",
    response_model=OrderRead,
    summary="Mark an order delivered",
    responses=responses(400, 401, 403, 404, 409),
)
async def deliver_order(rt: Runtime, order_id: OrderId, _admin: AdminPrincipal) -> OrderRead:
    """Mark a shipped order delivered (admin)."""
    return present(await service.deliver(uow=rt.uow, order_id=order_id))
