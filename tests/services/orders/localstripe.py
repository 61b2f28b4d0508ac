"""A Stripe-compatible API for the payment tests: `localstripe`, on a free loopback port.

localstripe keeps its objects for as long as it runs (one process per test
session), so tests look only at what they created. Where it differs from
Stripe (docs/payments.md lists it), tests say so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from panthera.kernel.service import ServiceSettings
from panthera.services.orders.settings import OrdersSettings
from panthera.services.orders.stripe_provider import ORDER_KEY
from panthera.testing.ports import free_port
from tests.conftest import fast_service_settings

API_KEY = "sk_test_panthera"
PUBLISHABLE_KEY = "pk_test_panthera"
WEBHOOK_SECRET = "whsec_panthera_tests"
# localstripe's own server, bound to loopback only (its command line listens everywhere).
_SERVE = (
    "import sys; from aiohttp import web; from localstripe.server import app; "
    "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None)"
)
DECLINED_CARD = "4000000000000341"
"""Declined when charged. (Stripe's 4000 0000 0000 0002 is declined by Stripe, but
localstripe declines it only when attached to a customer, not when charged.)"""
THREE_D_SECURE_CARD = "4000002760003184"
"""Always asks for 3-D Secure."""


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """The base URL of a localstripe process for this test session."""
    with serve_localstripe() as base:
        yield base


@pytest.fixture
def fresh_localstripe() -> Iterator[str]:
    """A localstripe of this test's own: everything in it is the test's doing."""
    with serve_localstripe() as base:
        yield base


@contextmanager
def serve_localstripe() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "localstripe exited at start"
            try:
                httpx.get(f"{base}/v1/balance", auth=(API_KEY, ""), timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "localstripe did not start"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stripe_settings(base: str, **overrides: Any) -> OrdersSettings:
    options: dict[str, Any] = {
        "payment_provider": "stripe",
        "stripe_api_key": API_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": base,
    }
    return OrdersSettings(**{**options, **overrides})


def with_stripe(base: str, **overrides: Any) -> dict[str, ServiceSettings]:
    return {**fast_service_settings(), "orders": stripe_settings(base, **overrides)}


async def card(base: str, number: str) -> str:
    """A PaymentMethod for a test card number, as Stripe.js would make it in a browser."""
    async with httpx.AsyncClient(base_url=base, auth=(API_KEY, "")) as http:
        made = await http.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        )
    assert made.status_code == 200, made.text
    return str(made.json()["id"])


async def authenticate(base: str, intent_id: str, client_secret: str, *, success: bool) -> None:
    """The customer's 3-D Secure, as Stripe.js drives it against localstripe."""
    async with httpx.AsyncClient(base_url=base) as http:
        done = await http.post(
            f"/v1/payment_intents/{intent_id}/_authenticate",
            data={
                "client_secret": client_secret,
                "success": "true" if success else "false",
                "key": PUBLISHABLE_KEY,
            },
        )
    assert done.status_code == 200, done.text


async def get(base: str, path: str, **params: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, auth=(API_KEY, "")) as http:
        answer = await http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def all_intents(base: str) -> list[dict[str, Any]]:
    """Every PaymentIntent localstripe holds, page by page."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = await get(base, "/v1/payment_intents", **params)
        found += page["data"]
        if not page["has_more"] or not page["data"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


async def intents_for(base: str, order_id: str) -> list[dict[str, Any]]:
    """Every PaymentIntent made for an order."""
    return [
        intent
        for intent in await all_intents(base)
        if (intent.get("metadata") or {}).get(ORDER_KEY) == order_id
    ]


async def events_of(base: str, intent_id: str, event_type: str) -> list[dict[str, Any]]:
    page = await get(base, "/v1/events", type=event_type, limit=100)
    events = page["data"]
    while page["has_more"]:
        page = await get(
            base, "/v1/events", type=event_type, limit=100, starting_after=events[-1]["id"]
        )
        events += page["data"]
    return [e for e in events if e["data"]["object"]["id"] == intent_id]


def signed(
    body: dict[str, Any] | bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and its `Stripe-Signature`, computed as Stripe documents it."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    headers = {
        "Stripe-Signature": f"t={timestamp},v1={mac.hexdigest()}",
        "Content-Type": "application/json",
    }
    return payload, headers


def event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """An event in Stripe's documented shape."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "api_version": "2025-03-31.basil",
        "data": {"object": obj},
    }
