"""Use cases of the orders service: checkout, the saga's steps, the lifecycle."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.auth.principals import Principal
from panthera.kernel.database import Database, utcnow
from panthera.kernel.errors import BadRequest, Conflict, FieldError, NotFound
from panthera.kernel.events import Event
from panthera.kernel.http_client import ServiceClient
from panthera.kernel.outbox import Outbox
from panthera.services.orders import events, lifecycle
from panthera.services.orders.models import Order, OrderLine
from panthera.services.orders.payments import PaymentProvider
from panthera.services.orders.repository import OrderRepository
from panthera.services.orders.schemas import OrderCreate
from panthera.services.orders.settings import OrdersSettings

log = structlog.get_logger("panthera.orders")


@dataclass(frozen=True)
class OrdersRuntime:
    """The collaborators the use cases need, built once when the service starts."""

    db: Database
    settings: OrdersSettings
    outbox: Outbox
    catalog: ServiceClient
    payments: PaymentProvider
    payments_due: asyncio.Event


@dataclass(frozen=True)
class PricedLine:
    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    unit_price: int
    currency: str


def _request_hash(data: OrderCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _merged_items(data: OrderCreate) -> dict[uuid.UUID, int]:
    """One line per product, in the order first seen; repeated products add up."""
    quantities: dict[uuid.UUID, int] = {}
    for item in data.items:
        quantities[item.product_id] = quantities.get(item.product_id, 0) + item.quantity
    return quantities


async def _price(rt: OrdersRuntime, quantities: dict[uuid.UUID, int]) -> list[PricedLine]:
    """Read each product from the catalog now: prices never come from the client."""
    answers = await asyncio.gather(
        *(rt.catalog.get_json(f"/v1/products/{product_id}") for product_id in quantities)
    )
    lines, unknown = [], []
    for (product_id, quantity), (status, body) in zip(quantities.items(), answers, strict=True):
        if status == 404:
            unknown.append(product_id)
            continue
        if status != 200:
            raise BadRequest(f"Product {product_id} cannot be ordered (catalog said {status})")
        lines.append(
            PricedLine(
                product_id,
                body["sku"],
                body["name"],
                quantity,
                int(body["price"]),
                body["currency"],
            )
        )
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
    currencies = {line.currency for line in lines}
    if len(currencies) > 1:
        raise BadRequest(f"All items of an order must share one currency, got {sorted(currencies)}")
    return lines


async def place(
    *, rt: OrdersRuntime, user_id: uuid.UUID, data: OrderCreate, idempotency_key: str | None
) -> Order:
    """Record a pending order and `orders.order.placed`; the saga takes it from there."""
    request_hash = _request_hash(data)
    if idempotency_key is not None:
        earlier = await _replay(rt, user_id, idempotency_key, request_hash)
        if earlier is not None:
            return earlier
    lines = await _price(rt, _merged_items(data))
    order = Order(
        id=uuid.uuid4(),
        user_id=user_id,
        status="pending",
        total=sum(line.unit_price * line.quantity for line in lines),
        currency=lines[0].currency,
        shipping_address=data.shipping_address.model_dump(mode="json", by_alias=True),
        payment_token=data.payment.token,
        payment_status="pending",
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        lines=[
            OrderLine(
                position=i,
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for i, line in enumerate(lines)
        ],
    )
    try:
        async with rt.db.transaction() as session:
            OrderRepository(session).add(order)
            await session.flush()
            await rt.outbox.record(
                session, events.ORDER_PLACED, subject=order.id, data=events.order_data(order)
            )
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key won the insert: answer with its order.
        earlier = await _replay(rt, user_id, idempotency_key, request_hash)
        if earlier is None:
            raise
        return earlier
    return order


async def _replay(
    rt: OrdersRuntime, user_id: uuid.UUID, key: str, request_hash: str
) -> Order | None:
    async with rt.db.read() as session:
        earlier = await OrderRepository(session).by_idempotency_key(user_id, key)
    if earlier is not None and earlier.request_hash != request_hash:
        raise Conflict("This Idempotency-Key was already used with a different request")
    return earlier


async def _load(session: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await OrderRepository(session).get(order_id)
    if order is None:
        raise NotFound("Order not found")
    return order


async def get(*, rt: OrdersRuntime, order_id: uuid.UUID, actor: Principal) -> Order:
    """One order: the owner's or, for an admin, anyone's (404 otherwise, so ids do not leak)."""
    async with rt.db.read() as session:
        order = await OrderRepository(session).get(order_id)
    if order is None or not actor.may_access(order.user_id):
        raise NotFound("Order not found")
    return order


async def get_all(
    *, rt: OrdersRuntime, actor: Principal, status: str | None, offset: int, limit: int
) -> tuple[int, list[Order]]:
    """A page of orders, newest first: a customer's own, or everyone's for an admin."""
    async with rt.db.read() as session:
        return await OrderRepository(session).find(
            user_id=None if actor.is_admin else actor.user_id,
            status=status,
            offset=offset,
            limit=limit,
        )


async def _move(
    rt: OrdersRuntime,
    order_id: uuid.UUID,
    target: str,
    *,
    event_type: str,
    values: Callable[[Order], dict[str, Any]] | None = None,
) -> Order:
    """Apply one transition with its event, or answer 409 with the current status."""
    async with rt.db.transaction() as session:
        order = await _load(session, order_id)
        lifecycle.ensure_can_move(order.status, target)
        changes = values(order) if values else {}
        # Conditional on the status and payment state just read: a racing
        # transition makes this one match nothing instead of overwriting it.
        moved = await OrderRepository(session).transition(
            order_id,
            sources=[order.status],
            target=target,
            where={"payment_status": order.payment_status},
            **changes,
        )
        if not moved:
            raise Conflict(
                "The order changed meanwhile; read it again",
                extra={"currentStatus": (await _load(session, order_id)).status},
            )
        order = await _load(session, order_id)
        await rt.outbox.record(session, event_type, subject=order.id, data=events.order_data(order))
    return order


def _cancellation(actor: Principal) -> Callable[[Order], dict[str, Any]]:
    def values(order: Order) -> dict[str, Any]:
        by = "an administrator" if actor.is_admin else "the customer"
        changes: dict[str, Any] = {"reason": f"cancelled by {by}", "payment_token": None}
        if order.payment_status == "captured":
            changes["payment_status"] = "refund_pending"
        elif order.payment_status in ("pending", "processing"):
            changes["payment_status"] = "voided"
        return changes

    return values


async def cancel(*, rt: OrdersRuntime, order_id: uuid.UUID, actor: Principal) -> Order:
    """Cancel before shipping: the stock is released and a captured payment refunded."""
    await get(rt=rt, order_id=order_id, actor=actor)
    order = await _move(
        rt, order_id, "cancelled", event_type=events.ORDER_CANCELLED, values=_cancellation(actor)
    )
    if order.payment_status == "refund_pending":
        rt.payments_due.set()
    return order


async def ship(*, rt: OrdersRuntime, order_id: uuid.UUID) -> Order:
    """Hand a confirmed order to the carrier (admin)."""
    return await _move(rt, order_id, "shipped", event_type=events.ORDER_SHIPPED)


async def deliver(*, rt: OrdersRuntime, order_id: uuid.UUID) -> Order:
    """Record that a shipped order arrived (admin)."""
    return await _move(rt, order_id, "delivered", event_type=events.ORDER_DELIVERED)


# --- the saga's steps, driven by catalog events and background work ----------------


async def stock_reserved(*, rt: OrdersRuntime, session: AsyncSession, order_id: uuid.UUID) -> None:
    """The catalog holds the stock: the payment is now due (charged outside this transaction)."""
    if await OrderRepository(session).mark_payment(order_id, payment_status="processing"):
        rt.payments_due.set()


async def stock_rejected(
    *, rt: OrdersRuntime, session: AsyncSession, order_id: uuid.UUID, reason: str
) -> None:
    """The catalog could not reserve every line: the order is rejected, nothing was charged."""
    repo = OrderRepository(session)
    if await repo.transition(
        order_id,
        sources=["pending"],
        target="rejected",
        reason=reason,
        payment_status="voided",
        payment_token=None,
    ):
        order = await _load(session, order_id)
        await rt.outbox.record(
            session,
            events.ORDER_REJECTED,
            subject=order_id,
            data=events.order_data(order, stock_reserved=False),
        )


async def process_payments(*, rt: OrdersRuntime, batch: int = 20) -> int:
    """Charge the orders whose stock is reserved, and refund the cancelled ones.

    The provider call happens outside any transaction and is keyed by the order
    id, so a crash or a second worker repeats it harmlessly.
    """
    async with rt.db.read() as session:
        due = await OrderRepository(session).due_for_payment(batch)
        refunds = await OrderRepository(session).due_for_refund(batch)
    for order in due:
        await _charge(rt, order)
    for order in refunds:
        await _refund(rt, order)
    return len(due) + len(refunds)


async def _charge(rt: OrdersRuntime, order: Order) -> None:
    result = await rt.payments.charge(
        idempotency_key=str(order.id),
        amount=order.total,
        currency=order.currency,
        token=order.payment_token or "",
    )
    async with rt.db.transaction() as session:
        repo = OrderRepository(session)
        if result.status == "captured":
            moved = await repo.transition(
                order.id,
                sources=["pending"],
                target="confirmed",
                where={"payment_status": "processing"},
                payment_status="captured",
                payment_reference=result.reference,
                payment_token=None,
            )
            event_type = events.ORDER_CONFIRMED
        else:
            moved = await repo.transition(
                order.id,
                sources=["pending"],
                target="rejected",
                where={"payment_status": "processing"},
                payment_status="declined",
                payment_reference=result.reference,
                payment_token=None,
                reason=f"payment declined ({result.decline_reason})",
            )
            event_type = events.ORDER_REJECTED
        if moved:
            fresh = await _load(session, order.id)
            await rt.outbox.record(
                session, event_type, subject=order.id, data=events.order_data(fresh)
            )
    if result.status == "captured" and not moved:
        # The order was cancelled or expired while we charged: give the money back.
        await rt.payments.refund(reference=result.reference)
        log.info("charge_refunded_after_race", order_id=str(order.id))


async def _refund(rt: OrdersRuntime, order: Order) -> None:
    if order.payment_reference is not None:
        await rt.payments.refund(reference=order.payment_reference)
    async with rt.db.transaction() as session:
        await OrderRepository(session).set_refunded(order.id)


async def expire_pending(*, rt: OrdersRuntime) -> int:
    """Reject orders that got no answer about their stock in time (the saga's timeout)."""
    cutoff = utcnow() - timedelta(seconds=rt.settings.pending_timeout_seconds)
    expired = 0
    async with rt.db.transaction() as session:
        repo = OrderRepository(session)
        for order_id in await repo.expired(cutoff, limit=100):
            if await repo.transition(
                order_id,
                sources=["pending"],
                target="rejected",
                where={"payment_status": "pending"},
                reason="timed out waiting for stock",
                payment_status="voided",
                payment_token=None,
            ):
                order = await _load(session, order_id)
                await rt.outbox.record(
                    session, events.ORDER_REJECTED, subject=order_id, data=events.order_data(order)
                )
                expired += 1
    return expired


# --- event handlers: `handler(event, session, runtime)` inside the inbox transaction --


async def on_stock_reserved(event: Event, session: AsyncSession, rt: OrdersRuntime) -> None:
    await stock_reserved(rt=rt, session=session, order_id=uuid.UUID(event.data["orderId"]))


async def on_stock_rejected(event: Event, session: AsyncSession, rt: OrdersRuntime) -> None:
    await stock_rejected(
        rt=rt,
        session=session,
        order_id=uuid.UUID(event.data["orderId"]),
        reason=str(event.data.get("reason") or "out of stock"),
    )
