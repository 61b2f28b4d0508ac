"""Issue 10, finding 3, in the distributed topology: service processes sharing Redis
refuse a user's older tokens the moment the users service revokes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import STRONG_PASSWORD
from tests.e2e.edge import Process

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Process]]:
    tmp: Path = tmp_path_factory.mktemp("revocation")
    users = Process("users", {}, tmp / "users.log")
    env = {
        "PANTHERA_DATA_DIR": str(tmp / "data"),
        "PANTHERA_REDIS_URL": REDIS_URL,
        "PANTHERA_USERS_URL": users.url,
        "PANTHERA_USERS__ARGON2_TIME_COST": "1",
        "PANTHERA_USERS__ARGON2_MEMORY_KIB": "1024",
    }
    users.env = env
    running = {"users": users, "orders": Process("orders", env, tmp / "orders.log")}
    try:
        for process in running.values():
            process.start()
        for process in running.values():
            process.wait_ready()
        yield running
    finally:
        for process in running.values():
            process.stop()


def test_signing_out_everywhere_holds_at_once_in_another_process(
    processes: dict[str, Process],
) -> None:
    users, orders = processes["users"].url, processes["orders"].url
    name = f"far{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"
    credentials = {"email": email, "password": STRONG_PASSWORD}
    with httpx.Client(timeout=30) as http:
        body = {"username": name, **credentials}
        assert http.post(f"{users}/v1/users", json=body).status_code == 201
        session = http.post(f"{users}/v1/auth/login", json=credentials).json()
        bearer = {"Authorization": f"Bearer {session['accessToken']}"}
        assert http.get(f"{orders}/v1/orders", headers=bearer).status_code == 200
        signed_out = http.post(
            f"{users}/v1/auth/logout",
            json={"refreshToken": session["refreshToken"], "allSessions": True},
        )
        assert signed_out.status_code == 204
        refused = http.get(f"{orders}/v1/orders", headers=bearer)  # no wait, no retry
        assert refused.status_code == 401
        assert "revoked" in refused.json()["detail"]
        fresh = http.post(f"{users}/v1/auth/login", json=credentials).json()
        renewed = {"Authorization": f"Bearer {fresh['accessToken']}"}
        assert http.get(f"{orders}/v1/orders", headers=renewed).status_code == 200
