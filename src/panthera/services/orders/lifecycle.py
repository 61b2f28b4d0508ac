"""The two state machines of an order, and the steps that move an order along both.

Order status:   pending -> confirmed | rejected | cancelled
                confirmed -> shipped | cancelled;  shipped -> delivered
Payment status: pending -> processing | voided
                processing -> requires_action | captured | declined | voided
                requires_action -> captured | declined | voided (the customer's 3-D Secure)
                captured -> refund_pending;  refund_pending -> refunded
                voided -> refund_pending (a charge that landed after the order was given up)

A use case never names statuses itself: it applies a `Step`, whose table says
from which (order, payment) states it may start and where each one leads.
Queries for work to do (payments due, refunds due, orders to expire) ask a
step for its sources, so the rules live here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from panthera.contracts.orders import OrderStatus, PaymentStatus
from panthera.kernel.errors import Conflict

_ORDER_NEXT: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED}
    ),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
}
_PAYMENT_NEXT: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.PROCESSING, PaymentStatus.VOIDED}),
    PaymentStatus.PROCESSING: frozenset(
        {
            PaymentStatus.REQUIRES_ACTION,
            PaymentStatus.CAPTURED,
            PaymentStatus.DECLINED,
            PaymentStatus.VOIDED,
        }
    ),
    PaymentStatus.REQUIRES_ACTION: frozenset(
        {PaymentStatus.CAPTURED, PaymentStatus.DECLINED, PaymentStatus.VOIDED}
    ),
    PaymentStatus.CAPTURED: frozenset({PaymentStatus.REFUND_PENDING}),
    PaymentStatus.VOIDED: frozenset({PaymentStatus.REFUND_PENDING}),
    PaymentStatus.REFUND_PENDING: frozenset({PaymentStatus.REFUNDED}),
}

STATUSES: tuple[OrderStatus, ...] = tuple(OrderStatus)
PAYMENT_STATUSES: tuple[PaymentStatus, ...] = tuple(PaymentStatus)
FINAL: frozenset[OrderStatus] = frozenset(set(OrderStatus) - set(_ORDER_NEXT))
HOLDS_TOKEN: frozenset[PaymentStatus] = frozenset({PaymentStatus.PENDING, PaymentStatus.PROCESSING})
"""The customer's payment token is kept only while a charge may still be made."""


def can_move(current: OrderStatus | str, target: OrderStatus | str) -> bool:
    """Whether the order status `target` may directly follow `current`."""
    return target in _ORDER_NEXT.get(OrderStatus(current), frozenset())


def can_pay(current: PaymentStatus | str, target: PaymentStatus | str) -> bool:
    """Whether the payment status `target` may directly follow `current`."""
    return target in _PAYMENT_NEXT.get(PaymentStatus(current), frozenset())


def sources_of(target: OrderStatus | str) -> frozenset[OrderStatus]:
    """Every order status from which `target` may be reached."""
    return frozenset(status for status, nexts in _ORDER_NEXT.items() if target in nexts)


@dataclass(frozen=True)
class State:
    """Where an order stands on both machines at once."""

    status: OrderStatus
    payment: PaymentStatus

    @classmethod
    def of(cls, status: str, payment: str) -> State:
        return cls(OrderStatus(status), PaymentStatus(payment))


class Step:
    """One thing that happens to an order, and where it leads from each state it allows."""

    def __init__(self, name: str, moves: Mapping[tuple[str, str], tuple[str, str]]) -> None:
        self.name = name
        self._moves = {State.of(*before): State.of(*after) for before, after in moves.items()}
        for before, after in self._moves.items():
            if not _follows(before, after):
                raise ValueError(f"step {name}: {before} -> {after} breaks a state machine")

    @property
    def sources(self) -> frozenset[State]:
        """The states this step may start from."""
        return frozenset(self._moves)

    def allows(self, state: State) -> bool:
        return state in self._moves

    def after(self, state: State) -> State:
        """Where the step leads from `state`; 409 if it cannot happen there."""
        if state not in self._moves:
            raise Conflict(
                f"An order that is {state.status} cannot be {self.name}",
                extra={"currentStatus": state.status.value},
            )
        return self._moves[state]

    def __repr__(self) -> str:
        return f"Step({self.name!r})"


def _follows(before: State, after: State) -> bool:
    status_ok = after.status == before.status or can_move(before.status, after.status)
    payment_ok = after.payment == before.payment or can_pay(before.payment, after.payment)
    return status_ok and payment_ok and after != before


# -- the saga ----------------------------------------------------------------------
STOCK_RESERVED = Step("reserved", {("pending", "pending"): ("pending", "processing")})
"""The catalog holds the stock: the payment is due."""
STOCK_REJECTED = Step("rejected", {("pending", "pending"): ("rejected", "voided")})
"""The catalog holds none of it: nothing will be charged."""
EXPIRED = Step("expired", {("pending", "pending"): ("rejected", "voided")})
"""No answer about the stock in time. Once the payment is due the charge decides."""
CHARGE_NEEDS_ACTION = Step(
    "waiting for the customer", {("pending", "processing"): ("pending", "requires_action")}
)
"""The card asks for 3-D Secure: the customer acts with the client secret, the provider tells."""
CHARGE_CAPTURED = Step(
    "confirmed",
    {
        ("pending", "processing"): ("confirmed", "captured"),
        ("pending", "requires_action"): ("confirmed", "captured"),
    },
)
CHARGE_DECLINED = Step(
    "rejected",
    {
        ("pending", "processing"): ("rejected", "declined"),
        ("pending", "requires_action"): ("rejected", "declined"),
    },
)
ACTION_EXPIRED = Step("expired", {("pending", "requires_action"): ("rejected", "voided")})
"""The customer never completed 3-D Secure within its own, longer timeout."""
CHARGED_AFTER_CANCEL = Step(
    "refunded",
    {
        ("cancelled", "voided"): ("cancelled", "refund_pending"),
        ("rejected", "voided"): ("rejected", "refund_pending"),
    },
)
"""A charge that went through after the order was cancelled or expired: it is given back."""
REFUNDED = Step(
    "refunded",
    {
        ("cancelled", "refund_pending"): ("cancelled", "refunded"),
        ("rejected", "refund_pending"): ("rejected", "refunded"),
    },
)

# -- people ------------------------------------------------------------------------
CANCELLED = Step(
    "cancelled",
    {
        ("pending", "pending"): ("cancelled", "voided"),
        ("pending", "processing"): ("cancelled", "voided"),
        ("pending", "requires_action"): ("cancelled", "voided"),
        ("confirmed", "captured"): ("cancelled", "refund_pending"),
    },
)
"""Before shipping only; a captured payment is refunded by the payment worker."""
SHIPPED = Step("shipped", {("confirmed", "captured"): ("shipped", "captured")})
DELIVERED = Step("delivered", {("shipped", "captured"): ("delivered", "captured")})

STEPS: tuple[Step, ...] = (
    STOCK_RESERVED,
    STOCK_REJECTED,
    EXPIRED,
    CHARGE_NEEDS_ACTION,
    CHARGE_CAPTURED,
    CHARGE_DECLINED,
    ACTION_EXPIRED,
    CHARGED_AFTER_CANCEL,
    REFUNDED,
    CANCELLED,
    SHIPPED,
    DELIVERED,
)

CHARGE_DUE: frozenset[State] = CHARGE_NEEDS_ACTION.sources
"""Orders the payment worker charges: stock held, no answer from the provider yet."""
AWAITING_PROVIDER: frozenset[State] = CHARGE_CAPTURED.sources
"""Orders whose payment only the provider can decide now (reconciliation asks it about them)."""
