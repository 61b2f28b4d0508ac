"""The saga's payment promises with the Stripe provider, against localstripe.

Charge at most once, refund on every compensation, no order stuck: checkout
through the embedded gateway with `PANTHERA_ORDERS__PAYMENT_PROVIDER=stripe`,
Stripe's API served by localstripe on a free port. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from panthera.app import SERVICES, Platform, create_platform
from panthera.gateway.table import platform_table
from panthera.kernel.service import ServiceSettings
from panthera.kernel.settings import Settings
from panthera.services.orders.stripe_provider import ORDER_KEY, StripePaymentProvider
from tests.conftest import (
    GENEROUS_GATEWAY,
    Account,
    assert_problem,
    eventually,
    fast_service_settings,
    sign_up,
)
from tests.services.orders.localstripe import (
    API_KEY,
    DECLINED_CARD,
    WEBHOOK_SECRET,
    all_intents,
    card,
    events_of,
    get,
    intents_for,
    localstripe,
    signed,
    stripe_settings,
    with_stripe,
)
from tests.services.orders.test_api import make_product, order_body, place, settled, stock

__all__ = ["localstripe"]  # the session fixture, used by name

WEBHOOK = "/v1/payments/stripe/webhook"


@pytest.fixture
def service_settings(localstripe: str) -> dict[str, ServiceSettings]:
    return with_stripe(localstripe)


def stripe_of(platform: Platform) -> StripePaymentProvider:
    payments = platform.hosts["orders"].runtime.payments
    assert isinstance(payments, StripePaymentProvider)
    return payments


async def _order(client: httpx.AsyncClient, who: Account, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/v1/orders/{order_id}", headers=who.headers)).json()
    return body


def test_the_stripe_secrets_are_never_shown() -> None:
    settings = stripe_settings("http://127.0.0.1:9")
    for shown in (repr(settings), str(settings), str(settings.model_dump())):
        assert API_KEY not in shown and WEBHOOK_SECRET not in shown


def test_the_webhook_is_in_the_route_table_anonymous_and_not_rate_limited() -> None:
    route = platform_table(list(SERVICES.values())).match("POST", WEBHOOK)
    assert route is not None and route.owner == "orders" and not route.rule.prefix
    assert route.rule.policy == "anonymous" and route.rule.rate_limited is False


async def test_the_webhook_is_documented_and_refused_where_stripe_is_not_configured(
    settings: Settings,
) -> None:
    sandbox = create_platform(
        settings, service_settings=fast_service_settings(), gateway_settings=GENEROUS_GATEWAY
    )
    async with sandbox.running():
        transport = httpx.ASGITransport(app=sandbox.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            body, headers = signed(b"{}")
            # The sandbox shop has no Stripe endpoint: 404, a client's answer, not a 5xx.
            assert_problem(await http.post(WEBHOOK, content=body, headers=headers), 404)
            operation = (await http.get("/openapi.json")).json()["paths"][WEBHOOK]["post"]
    # Anonymous and never rate limited per client (no 401/403/429); bounded like every body.
    assert set(operation["responses"]) == {"200", "400", "404", "413", "503"}
    assert operation["x-panthera-edge"] == {"rateLimited": False}


async def test_a_card_is_charged_once_and_the_order_names_stripe(
    client: httpx.AsyncClient, localstripe: str, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=5)
    created = await place(client, alice, order_body(product, quantity=2, token="pm_card_visa"))
    assert created.status_code == 201, created.text
    assert created.json()["payment"]["provider"] == "stripe"
    assert "pm_card_visa" not in created.text
    order = await settled(client, alice, created.json()["id"])
    assert order["status"] == "confirmed", order
    payment = order["payment"]
    assert payment["status"] == "captured" and payment["provider"] == "stripe"
    assert payment["reference"].startswith("pi_") and "clientSecret" not in payment
    [intent] = await intents_for(localstripe, order["id"])
    assert intent["id"] == payment["reference"] and intent["status"] == "succeeded"
    assert (intent["amount"], intent["currency"]) == (2 * 1999, "eur")
    assert await eventually(lambda: _stock_is(client, product, (3, 0)))


async def test_a_declined_card_rejects_the_order_and_releases_the_stock(
    client: httpx.AsyncClient, localstripe: str, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=5)
    declined = await card(localstripe, DECLINED_CARD)
    order_id = (await place(client, alice, order_body(product, token=declined))).json()["id"]
    order = await settled(client, alice, order_id)
    assert order["status"] == "rejected" and order["reason"] == "payment_declined", order
    assert order["reasonText"] == "Your card was declined"
    assert order["payment"]["status"] == "declined"
    [intent] = await intents_for(localstripe, order_id)
    assert intent["status"] == "requires_payment_method"
    assert await eventually(lambda: _stock_is(client, product, (5, 0)))


async def test_a_token_stripe_does_not_know_is_declined_without_a_charge(
    client: httpx.AsyncClient, localstripe: str, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=5)
    for token in ("tok_visa", "pm_doesnotexist"):
        order_id = (await place(client, alice, order_body(product, token=token))).json()["id"]
        order = await settled(client, alice, order_id)
        assert order["reason"] == "payment_declined" and order["payment"]["reference"] is None
        assert await intents_for(localstripe, order_id) == []


async def _stock_is(client: httpx.AsyncClient, product: str, expected: tuple[int, int]) -> bool:
    return await stock(client, product) == expected


async def test_retries_of_one_order_charge_it_once(
    client: httpx.AsyncClient, platform: Platform, localstripe: str, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=50)
    answers = await asyncio.gather(
        *(
            place(client, alice, order_body(product, token="pm_card_visa"), key="one-click")
            for _ in range(10)
        )
    )
    [order_id] = {answer.json()["id"] for answer in answers}
    order = await settled(client, alice, order_id)
    assert order["status"] == "confirmed"
    # Workers of several replicas charging the same order at once, after it was charged:
    # localstripe ignores idempotency keys, so only the provider's ledger keeps this once.
    payments = stripe_of(platform)
    again = await asyncio.gather(
        *(
            payments.charge(
                idempotency_key=order_id, amount=1999, currency="EUR", token="pm_card_visa"
            )
            for _ in range(5)
        )
    )
    assert {result.reference for result in again} == {order["payment"]["reference"]}
    assert [i["status"] for i in await intents_for(localstripe, order_id)] == ["succeeded"]


async def test_racing_first_charges_confirm_one_intent(
    platform: Platform, localstripe: str
) -> None:
    payments = stripe_of(platform)
    key = str(uuid.uuid4())
    results = await asyncio.gather(
        *(
            payments.charge(idempotency_key=key, amount=500, currency="EUR", token="pm_card_visa")
            for _ in range(5)
        )
    )
    assert len({result.reference for result in results}) == 1
    assert {result.status for result in results} == {"captured"}
    intents = await intents_for(localstripe, key)
    # Each racer may have created an intent; all but the recorded one were cancelled unconfirmed.
    assert [i["status"] for i in intents].count("succeeded") == 1
    assert {i["status"] for i in intents} <= {"succeeded", "canceled"}


async def test_cancelling_a_confirmed_order_refunds_it_once(
    client: httpx.AsyncClient, platform: Platform, localstripe: str, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=5)
    order_id = (await place(client, alice, order_body(product, token="pm_card_visa"))).json()["id"]
    reference = (await settled(client, alice, order_id))["payment"]["reference"]
    cancelled = await client.post(f"/v1/orders/{order_id}/cancel", headers=alice.headers)
    assert cancelled.json()["payment"]["status"] == "refund_pending", cancelled.text

    async def refunded() -> bool:
        return bool((await _order(client, alice, order_id))["payment"]["status"] == "refunded")

    assert await eventually(refunded, timeout=30)
    await stripe_of(platform).refund(reference=reference)  # asked again: nothing more happens
    charge = (await get(localstripe, f"/v1/payment_intents/{reference}"))["latest_charge"]
    charge = await get(localstripe, f"/v1/charges/{charge['id']}")
    assert charge["amount_refunded"] == charge["amount"] == 1999
    assert charge["refunds"]["total_count"] == 1
    assert await eventually(lambda: _stock_is(client, product, (5, 0)))


async def test_a_webhook_with_a_bad_signature_is_refused(
    client: httpx.AsyncClient, localstripe: str, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=5)
    order_id = (await place(client, alice, order_body(product, token="pm_card_visa"))).json()["id"]
    reference = (await settled(client, alice, order_id))["payment"]["reference"]
    [real] = await events_of(localstripe, reference, "payment_intent.succeeded")
    body, good = signed(real)
    _, wrong_secret = signed(real, secret="whsec_someone_else")
    _, stale = signed(real, at=1_600_000_000)
    tampered = body.replace(b'"succeeded"', b'"canceled"', 1)
    for payload, headers in [
        (body, wrong_secret),
        (body, stale),
        (tampered, good),
        (body, {"Content-Type": "application/json"}),
        (body, {"Stripe-Signature": "nonsense"}),
        (b"\xff\xfe", {"Stripe-Signature": good["Stripe-Signature"]}),
    ]:
        assert_problem(await client.post(WEBHOOK, content=payload, headers=headers), 400)
    assert (await _order(client, alice, order_id))["status"] == "confirmed"


async def test_a_replayed_webhook_changes_nothing(
    client: httpx.AsyncClient, platform: Platform, localstripe: str, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=5)
    order_id = (await place(client, alice, order_body(product, token="pm_card_visa"))).json()["id"]
    order = await settled(client, alice, order_id)
    [real] = await events_of(localstripe, order["payment"]["reference"], "payment_intent.succeeded")
    body, headers = signed(real)
    labels = {"provider": "stripe", "type": "payment_intent.succeeded", "outcome": "duplicate"}
    duplicates_before = REGISTRY.get_sample_value("panthera_payment_webhooks_total", labels) or 0
    first = await client.post(WEBHOOK, content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    replays = await asyncio.gather(
        *(client.post(WEBHOOK, content=body, headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in replays} == {200}
    assert all(r.json()["duplicate"] for r in replays)
    counted = REGISTRY.get_sample_value("panthera_payment_webhooks_total", labels)
    assert counted == duplicates_before + 5
    assert await _order(client, alice, order_id) == order
    assert len(await intents_for(localstripe, order_id)) == 1


async def test_a_webhook_while_the_worker_is_charging_confirms_once(
    client: httpx.AsyncClient, localstripe: str, admin: Account, alice: Account
) -> None:
    # Stripe's webhook may arrive before the worker records the charge: both settle it.
    product = await make_product(client, admin, stock=5)
    order_id = (await place(client, alice, order_body(product, token="pm_card_visa"))).json()["id"]

    async def charged() -> list[dict[str, Any]]:
        return [
            e
            for i in await intents_for(localstripe, order_id)
            for e in await events_of(localstripe, i["id"], "payment_intent.succeeded")
        ]

    [real] = await eventually(charged, timeout=30)
    body, headers = signed(real)
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    order = await settled(client, alice, order_id)
    assert (
        order["status"] == "confirmed"
        and order["payment"]["reference"] == real["data"]["object"]["id"]
    )
    orders = (await client.get("/v1/notifications", headers=alice.headers)).json()
    assert [n["template"] for n in orders["notifications"]].count("order_confirmed") <= 1


async def test_hundred_customers_race_for_ten_units_and_only_winners_pay(
    client: httpx.AsyncClient, localstripe: str, admin: Account
) -> None:
    product = await make_product(client, admin, stock=10)
    shoppers = [await sign_up(client, f"racer{i:03d}") for i in range(100)]
    placed = await asyncio.gather(
        *(place(client, s, order_body(product, token="pm_card_visa")) for s in shoppers)
    )
    assert all(r.status_code == 201 for r in placed)
    ids = {r.json()["id"] for r in placed}

    async def decided() -> list[dict[str, Any]] | None:
        listed = (
            await client.get("/v1/orders", params={"limit": 100}, headers=admin.headers)
        ).json()
        orders: list[dict[str, Any]] = [o for o in listed["orders"] if o["id"] in ids]
        done = len(orders) == len(ids) and all(o["status"] != "pending" for o in orders)
        return orders if done else None

    outcomes = await eventually(decided, timeout=120, interval=0.5)
    winners = {o["id"]: o for o in outcomes if o["status"] == "confirmed"}
    losers = [o for o in outcomes if o["status"] != "confirmed"]
    assert len(winners) == 10 and len(losers) == 90
    assert {o["reason"] for o in losers} == {"out_of_stock"}
    by_order: dict[str, list[dict[str, Any]]] = {}
    for intent in await all_intents(localstripe):
        key = (intent.get("metadata") or {}).get(ORDER_KEY)
        if isinstance(key, str) and key in ids:
            by_order.setdefault(key, []).append(intent)
    # Winners paid once each, losers were never charged (stock is held before charging).
    assert set(by_order) == set(winners)
    for order_id, intents in by_order.items():
        assert [(i["id"], i["status"]) for i in intents] == [
            (winners[order_id]["payment"]["reference"], "succeeded")
        ]
    assert await eventually(lambda: _stock_is(client, product, (0, 0)))
