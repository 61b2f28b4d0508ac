"""A running platform per module and topology, and one browser per test session.

Embedded: the platform (with the web) under uvicorn on a free port, in a
thread of this process. Distributed: `panthera up --distributed` as real
processes on PostgreSQL, NATS and Redis, with unique schema, stream and
session-key prefixes.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
import redis
import uvicorn
from playwright.sync_api import Browser

from panthera.app import create_platform
from panthera.kernel.settings import Settings
from panthera.testing.ports import free_port
from panthera.testing.shop import ADMIN_EMAIL, ADMIN_PASSWORD, platform
from panthera.web.sessions import COOKIE as SESSION_COOKIE
from tests.conftest import GENEROUS_GATEWAY, fast_service_settings
from tests.web.browser import Watched, launch
from tests.web.journeys import PASSWORD

T = TypeVar("T")


@dataclass
class Shop:
    base: str
    topology: str
    expire: Callable[[str], None]
    """Drop a session from the store, as its time to live running out would."""

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def admin_headers(self) -> dict[str, str]:
        answer = self.http.post(
            "/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['accessToken']}"}

    def product(self, name: str, *, price: int, stock: int, category: str | None = None) -> str:
        answer = self.http.post(
            "/v1/products",
            headers=self.admin_headers(),
            json={
                "sku": f"W-{uuid.uuid4().hex[:10]}",
                "name": name,
                "description": f"{name}: made to last, easy to love.",
                "price": price,
                "currency": "EUR",
                "stock": stock,
                **({"categoryId": category} if category else {}),
            },
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def category(self, name: str, parent: str | None = None) -> str:
        answer = self.http.post(
            "/v1/categories",
            headers=self.admin_headers(),
            json={"name": name, **({"parentId": parent} if parent else {})},
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def customer(self, name: str) -> tuple[str, dict[str, str]]:
        email = f"{name}@example.com"
        created = self.http.post(
            "/v1/users", json={"username": name, "email": email, "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        answer = self.http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        return email, {"Authorization": f"Bearer {answer.json()['accessToken']}"}


def _embedded(tmp: Path) -> Iterator[Shop]:
    settings = Settings(
        data_dir=tmp / "data",
        log_level="WARNING",
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
    )
    running = create_platform(
        settings, service_settings=fast_service_settings(), gateway_settings=GENEROUS_GATEWAY
    )
    assert running.site is not None
    sessions = running.site.sessions
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(running.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="embedded-platform", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the platform did not start"
        time.sleep(0.05)

    def expire(session_id: str) -> None:
        in_thread(lambda: asyncio.run(sessions.delete(session_id)))

    try:
        yield Shop(f"http://127.0.0.1:{port}", "embedded", expire)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _distributed(tmp: Path) -> Iterator[Shop]:
    deployment = f"w{uuid.uuid4().hex[:8]}"
    # Every Redis key of the deployment starts with `panthera:<deployment>:`.
    prefix = f"panthera:{deployment}:web:session:"
    env = {
        "PANTHERA_DEPLOYMENT": deployment,
        "PANTHERA_USERS__ARGON2_TIME_COST": "1",
        "PANTHERA_USERS__ARGON2_MEMORY_KIB": "1024",
        "PANTHERA_USERS__ARGON2_PARALLELISM": "1",
        # Every page's API calls come from the web process: one client to the edge.
        "PANTHERA_USERS__LOGIN_LIMIT_PER_ACCOUNT": "1000/minute",
        "PANTHERA_USERS__LOGIN_LIMIT_PER_ADDRESS": "10000/minute",
        "PANTHERA_GATEWAY__RATE_LIMIT_PER_CLIENT": "100000/minute",
        "PANTHERA_GATEWAY__RATE_LIMIT_PER_ROUTE": "100000/minute",
    }
    store = redis.Redis.from_url("redis://127.0.0.1:6379/0")

    def expire(session_id: str) -> None:
        assert store.delete(prefix + session_id) == 1

    # Playwright's sync API keeps an event loop busy in this thread, and the platform's
    # clean-up runs one of its own: both ends of the context run in another thread.
    context = platform(
        tmp, "distributed", env=env, extra_args=["--replicas", "web=2"], ready_within=300
    )
    try:
        running = in_thread(context.__enter__)
        try:
            yield Shop(running.base, "distributed", expire)
        finally:
            in_thread(lambda: context.__exit__(None, None, None))
    finally:
        for key in store.scan_iter(match=prefix + "*"):
            store.delete(key)
        store.close()


def in_thread(work: Callable[[], T]) -> T:
    """`work()` run in a thread of its own, its result or its exception handed back."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:
            outcome.append((False, exc))

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return cast(T, value)


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("distributed", marks=pytest.mark.integration)],
)
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp(f"web-{request.param}")
    start = _embedded if request.param == "embedded" else _distributed
    yield from start(tmp)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser for the browser tests (they live in one module). Not session-scoped:
    Playwright's sync API keeps an event loop running, which async tests after it
    could not share."""
    yield from launch()


@pytest.fixture
def visitor(browser: Browser, shop: Shop) -> Iterator[Watched]:
    """A fresh visitor (own cookies); the test fails on any console error, CSP included."""
    watched = Watched(browser, shop.base)
    yield watched
    watched.close()
    assert not watched.errors, "\n".join(watched.errors)


def session_id(watched: Watched) -> str:
    cookies = {c["name"]: c["value"] for c in watched.context.cookies()}
    return cookies[SESSION_COOKIE]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"
