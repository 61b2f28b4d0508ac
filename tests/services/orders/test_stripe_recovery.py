"""What the Stripe provider does when things go wrong: crashes, lost webhooks, 3-D Secure.

The payment worker is idle here, so each test decides when a charge is made and
who records it. Every test has a localstripe of its own, so reconciliation (which
refunds every charge no order keeps) sees only the test's own charges.

localstripe asks for 3-D Secure (card 4000 0027 6000 3184) and lets a test play
the customer's part, but sends no webhook when the customer authenticates and
knows no `charge.refunded` or dispute events: those are delivered here as
Stripe documents them, signed as Stripe signs them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from panthera.app import Platform
from panthera.kernel.service import ServiceSettings
from panthera.services.orders import reconcile, saga, workers
from panthera.services.orders.models import PaymentEvent
from panthera.services.orders.runtime import OrdersRuntime
from panthera.services.orders.stripe_provider import ORDER_KEY, StripePaymentProvider
from tests.conftest import Account, eventually
from tests.services.orders.localstripe import (
    DECLINED_CARD,
    THREE_D_SECURE_CARD,
    authenticate,
    card,
    event,
    events_of,
    fresh_localstripe,
    get,
    intents_for,
    signed,
    with_stripe,
)
from tests.services.orders.test_api import make_product, order_body, place, stock

__all__ = ["fresh_localstripe"]  # a fixture, used by name

WEBHOOK = "/v1/payments/stripe/webhook"
LONG_AGO = timedelta(0)
HOUR = timedelta(hours=1)


async def _idle(rt: OrdersRuntime) -> None:
    await asyncio.Event().wait()


@pytest.fixture
def service_settings(
    fresh_localstripe: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, ServiceSettings]:
    monkeypatch.setattr(workers, "payments", _idle)
    return with_stripe(fresh_localstripe, reconcile_interval_seconds=3600)


def runtime_of(platform: Platform) -> OrdersRuntime:
    rt: OrdersRuntime = platform.hosts["orders"].runtime
    return rt


def stripe_of(platform: Platform) -> StripePaymentProvider:
    payments = runtime_of(platform).payments
    assert isinstance(payments, StripePaymentProvider)
    return payments


async def _order(client: httpx.AsyncClient, who: Account, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/v1/orders/{order_id}", headers=who.headers)).json()
    return body


async def _due(client: httpx.AsyncClient, who: Account, product: str, token: str) -> str:
    """An order whose stock is held and whose charge is due (nobody makes it here)."""
    order_id: str = (await place(client, who, order_body(product, token=token))).json()["id"]

    async def charge_due() -> bool:
        return bool((await _order(client, who, order_id))["payment"]["status"] == "processing")

    assert await eventually(charge_due, timeout=30)
    return order_id


async def _reconcile(platform: Platform) -> int:
    rt = runtime_of(platform)
    return await reconcile.run(
        uow=rt.uow,
        payments=rt.payments,
        payments_due=rt.payments_due,
        stuck_after=LONG_AGO,
        window=HOUR,
    )


async def _work(platform: Platform) -> int:
    """One round of the payment worker."""
    rt = runtime_of(platform)
    return await saga.process_payments(
        uow=rt.uow, payments=rt.payments, payments_due=rt.payments_due
    )


async def test_a_charge_nobody_recorded_is_finished_by_reconciliation(
    client: httpx.AsyncClient,
    platform: Platform,
    fresh_localstripe: str,
    admin: Account,
    alice: Account,
) -> None:
    product = await make_product(client, admin, stock=5)
    order_id = await _due(client, alice, product, "pm_card_visa")
    # A worker charges, then its process is killed before it records the outcome.
    taken = await stripe_of(platform).charge(
        idempotency_key=order_id, amount=1999, currency="EUR", token="pm_card_visa"
    )
    assert taken.status == "captured"
    assert (await _order(client, alice, order_id))["payment"]["status"] == "processing"

    assert await _reconcile(platform) == 1
    order = await _order(client, alice, order_id)
    assert order["status"] == "confirmed" and order["payment"]["reference"] == taken.reference
    assert [i["status"] for i in await intents_for(fresh_localstripe, order_id)] == ["succeeded"]
    assert await _reconcile(platform) == 0  # nothing left in between: a second round does nothing
    assert await _work(platform) == 0


async def test_a_charge_without_an_order_is_refunded_and_logged(
    platform: Platform, fresh_localstripe: str
) -> None:
    payments = stripe_of(platform)
    stray = str(uuid.uuid4())
    taken = await payments.charge(
        idempotency_key=stray, amount=700, currency="EUR", token="pm_card_visa"
    )
    labels = {"outcome": "refunded"}
    before = REGISTRY.get_sample_value("panthera_payment_reconciliation_total", labels) or 0
    with capture_logs() as logs:
        assert await _reconcile(platform) == 1
    assert REGISTRY.get_sample_value("panthera_payment_reconciliation_total", labels) == before + 1
    assert {"event": "charge_without_order_refunded", "reference": taken.reference} | {
        "order_id": stray,
        "log_level": "error",
    } in logs
    intent = await get(fresh_localstripe, f"/v1/payment_intents/{taken.reference}")
    charge = await get(fresh_localstripe, f"/v1/charges/{intent['latest_charge']['id']}")
    assert charge["amount_refunded"] == charge["amount"] == 700
    await _reconcile(platform)  # seen again: refunded already, nothing more is given back
    charge = await get(fresh_localstripe, f"/v1/charges/{charge['id']}")
    assert charge["refunds"]["total_count"] == 1


async def _awaiting_customer(
    client: httpx.AsyncClient, platform: Platform, base: str, who: Account, product: str
) -> dict[str, Any]:
    order_id = await _due(client, who, product, await card(base, THREE_D_SECURE_CARD))
    assert await _work(platform) == 1
    order = await _order(client, who, order_id)
    assert order["status"] == "pending", order
    payment = order["payment"]
    assert payment["status"] == "requires_action" and payment["provider"] == "stripe"
    intent = await get(base, f"/v1/payment_intents/{payment['reference']}")
    assert payment["clientSecret"] == intent["client_secret"]
    assert await _work(platform) == 0  # the worker leaves it to the customer
    return order


async def test_three_d_secure_waits_for_the_customer_then_the_webhook_confirms(
    client: httpx.AsyncClient,
    platform: Platform,
    fresh_localstripe: str,
    admin: Account,
    alice: Account,
) -> None:
    product = await make_product(client, admin, stock=5)
    order = await _awaiting_customer(client, platform, fresh_localstripe, alice, product)
    payment = order["payment"]
    await authenticate(
        fresh_localstripe, payment["reference"], payment["clientSecret"], success=True
    )
    [succeeded] = await events_of(
        fresh_localstripe, payment["reference"], "payment_intent.succeeded"
    )
    body, headers = signed(succeeded)
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    confirmed = await _order(client, alice, order["id"])
    assert confirmed["status"] == "confirmed"
    assert confirmed["payment"] == {
        "status": "captured",
        "provider": "stripe",
        "reference": payment["reference"],
    }


async def test_a_lost_webhook_after_three_d_secure_is_found_by_reconciliation(
    client: httpx.AsyncClient,
    platform: Platform,
    fresh_localstripe: str,
    admin: Account,
    alice: Account,
    bob: Account,
) -> None:
    product = await make_product(client, admin, stock=5)
    passed = await _awaiting_customer(client, platform, fresh_localstripe, alice, product)
    failed = await _awaiting_customer(client, platform, fresh_localstripe, bob, product)
    for order, success in ((passed, True), (failed, False)):
        payment = order["payment"]
        await authenticate(
            fresh_localstripe, payment["reference"], payment["clientSecret"], success=success
        )
    assert await _reconcile(platform) == 2
    assert (await _order(client, alice, passed["id"]))["status"] == "confirmed"
    rejected = await _order(client, bob, failed["id"])
    assert rejected["status"] == "rejected" and rejected["reason"] == "payment_declined"
    assert "clientSecret" not in rejected["payment"]
    assert await eventually(lambda: _stock_is(client, product, (4, 0)))


async def _stock_is(client: httpx.AsyncClient, product: str, expected: tuple[int, int]) -> bool:
    return await stock(client, product) == expected


async def test_three_d_secure_never_done_expires_and_a_late_success_is_refunded(
    client: httpx.AsyncClient,
    platform: Platform,
    fresh_localstripe: str,
    admin: Account,
    alice: Account,
) -> None:
    product = await make_product(client, admin, stock=5)
    order = await _awaiting_customer(client, platform, fresh_localstripe, alice, product)
    rt = runtime_of(platform)
    # Its own timeout: the stock's (pending_timeout_seconds) does not apply to it.
    assert await saga.expire_pending(uow=rt.uow, after=LONG_AGO) == 0
    assert await saga.expire_actions(uow=rt.uow, after=LONG_AGO) == 1
    expired = await _order(client, alice, order["id"])
    assert expired["status"] == "rejected" and expired["reason"] == "expired"
    assert expired["payment"]["status"] == "voided" and "clientSecret" not in expired["payment"]
    assert await eventually(lambda: _stock_is(client, product, (5, 0)))

    # The customer finishes 3-D Secure on a page left open: the money goes back.
    payment = order["payment"]
    await authenticate(
        fresh_localstripe, payment["reference"], payment["clientSecret"], success=True
    )
    [succeeded] = await events_of(
        fresh_localstripe, payment["reference"], "payment_intent.succeeded"
    )
    body, headers = signed(succeeded)
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    assert (await _order(client, alice, order["id"]))["payment"]["status"] == "refund_pending"
    assert await _work(platform) == 1
    refunded = await _order(client, alice, order["id"])
    assert refunded["status"] == "rejected" and refunded["payment"]["status"] == "refunded"
    intent = await get(fresh_localstripe, f"/v1/payment_intents/{payment['reference']}")
    assert intent["latest_charge"]["amount_refunded"] == 1999


async def test_a_payment_failed_webhook_rejects_the_order(
    client: httpx.AsyncClient,
    platform: Platform,
    fresh_localstripe: str,
    admin: Account,
    alice: Account,
) -> None:
    product = await make_product(client, admin, stock=5)
    declined = await card(fresh_localstripe, DECLINED_CARD)
    order_id = await _due(client, alice, product, declined)
    # Another replica's charge is declined and its process dies: Stripe's webhook tells.
    result = await stripe_of(platform).charge(
        idempotency_key=order_id, amount=1999, currency="EUR", token=declined
    )
    assert result.status == "declined"
    [failed] = await events_of(
        fresh_localstripe, str(result.reference), "payment_intent.payment_failed"
    )
    body, headers = signed(failed)
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    order = await _order(client, alice, order_id)
    assert order["status"] == "rejected" and order["reason"] == "payment_declined"
    assert order["payment"]["reference"] == result.reference
    assert await eventually(lambda: _stock_is(client, product, (5, 0)))


async def test_charge_refunded_completes_a_refund_and_disputes_are_recorded(
    client: httpx.AsyncClient,
    platform: Platform,
    fresh_localstripe: str,
    admin: Account,
    alice: Account,
) -> None:
    product = await make_product(client, admin, stock=5)
    order_id = await _due(client, alice, product, "pm_card_visa")
    assert await _work(platform) == 1
    reference = (await _order(client, alice, order_id))["payment"]["reference"]
    intent = await get(fresh_localstripe, f"/v1/payment_intents/{reference}")
    charge = intent["latest_charge"]

    dispute = event(
        "charge.dispute.created",
        {
            "id": "dp_test",
            "object": "dispute",
            "charge": charge["id"],
            "payment_intent": reference,
            "amount": 1999,
            "currency": "eur",
            "reason": "fraudulent",
            "status": "needs_response",
        },
    )
    body, headers = signed(dispute)
    with capture_logs() as logs:
        answer = await client.post(WEBHOOK, content=body, headers=headers)
    assert answer.json() == {"received": True, "duplicate": False}
    assert any(line["event"] == "payment_disputed" for line in logs)
    async with runtime_of(platform).uow.read() as tx:
        recorded = await tx.session.get(PaymentEvent, dispute["id"])
    assert recorded is not None and recorded.reference == reference
    assert recorded.detail is not None and recorded.detail["reason"] == "fraudulent"
    assert (await _order(client, alice, order_id))["status"] == "confirmed"

    # Cancelled: the refund is due; Stripe's charge.refunded completes it.
    cancelled = await client.post(f"/v1/orders/{order_id}/cancel", headers=alice.headers)
    assert cancelled.json()["payment"]["status"] == "refund_pending"
    await stripe_of(platform).refund(reference=reference)
    refunded = event(
        "charge.refunded",
        charge | {"amount_refunded": charge["amount"], "refunded": True, "refunds": None},
    )
    body, headers = signed(refunded)
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    assert (await _order(client, alice, order_id))["payment"]["status"] == "refunded"
    assert await _work(platform) == 0  # nothing is given back twice


async def test_a_foreign_payment_and_an_unknown_event_change_nothing(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    foreign = event(
        "payment_intent.succeeded",
        {"id": "pi_not_ours", "object": "payment_intent", "status": "succeeded", "metadata": {}},
    )
    unknown = event("customer.created", {"id": "cus_1", "object": "customer"})
    for sent in (foreign, unknown):
        body, headers = signed(sent)
        answer = await client.post(WEBHOOK, content=body, headers=headers)
        assert answer.json() == {"received": True, "duplicate": False}
    assert ORDER_KEY not in foreign["data"]["object"]["metadata"]
