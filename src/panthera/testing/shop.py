"""A running platform (either topology) and a client that shops on it, for e2e tests."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from panthera.testing.ports import free_port
from panthera.testing.processes import running

PASSWORD = "StrongPassword123!"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "Admin-Passw0rd"
ADDRESS = {
    "name": "W. Alker",
    "line1": "2 Long Road",
    "city": "Leeds",
    "postalCode": "LS1 1AA",
    "country": "GB",
}


@dataclass
class Platform:
    base: str
    data_dir: Path
    topology: str

    def processes(self) -> dict[str, Any]:
        """The supervisor's record of its processes (distributed topology)."""
        state: dict[str, Any] = json.loads((self.data_dir / "processes.json").read_text())
        return state


@contextmanager
def platform(
    tmp_path: Path,
    topology: str,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    ready_within: float = 120,
) -> Iterator[Platform]:
    """`panthera up` (embedded) or `panthera up --distributed`, isolated and cleaned up."""
    port, data_dir = free_port(), tmp_path / "data"
    full_env = {
        "PANTHERA_ADMIN_EMAIL": ADMIN_EMAIL,
        "PANTHERA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **(env or {}),
    }
    args = ["up", "--port", str(port), "--data-dir", str(data_dir), *extra_args]
    run = f"e{uuid.uuid4().hex[:8]}"
    if topology == "distributed":
        args.append("--distributed")
        full_env.update(
            {
                "PANTHERA_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
                "PANTHERA_SCHEMA_PREFIX": f"{run}_",
                "PANTHERA_EVENTS__STREAM_PREFIX": run.upper(),
                "PANTHERA_EVENTS__SUBJECT_PREFIX": run,
            }
        )
    try:
        with running(
            *args, port=port, log=tmp_path / "platform.log", env=full_env, ready_within=ready_within
        ) as base:
            yield Platform(base, data_dir, topology)
    finally:
        if topology == "distributed":
            from panthera.testing.cleanup import remove_run

            remove_run(run)


def wait_for(probe: Callable[[], Any], within: float = 30, every: float = 0.2) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            result = probe()
        except httpx.HTTPError as exc:  # a process restarting: ask again
            result = exc
        if result and not isinstance(result, Exception):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within}s: {result!r}")
        time.sleep(every)


class Shopper:
    """Real HTTP calls a client of the platform would make."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=15)

    def login(self, email: str, password: str) -> dict[str, str]:
        answer = self.http.post("/v1/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['accessToken']}"}

    def admin(self) -> dict[str, str]:
        return self.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    def sign_up(self, name: str) -> dict[str, str]:
        answer = self.http.post(
            "/v1/users",
            json={
                "username": name,
                "email": f"{name}@example.com",
                "password": PASSWORD,
                "phone": "+15551234567",
            },
        )
        assert answer.status_code == 201, answer.text
        return self.login(f"{name}@example.com", PASSWORD)

    def product(
        self,
        admin: dict[str, str],
        *,
        stock: int,
        name: str = "Trail running shoe",
        category_id: str | None = None,
    ) -> str:
        answer = self.http.post(
            "/v1/products",
            headers=admin,
            json={
                "sku": f"SKU-{uuid.uuid4().hex[:8]}",
                "name": name,
                "price": 8990,
                "currency": "EUR",
                "description": "Grippy and light, for muddy paths.",
                "stock": stock,
                **({"categoryId": category_id} if category_id else {}),
            },
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def order(
        self, who: dict[str, str], product: str, quantity: int = 1, token: str = "tok_visa"
    ) -> str:
        answer = self.http.post(
            "/v1/orders",
            headers={**who, "Idempotency-Key": uuid.uuid4().hex},
            json={
                "items": [{"productId": product, "quantity": quantity}],
                "shippingAddress": ADDRESS,
                "payment": {"token": token},
            },
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def status(self, who: dict[str, str], order_id: str) -> str:
        response = self.http.get(f"/v1/orders/{order_id}", headers=who).raise_for_status()
        return str(response.json()["status"])

    def settle(self, who: dict[str, str], order_id: str, within: float = 60) -> str:
        def decided() -> str | None:
            value = self.status(who, order_id)
            return None if value == "pending" else value

        return str(wait_for(decided, within))

    def notifications(self, who: dict[str, str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.http.get(
                "/v1/notifications", headers=who, params={"limit": 100, "page": page}
            )
            answer = response.raise_for_status().json()
            found += answer["notifications"]
            if len(found) >= answer["total"] or not answer["notifications"]:
                return found
            page += 1
