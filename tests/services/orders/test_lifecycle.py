"""The order's two state machines, and the steps that move an order along them."""

from __future__ import annotations

import pytest

from panthera.contracts.orders import OrderStatus, PaymentStatus
from panthera.kernel.errors import Conflict
from panthera.services.orders import lifecycle
from panthera.services.orders.lifecycle import State, Step

ALLOWED = {
    ("pending", "confirmed"),
    ("pending", "rejected"),
    ("pending", "cancelled"),
    ("confirmed", "shipped"),
    ("confirmed", "cancelled"),
    ("shipped", "delivered"),
}
PAYMENTS = {
    ("pending", "processing"),
    ("pending", "voided"),
    ("processing", "captured"),
    ("processing", "declined"),
    ("processing", "voided"),
    ("processing", "requires_action"),
    ("requires_action", "captured"),
    ("requires_action", "declined"),
    ("requires_action", "voided"),
    ("captured", "refund_pending"),
    ("voided", "refund_pending"),
    ("refund_pending", "refunded"),
}


@pytest.mark.parametrize("current", lifecycle.STATUSES)
@pytest.mark.parametrize("target", lifecycle.STATUSES)
def test_only_the_documented_transitions_are_allowed(current: str, target: str) -> None:
    assert lifecycle.can_move(current, target) == ((current, target) in ALLOWED)


@pytest.mark.parametrize("current", lifecycle.PAYMENT_STATUSES)
@pytest.mark.parametrize("target", lifecycle.PAYMENT_STATUSES)
def test_only_the_documented_payment_transitions_are_allowed(current: str, target: str) -> None:
    assert lifecycle.can_pay(current, target) == ((current, target) in PAYMENTS)


def test_final_states_have_no_way_out() -> None:
    assert {"rejected", "cancelled", "delivered"} == lifecycle.FINAL
    for final in lifecycle.FINAL:
        assert not any(lifecycle.can_move(final, target) for target in lifecycle.STATUSES)


def test_sources_of_a_status() -> None:
    assert lifecycle.sources_of("cancelled") == {"pending", "confirmed"}
    assert lifecycle.sources_of("delivered") == {"shipped"}


def _state(status: str, payment: str) -> State:
    return State(OrderStatus(status), PaymentStatus(payment))


def test_a_step_outside_its_sources_is_a_conflict_naming_the_current_state() -> None:
    with pytest.raises(Conflict) as raised:
        lifecycle.CANCELLED.after(_state("shipped", "captured"))
    assert raised.value.extra == {"currentStatus": "shipped"}
    assert "shipped cannot be cancelled" in raised.value.detail


def test_cancelling_voids_an_uncharged_payment_and_refunds_a_captured_one() -> None:
    assert lifecycle.CANCELLED.after(_state("pending", "pending")) == _state("cancelled", "voided")
    assert lifecycle.CANCELLED.after(_state("pending", "processing")) == _state(
        "cancelled", "voided"
    )
    assert lifecycle.CANCELLED.after(_state("confirmed", "captured")) == _state(
        "cancelled", "refund_pending"
    )


def test_work_queues_come_from_the_steps() -> None:
    # What the payment worker and the expiry job look for is derived, not restated.
    assert {_state("pending", "processing")} == lifecycle.CHARGE_DUE
    assert {
        _state("pending", "processing"),
        _state("pending", "requires_action"),
    } == lifecycle.AWAITING_PROVIDER
    assert lifecycle.CHARGE_DECLINED.sources == lifecycle.CHARGE_CAPTURED.sources
    assert lifecycle.REFUNDED.sources == {
        _state("cancelled", "refund_pending"),
        _state("rejected", "refund_pending"),
    }
    assert lifecycle.ACTION_EXPIRED.sources == {_state("pending", "requires_action")}
    assert lifecycle.EXPIRED.sources == {_state("pending", "pending")}


@pytest.mark.parametrize("step", lifecycle.STEPS, ids=repr)
def test_every_step_follows_both_machines(step: Step) -> None:
    for before in step.sources:
        after = step.after(before)
        assert after.status == before.status or lifecycle.can_move(before.status, after.status)
        assert after.payment == before.payment or lifecycle.can_pay(before.payment, after.payment)


def test_a_step_that_breaks_a_machine_cannot_be_declared() -> None:
    with pytest.raises(ValueError, match="breaks a state machine"):
        Step("teleported", {("delivered", "captured"): ("pending", "captured")})


def test_the_token_is_kept_only_while_a_charge_may_be_made() -> None:
    assert {"pending", "processing"} == lifecycle.HOLDS_TOKEN
