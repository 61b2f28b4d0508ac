"""The checkout metrics an operator watches, counted through the real platform.

Counters are process-wide (other tests' platforms add to them), so each check is on
the change a test makes, read from the platform's own `/metrics`.
"""

from __future__ import annotations

import re

import httpx
import pytest
from prometheus_client import REGISTRY

from panthera.services.orders.metrics import (
    CANCELLATION_REASONS,
    PAYMENT_OUTCOMES,
    REJECTION_REASONS,
    count_payments,
)
from tests.conftest import Account, eventually
from tests.services.orders.test_api import make_product, order_body, place, settled

ON_SQLITE = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


def series(text: str, name: str, **labels: str) -> float:
    """The value of one series in a scrape; raises if it is absent (not created at zero)."""
    wanted = sorted(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and sorted(filter(None, (match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    raise AssertionError(f"{name}{labels} is not in the scrape")


async def scrape(client: httpx.AsyncClient) -> str:
    return (await client.get("/metrics")).text


@ON_SQLITE
async def test_every_labelled_series_exists_at_zero_from_the_start(
    client: httpx.AsyncClient,
) -> None:
    text = await scrape(client)
    for reason in REJECTION_REASONS:
        assert series(text, "panthera_orders_rejected_total", reason=reason) >= 0
    for reason in CANCELLATION_REASONS:
        assert series(text, "panthera_orders_cancelled_total", reason=reason) >= 0
    for outcome in PAYMENT_OUTCOMES:
        assert series(text, "panthera_payments_total", provider="sandbox", outcome=outcome) >= 0
    for outcome in ("confirmed", "rejected"):
        assert series(text, "panthera_saga_decision_seconds_count", outcome=outcome) >= 0
    for channel in ("email", "sms"):
        for outcome in ("sent", "retry", "failed"):
            assert (
                series(text, "panthera_notifications_sends_total", channel=channel, outcome=outcome)
                >= 0
            )
    for event_type in ("catalog.stock.reserved", "catalog.stock.rejected"):
        assert (
            series(text, "panthera_events_redelivered_total", consumer="orders", type=event_type)
            >= 0
        )
        assert (
            series(text, "panthera_events_dead_lettered_total", consumer="orders", type=event_type)
            >= 0
        )
    assert series(text, "panthera_outbox_oldest_unpublished_seconds", service="orders") >= 0
    assert series(text, "panthera_orders_oldest_pending_seconds") >= 0


@ON_SQLITE
async def test_orders_are_counted_by_outcome_with_their_decision_time(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    before = await scrape(client)
    product = await make_product(client, admin, stock=5)
    confirmed = (await place(client, alice, order_body(product))).json()
    declined = (await place(client, alice, order_body(product, token="tok_chargeDeclined"))).json()
    too_many = (await place(client, alice, order_body(product, quantity=50))).json()
    assert (await settled(client, alice, confirmed["id"]))["status"] == "confirmed"
    assert (await settled(client, alice, declined["id"]))["reason"] == "payment_declined"
    assert (await settled(client, alice, too_many["id"]))["reason"] == "out_of_stock"
    cancel = await client.post(f"/v1/orders/{confirmed['id']}/cancel", headers=alice.headers)
    assert cancel.status_code == 200, cancel.text

    async def refunded() -> bool:
        text = await scrape(client)
        return series(text, "panthera_payments_total", provider="sandbox", outcome="refunded") > (
            series(before, "panthera_payments_total", provider="sandbox", outcome="refunded")
        )

    assert await eventually(refunded)

    async def emailed() -> bool:
        # The notifications service sends on its own time (its sender, woken by commits),
        # so the emails of these orders may still be on their way when the refund counts.
        text = await scrape(client)
        sent = {"channel": "email", "outcome": "sent"}
        return (
            series(text, "panthera_notifications_sends_total", **sent)
            - series(before, "panthera_notifications_sends_total", **sent)
            >= 3
        )

    assert await eventually(emailed, timeout=60)
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return series(after, name, **labels) - series(before, name, **labels)

    assert grew("panthera_orders_placed_total") == 3
    assert grew("panthera_orders_confirmed_total") == 1
    assert grew("panthera_orders_rejected_total", reason="payment_declined") == 1
    assert grew("panthera_orders_rejected_total", reason="out_of_stock") == 1
    assert grew("panthera_orders_rejected_total", reason="expired") == 0
    assert grew("panthera_orders_cancelled_total", reason="cancelled_by_customer") == 1
    assert grew("panthera_saga_decision_seconds_count", outcome="confirmed") == 1
    assert grew("panthera_saga_decision_seconds_count", outcome="rejected") == 2
    assert 0 < grew("panthera_saga_decision_seconds_sum", outcome="confirmed") < 60
    assert grew("panthera_payments_total", provider="sandbox", outcome="succeeded") == 1
    assert grew("panthera_payments_total", provider="sandbox", outcome="declined") == 1
    assert grew("panthera_payments_total", provider="sandbox", outcome="refunded") == 1
    assert grew("panthera_notifications_sends_total", channel="email", outcome="sent") >= 3
    assert series(after, "panthera_orders_oldest_pending_seconds") == 0


class UnreachableProvider:
    name = "unreachable"

    async def charge(self, **_: object) -> object:
        raise ConnectionError("the provider did not answer")

    async def refund(self, **_: object) -> None:
        raise ConnectionError("the provider did not answer")


async def test_a_provider_call_that_fails_counts_as_an_error_and_still_raises() -> None:
    provider = UnreachableProvider()
    count_payments(provider)
    count_payments(provider)  # once only, however many runtimes share it

    def errors() -> float | None:
        return REGISTRY.get_sample_value(
            "panthera_payments_total", {"provider": "unreachable", "outcome": "error"}
        )

    assert errors() == 0
    with pytest.raises(ConnectionError):
        await provider.charge(idempotency_key="k", amount=1, currency="EUR", token="tok_visa")
    with pytest.raises(ConnectionError):
        await provider.refund(reference="ch_1")
    assert errors() == 2
