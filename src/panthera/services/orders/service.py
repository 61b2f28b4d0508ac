"""Use cases of customers and admins: checkout, reading orders, cancel, ship, deliver.

What happens to an order afterwards on its own (stock answers, payments,
expiry) is the saga's, in `saga.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid

from sqlalchemy.exc import IntegrityError

from panthera.contracts.orders import (
    MAX_PRODUCTS_PER_ORDER,
    MAX_UNITS_PER_PRODUCT,
    OrderCancelled,
    OrderDelivered,
    OrderEvent,
    OrderPlaced,
    OrderReason,
    OrderShipped,
    OrderStatus,
    PaymentStatus,
)
from panthera.kernel import tracing
from panthera.kernel.auth.principals import Principal
from panthera.kernel.database import utcnow
from panthera.kernel.errors import BadRequest, Conflict, FieldError, NotFound
from panthera.services.orders import lifecycle, reasons
from panthera.services.orders.catalog import Catalog, Product
from panthera.services.orders.decisions import DecisionWatch
from panthera.services.orders.events import order_event
from panthera.services.orders.models import Order, OrderLine
from panthera.services.orders.repository import OrdersTx, OrdersUoW
from panthera.services.orders.schemas import OrderCreate


def _request_hash(data: OrderCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _merged_items(data: OrderCreate) -> dict[uuid.UUID, int]:
    """One line per product, in the order first seen; repeated products add up."""
    quantities: dict[uuid.UUID, int] = {}
    for item in data.items:
        quantities[item.product_id] = quantities.get(item.product_id, 0) + item.quantity
    too_many = [p for p, quantity in quantities.items() if quantity > MAX_UNITS_PER_PRODUCT]
    if too_many:
        raise BadRequest(
            f"At most {MAX_UNITS_PER_PRODUCT} units of one product per order",
            errors=[
                FieldError(field="body.items", message=f"too many units of {p}", type="too_many")
                for p in too_many
            ],
        )
    if len(quantities) > MAX_PRODUCTS_PER_ORDER:
        raise BadRequest(f"At most {MAX_PRODUCTS_PER_ORDER} different products per order")
    return quantities


async def _price(catalog: Catalog, quantities: dict[uuid.UUID, int]) -> list[Product]:
    """Read each product from the catalog now: prices never come from the client."""
    found = await asyncio.gather(*(catalog.product(product_id) for product_id in quantities))
    unknown = [p for p, product in zip(quantities, found, strict=True) if product is None]
    if unknown:
        raise BadRequest(
            "Unknown products in the order",
            errors=[
                FieldError(
                    field="body.items", message=f"unknown product {p}", type="unknown_product"
                )
                for p in unknown
            ],
        )
    products = [product for product in found if product is not None]
    currencies = {product.currency for product in products}
    if len(currencies) > 1:
        raise BadRequest(f"All items of an order must share one currency, got {sorted(currencies)}")
    return products


async def place(
    *,
    uow: OrdersUoW,
    catalog: Catalog,
    user_id: uuid.UUID,
    data: OrderCreate,
    idempotency_key: str | None,
    provider: str = "sandbox",
) -> Order:
    """Record a pending order and `orders.order.placed`; the saga takes it from there."""
    request_hash = _request_hash(data)
    if idempotency_key is not None:
        earlier = await _replay(uow, user_id, idempotency_key, request_hash)
        if earlier is not None:
            return earlier
    quantities = _merged_items(data)
    products = await _price(catalog, quantities)
    now = utcnow()
    order = Order(
        id=uuid.uuid4(),
        user_id=user_id,
        status=OrderStatus.PENDING.value,
        total=sum(product.price * quantities[product.product_id] for product in products),
        currency=products[0].currency,
        shipping_address=data.shipping_address.model_dump(mode="json", by_alias=True),
        payment_token=data.payment.token,
        payment_provider=provider,
        payment_status=PaymentStatus.PENDING.value,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_at=now,
        updated_at=now,
        trace_context=tracing.current_context(),
        lines=[
            OrderLine(
                position=i,
                product_id=product.product_id,
                sku=product.sku,
                name=product.name,
                quantity=quantities[product.product_id],
                unit_price=product.price,
            )
            for i, product in enumerate(products)
        ],
    )
    try:
        async with uow.write() as tx:
            tx.orders.add(order)
            tx.record(order_event(OrderPlaced, order))
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key won the insert: answer with its order.
        earlier = await _replay(uow, user_id, idempotency_key, request_hash)
        if earlier is None:
            raise
        return earlier
    return order


async def _replay(uow: OrdersUoW, user_id: uuid.UUID, key: str, request_hash: str) -> Order | None:
    async with uow.read() as tx:
        earlier = await tx.orders.by_idempotency_key(user_id, key)
    if earlier is not None and earlier.request_hash != request_hash:
        raise Conflict("This Idempotency-Key was already used with a different request")
    return earlier


async def _visible(tx: OrdersTx, order_id: uuid.UUID, actor: Principal | None) -> Order:
    """The order if `actor` may see it (None: an admin route); 404 otherwise, so ids do not leak."""
    order = await tx.orders.get(order_id)
    if order is None or (actor is not None and not actor.may_access(order.user_id)):
        raise NotFound("Order not found")
    return order


async def get(*, uow: OrdersUoW, order_id: uuid.UUID, actor: Principal) -> Order:
    """One order: the owner's or, for an admin, anyone's."""
    async with uow.read() as tx:
        return await _visible(tx, order_id, actor)


async def get_decided(
    *,
    uow: OrdersUoW,
    decisions: DecisionWatch,
    order_id: uuid.UUID,
    actor: Principal,
    within: float,
) -> Order:
    """The order once it is no longer pending, or as it stands after `within` seconds."""
    async with decisions.watching(order_id) as decided:
        order = await get(uow=uow, order_id=order_id, actor=actor)
        if order.status != OrderStatus.PENDING:
            return order
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await decided.wait()
    return await get(uow=uow, order_id=order_id, actor=actor)


async def get_all(
    *,
    uow: OrdersUoW,
    actor: Principal,
    status: OrderStatus | None,
    offset: int,
    limit: int,
) -> tuple[int, list[Order]]:
    """A page of orders, newest first: a customer's own, or everyone's for an admin."""
    async with uow.read() as tx:
        return await tx.orders.find(
            user_id=None if actor.is_admin else actor.user_id,
            status=status,
            offset=offset,
            limit=limit,
        )


async def _decide(
    uow: OrdersUoW,
    order_id: uuid.UUID,
    step: lifecycle.Step,
    event: type[OrderEvent],
    *,
    actor: Principal | None = None,
    reason: OrderReason | None = None,
    payments_due: asyncio.Event | None = None,
) -> Order:
    """A person's step with its event, or 409 naming the order's current status."""
    async with uow.write() as tx:
        order = await _visible(tx, order_id, actor)
        text = reasons.text(reason) if reason is not None else None
        if not await tx.advance(order, step, reason=reason, reason_text=text):
            current = await _visible(tx, order_id, actor)
            raise Conflict(
                "The order changed meanwhile; read it again",
                extra={"currentStatus": current.status},
            )
        tx.record(order_event(event, order))
        if payments_due is not None and order.payment_status == PaymentStatus.REFUND_PENDING:
            tx.after_commit(payments_due.set)
    return order


async def cancel(
    *, uow: OrdersUoW, order_id: uuid.UUID, actor: Principal, payments_due: asyncio.Event
) -> Order:
    """Cancel before shipping: the stock is released and a captured payment refunded."""
    reason = OrderReason.CANCELLED_BY_ADMIN if actor.is_admin else OrderReason.CANCELLED_BY_CUSTOMER
    return await _decide(
        uow,
        order_id,
        lifecycle.CANCELLED,
        OrderCancelled,
        actor=actor,
        reason=reason,
        payments_due=payments_due,
    )


async def ship(*, uow: OrdersUoW, order_id: uuid.UUID) -> Order:
    """Hand a confirmed order to the carrier (admin)."""
    return await _decide(uow, order_id, lifecycle.SHIPPED, OrderShipped)


async def deliver(*, uow: OrdersUoW, order_id: uuid.UUID) -> Order:
    """Record that a shipped order arrived (admin)."""
    return await _decide(uow, order_id, lifecycle.DELIVERED, OrderDelivered)
