"""Reads made for clients and staff: waiting for a decision, statistics per day.

Through the embedded gateway, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from panthera.app import Platform
from tests.conftest import Account, assert_problem, eventually, sign_up
from tests.services.orders.test_api import make_product, order_body, place, settled


async def test_waiting_for_a_decision_answers_once_the_order_is_decided(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=3)
    order = (await place(client, alice, order_body(product))).json()
    answer = await client.get(
        f"/v1/orders/{order['id']}",
        params={"waitFor": "decision", "timeout": 30},
        headers=alice.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "confirmed"


@pytest.fixture
def held_payments(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.Event]:
    """Charges wait until the test sets the returned event: orders stay pending meanwhile."""
    payments = platform.hosts["orders"].runtime.payments
    charge = payments.charge
    release = asyncio.Event()

    async def held(**kwargs: Any) -> Any:
        await release.wait()
        return await charge(**kwargs)

    monkeypatch.setattr(payments, "charge", held)
    yield release
    release.set()


async def test_a_wait_is_woken_by_the_decision_not_by_its_timeout(
    platform: Platform,
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    held_payments: asyncio.Event,
) -> None:
    product = await make_product(client, admin, stock=1)
    order = (await place(client, alice, order_body(product, token="tok_chargeDeclined"))).json()
    waiting = asyncio.create_task(
        client.get(
            f"/v1/orders/{order['id']}",
            params={"waitFor": "decision", "timeout": 30},
            headers=alice.headers,
        )
    )
    decisions = platform.hosts["orders"].runtime.decisions
    await eventually(lambda: asyncio.sleep(0, decisions.waiting == 1))
    started = time.monotonic()
    held_payments.set()
    answer = await waiting
    assert answer.json()["status"] == "rejected"
    assert answer.json()["reason"] == "payment_declined"
    # Far below the 30 s asked for: the decision, not the deadline, ended the wait.
    assert time.monotonic() - started < 20
    assert decisions.waiting == 0


async def test_a_wait_that_times_out_answers_the_pending_order(
    client: httpx.AsyncClient, admin: Account, alice: Account, held_payments: asyncio.Event
) -> None:
    product = await make_product(client, admin, stock=1)
    order = (await place(client, alice, order_body(product))).json()
    answer = await client.get(
        f"/v1/orders/{order['id']}",
        params={"waitFor": "decision", "timeout": 0.5},
        headers=alice.headers,
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "pending"


async def test_nobody_waits_on_another_customers_order(
    client: httpx.AsyncClient, admin: Account, alice: Account, bob: Account
) -> None:
    product = await make_product(client, admin, stock=1)
    order = (await place(client, alice, order_body(product))).json()
    answer = await client.get(
        f"/v1/orders/{order['id']}", params={"waitFor": "decision"}, headers=bob.headers
    )
    assert_problem(answer, 404)


@pytest.mark.parametrize(
    "params",
    [{"waitFor": "ever"}, {"waitFor": "decision", "timeout": 31}, {"timeout": -1}],
)
async def test_a_bad_wait_is_refused(
    client: httpx.AsyncClient, admin: Account, alice: Account, params: dict[str, str | int]
) -> None:
    product = await make_product(client, admin, stock=1)
    order = (await place(client, alice, order_body(product))).json()
    answer = await client.get(f"/v1/orders/{order['id']}", params=params, headers=alice.headers)
    assert_problem(answer, 400)


async def test_statistics_count_orders_revenue_and_rejections_per_day(
    client: httpx.AsyncClient, admin: Account
) -> None:
    product = await make_product(client, admin, stock=2, price=1500)
    buyers = [await sign_up(client) for _ in range(4)]
    # One at a time, so that which order loses the stock and which the payment is known:
    # the declined card releases its unit to the third buyer and the fourth finds none left.
    tokens = ["tok_visa", "tok_chargeDeclined", "tok_visa", "tok_visa"]
    outcomes = []
    for who, token in zip(buyers, tokens, strict=True):
        order = (await place(client, who, order_body(product, token=token))).json()
        outcomes.append(await settled(client, who, order["id"]))
    assert [(o["status"], o.get("reason")) for o in outcomes] == [
        ("confirmed", None),
        ("rejected", "payment_declined"),
        ("confirmed", None),
        ("rejected", "out_of_stock"),
    ]
    today = datetime.now(UTC).date()
    answer = await client.get(
        "/v1/orders/stats",
        params={
            "from": (today - timedelta(days=2)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
        },
        headers=admin.headers,
    )
    assert answer.status_code == 200, answer.text
    series = answer.json()["series"]
    assert [point["start"] for point in series] == [
        (today - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    assert all(point["orders"] == 0 and point["currency"] == "EUR" for point in series[:2])
    assert series[2] == {
        "start": today.isoformat(),
        "currency": "EUR",
        "orders": 4,
        "revenue": 3000,
        "confirmed": 2,
        "rejected": 2,
        "cancelled": 0,
        "rejectedByReason": {"out_of_stock": 1, "payment_declined": 1},
    }


async def test_statistics_are_for_administrators(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(await client.get("/v1/orders/stats"), 401)
    assert_problem(await client.get("/v1/orders/stats", headers=alice.headers), 403)


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-11-10", "to": "2026-11-10"},
        {"from": "2024-01-01", "to": "2026-01-01"},
        {"from": "yesterday"},
        {"interval": "hour"},
    ],
)
async def test_a_bad_statistics_range_is_refused(
    client: httpx.AsyncClient, admin: Account, params: dict[str, str]
) -> None:
    assert_problem(await client.get("/v1/orders/stats", params=params, headers=admin.headers), 400)


async def test_statistics_of_an_empty_shop_have_every_day_at_zero(
    client: httpx.AsyncClient, admin: Account
) -> None:
    answer = await client.get("/v1/orders/stats", headers=admin.headers)
    series = answer.json()["series"]
    assert len(series) == 30
    assert {point["orders"] for point in series} == {0}
    assert {point["currency"] for point in series} == {None}


async def test_waiting_does_not_hold_other_requests(
    client: httpx.AsyncClient, admin: Account, alice: Account, held_payments: asyncio.Event
) -> None:
    product = await make_product(client, admin, stock=1)
    order = (await place(client, alice, order_body(product))).json()
    waiting = asyncio.create_task(
        client.get(
            f"/v1/orders/{order['id']}",
            params={"waitFor": "decision", "timeout": 3},
            headers=alice.headers,
        )
    )
    other = await client.get("/v1/orders", headers=alice.headers)
    assert other.status_code == 200
    assert not waiting.done()
    assert (await waiting).json()["status"] == "pending"
