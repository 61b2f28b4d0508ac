"""The distributed topology's event backbone with real processes, PostgreSQL, NATS and SMTP.

Users and notifications run as separate `panthera serve` processes sharing one
PostgreSQL database (a schema each, unique to the test), one NATS JetStream
(streams and subjects unique to the test, deleted afterwards) and one data
directory, so that they share the token signing key.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from panthera.kernel.auth.keys import load_or_create_signing_key
from panthera.testing.cleanup import remove_run_async
from panthera.testing.ports import free_port
from panthera.testing.processes import wait_until_healthy
from tests.conftest import POSTGRES_URL, STRONG_PASSWORD
from tests.services.notifications.smtp import Sink, smtp_server

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

NATS_URL = os.environ.get("PANTHERA_TEST_NATS_URL", "nats://127.0.0.1:4222")


@dataclass
class Service:
    """A `panthera serve` process that can be killed and started again."""

    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **extra_env: str) -> Service:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "panthera", "serve", self.name, "--port", str(self.port)],
                env={**os.environ, **self.env, **extra_env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until_healthy(self.url, self.process)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.url}/metrics").text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total


@dataclass
class Cluster:
    tag: str
    env: dict[str, str]
    tmp: Path
    smtp: Sink
    services: list[Service] = field(default_factory=list)

    def service(self, name: str, **extra_env: str) -> Service:
        service = Service(
            name, {**self.env, **extra_env}, self.tmp / f"{name}-{len(self.services)}.log"
        )
        self.services.append(service)
        return service

    def sql(self, query: str) -> Any:
        async def run() -> Any:
            engine = create_async_engine(POSTGRES_URL)
            try:
                async with engine.begin() as conn:
                    result = await conn.execute(sa.text(query))
                    return result.scalar() if result.returns_rows else None
            finally:
                await engine.dispose()

        return asyncio.run(run())

    def count(self, service: str, table: str, where: str = "TRUE") -> int:
        # Identifiers and conditions come from the tests themselves.
        query = f'SELECT count(*) FROM "{self.tag}_{service}".{table} WHERE {where}'  # noqa: S608
        return int(self.sql(query))

    def stream_messages(self, source: str) -> int:
        async def run() -> int:
            nc = await nats.connect(NATS_URL)
            try:
                info = await nc.jetstream().stream_info(f"T{self.tag}_{source.upper()}")
                return int(info.state.messages)
            finally:
                await nc.close()

        return asyncio.run(run())


def wait_for(probe: Callable[[], Any], *, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last: {result!r})")
        time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    tag = f"t{uuid.uuid4().hex[:10]}"
    data = tmp_path / "data"
    # One signing key for every process: the notifications process verifies the
    # tokens the users process issues (until services fetch the JWKS).
    load_or_create_signing_key(data / "keys" / "jwt-ed25519.pem")
    with smtp_server() as (smtp_url, sink):
        env = {
            "PANTHERA_DATA_DIR": str(data),
            "PANTHERA_DATABASE_URL": POSTGRES_URL,
            "PANTHERA_SCHEMA_PREFIX": f"{tag}_",
            "PANTHERA_NATS_URL": NATS_URL,
            "PANTHERA_SMTP_URL": smtp_url,
            "PANTHERA_EVENTS__STREAM_PREFIX": f"T{tag}",
            "PANTHERA_EVENTS__SUBJECT_PREFIX": tag,
            "PANTHERA_EVENTS__ACK_WAIT_SECONDS": "2",
            "PANTHERA_EVENTS__BACKOFF_SECONDS": "[0.2, 0.5]",
            "PANTHERA_USERS__ARGON2_TIME_COST": "1",
            "PANTHERA_USERS__ARGON2_MEMORY_KIB": "1024",
            "PANTHERA_USERS__ARGON2_PARALLELISM": "1",
            "PANTHERA_NOTIFICATIONS__POLL_SECONDS": "0.2",
            "PANTHERA_NOTIFICATIONS__LEASE_SECONDS": "3",
        }
        cluster = Cluster(tag=tag, env=env, tmp=tmp_path, smtp=sink)
        try:
            yield cluster
        finally:
            for service in cluster.services:
                service.stop()
            asyncio.run(_cleanup(tag))


async def _cleanup(tag: str) -> None:
    await remove_run_async(schema_prefix=f"{tag}_", stream_prefix=f"T{tag}_", nats_url=NATS_URL)


def migrate(cluster: Cluster, service: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "panthera", "migrate", service],
        env={**os.environ, **cluster.env},
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextmanager
def holding_recipient(cluster: Cluster, user_id: str) -> Iterator[None]:
    """An open transaction that inserted the user's recipient row: a handler inserting the
    same key waits for it to end (rolled back on exit)."""
    psql = subprocess.Popen(
        ["psql", POSTGRES_URL.replace("+asyncpg", ""), "-q", "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert psql.stdin is not None and psql.stdout is not None
    table = f'"{cluster.tag}_notifications".recipients'
    psql.stdin.write(
        f"BEGIN;\nINSERT INTO {table} (user_id, updated_at) VALUES ('{user_id}', now());\n"
        "\\echo held\n"
    )
    psql.stdin.flush()
    assert psql.stdout.readline().strip() == "held"
    try:
        yield
    finally:
        psql.communicate("ROLLBACK;\n", timeout=30)


def sign_up(users: Service, name: str) -> None:
    body = {"username": name, "email": f"{name}@example.com", "password": STRONG_PASSWORD}
    response = httpx.post(f"{users.url}/v1/users", json=body, timeout=30)
    assert response.status_code == 201, response.text


def sign_up_many(users: Service, names: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: sign_up(users, n), names))


def token(users: Service, name: str) -> Mapping[str, str]:
    response = httpx.post(
        f"{users.url}/v1/auth/login",
        json={"email": f"{name}@example.com", "password": STRONG_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def assert_each_sent_exactly_once(cluster: Cluster, names: list[str]) -> None:
    assert cluster.count("notifications", "notifications") == len(names)
    assert cluster.count("notifications", "notifications", "status = 'sent'") == len(names)
    received = cluster.smtp.by_notification()
    assert len(received) == len(names)
    assert set(received.values()) == {1}, {k: v for k, v in received.items() if v > 1}
    assert sorted(str(m["To"]) for m in cluster.smtp.received()) == sorted(
        f"{n}@example.com" for n in names
    )


def all_sent(cluster: Cluster, count: int) -> bool:
    return cluster.count("notifications", "notifications", "status = 'sent'") >= count


def test_sign_up_in_one_process_sends_the_welcome_from_another(cluster: Cluster) -> None:
    users = cluster.service("users").start()
    notifications = cluster.service("notifications").start()
    sign_up(users, "alice")
    headers = token(users, "alice")

    def welcome() -> list[dict[str, Any]]:
        response = httpx.get(f"{notifications.url}/v1/notifications", headers=headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["notifications"]
        return [n for n in items if n["status"] == "sent"]

    [sent] = wait_for(welcome, timeout=10, what="welcome sent")
    assert sent["template"] == "welcome"
    [message] = cluster.smtp.received()
    assert message["To"] == "alice@example.com"
    assert message["X-Panthera-Notification"] == sent["id"]
    assert notifications.metric("panthera_events_handled_total", outcome="handled") >= 1
    assert "panthera_outbox_backlog" in httpx.get(f"{users.url}/metrics").text


def test_a_consumer_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    cluster: Cluster,
) -> None:
    users = cluster.service("users").start()
    names = [f"k{i:03d}" for i in range(60)]
    # The sign-ups wait in JetStream, so the consumer starts on a full batch.
    sign_up_many(users, names)
    wait_for(lambda: cluster.stream_messages("users") == len(names), what="all published")
    migrate(cluster, "notifications")
    last = cluster.sql(
        f'SELECT subject FROM "{cluster.tag}_users".outbox ORDER BY position DESC LIMIT 1'  # noqa: S608
    )
    # This replica consumes only; sending is left to a replica started at the end,
    # so that the kill hits event handling and nothing else.
    consumer = cluster.service("notifications", PANTHERA_NOTIFICATIONS__SENDER_ENABLED="false")
    # The last event's handler waits on a row this test holds: whatever the machine's
    # speed, the batch is still in flight when the consumer is killed.
    with holding_recipient(cluster, last):
        consumer.start()
        handled = wait_for(
            lambda: (n := cluster.count("notifications", "inbox")) >= 10 and n,
            what="part of the batch handled",
        )
        consumer.kill()
        at_kill = cluster.count("notifications", "inbox")
    assert handled <= at_kill < len(names)
    consumer.start()
    wait_for(
        lambda: cluster.count("notifications", "inbox") == len(names),
        what="every event handled after the restart",
    )
    assert cluster.count("notifications", "notifications") == len(names)
    cluster.service("notifications").start()
    wait_for(lambda: all_sent(cluster, len(names)), what="all sent")
    assert_each_sent_exactly_once(cluster, names)


def test_a_relay_restarted_mid_publish_causes_no_duplicate_effect(cluster: Cluster) -> None:
    users = cluster.service("users").start()
    notifications = cluster.service("notifications").start()
    first = [f"p{i:03d}" for i in range(20)]
    sign_up_many(users, first)
    wait_for(lambda: all_sent(cluster, len(first)), what="first batch sent")
    # The crash window, made certain: the events reached JetStream but the relay
    # died before marking them, so the restarted relay publishes them again.
    outbox = f'"{cluster.tag}_users".outbox'
    cluster.sql(
        f"UPDATE {outbox} SET published_at = NULL "  # noqa: S608
        f"WHERE position > (SELECT max(position) - 10 FROM {outbox})"
    )
    users.kill()
    # And a real kill while publishing: sign-ups in flight when the process dies.
    users.start()
    more = [f"q{i:03d}" for i in range(30)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_sign_up_until_killed, users, more)
        wait_for(lambda: cluster.count("users", "users") >= len(first) + 5, what="more sign-ups")
        users.kill()
        future.result()
    users.start()
    wait_for(
        lambda: cluster.count("users", "outbox", "published_at IS NULL") == 0,
        what="outbox drained after the restart",
    )
    # A sign-up whose answer the kill swallowed may still have committed: ask the table.
    users_table = f'"{cluster.tag}_users".users'
    everyone = str(cluster.sql(f"SELECT string_agg(username, ',') FROM {users_table}")).split(",")  # noqa: S608
    assert len(everyone) > len(first)
    # One message per event in the stream, one effect per event at the consumer.
    assert cluster.stream_messages("users") == len(everyone)
    wait_for(lambda: all_sent(cluster, len(everyone)), what="all sent")
    assert_each_sent_exactly_once(cluster, everyone)
    assert notifications.metric("panthera_events_handled_total", outcome="handled") == len(everyone)


def _sign_up_until_killed(users: Service, names: list[str]) -> list[str]:
    """Sign up one by one until the process disappears; the names that were created."""
    created = []
    for name in names:
        try:
            sign_up(users, name)
        except (httpx.TransportError, AssertionError):
            break
        created.append(name)
    return created
