"""Login attempts are limited per account and per client address."""

from __future__ import annotations

import httpx
import pytest

from panthera.kernel.service import ServiceSettings
from tests.conftest import STRONG_PASSWORD, Account, assert_problem, fast_service_settings


@pytest.fixture
def service_settings() -> dict[str, ServiceSettings]:
    return fast_service_settings(
        login_limit_per_account="3/minute", login_limit_per_address="6/minute"
    )


async def _attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/login", json={"email": email, "password": password})


async def test_too_many_attempts_on_one_account_get_429(
    client: httpx.AsyncClient, alice: Account
) -> None:
    # The fixture's own login was the first of the three allowed attempts.
    for _ in range(2):
        assert (await _attempt(client, alice.email, "Wrong-password1")).status_code == 401
    blocked = await _attempt(client, alice.email, STRONG_PASSWORD)
    assert_problem(blocked, 429)
    assert int(blocked.headers["retry-after"]) >= 1


async def test_one_address_trying_many_accounts_gets_429(client: httpx.AsyncClient) -> None:
    statuses = [
        (await _attempt(client, f"victim{i}@example.com", "Guess-password1")).status_code
        for i in range(7)
    ]
    assert statuses[:6] == [401] * 6
    assert statuses[6] == 429
