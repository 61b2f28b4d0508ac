"""`panthera up` as a real process on a real socket, stopped and started again."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from panthera.testing.ports import free_port
from panthera.testing.processes import panthera, running

pytestmark = pytest.mark.e2e

PASSWORD = "StrongPassword123!"
ADMIN = {"PANTHERA_ADMIN_EMAIL": "admin@example.com", "PANTHERA_ADMIN_PASSWORD": "Admin-Passw0rd"}


def _login(base: str, email: str, password: str) -> dict[str, str]:
    response = httpx.post(f"{base}/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def test_sign_up_log_in_list_then_restart_keeps_everyone(tmp_path: Path) -> None:
    port, data = free_port(), tmp_path / "data"
    args = ("up", "--port", str(port), "--data-dir", str(data))
    log = tmp_path / "up.log"
    with running(*args, port=port, log=log, env=ADMIN) as base:
        anonymous = httpx.get(f"{base}/v1/users")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.json()["status"] == 401
        signed_up = httpx.post(
            f"{base}/v1/users",
            json={"username": "john.doe", "email": "john.doe@example.com", "password": PASSWORD},
        )
        assert signed_up.status_code == 201, signed_up.text
        me = httpx.get(
            f"{base}/v1/users/me", headers=_login(base, "john.doe@example.com", PASSWORD)
        )
        assert me.json()["username"] == "john.doe"
        admin = _login(base, "admin@example.com", "Admin-Passw0rd")
        before = httpx.get(f"{base}/v1/users", headers=admin).json()
        assert before["total"] == 2
        assert "swagger-ui" in httpx.get(f"{base}/docs").text

    # Restart on the same data directory, without the admin variables this time.
    with running(*args, port=port, log=log) as base:
        _login(base, "john.doe@example.com", PASSWORD)
        admin = _login(base, "admin@example.com", "Admin-Passw0rd")
        after = httpx.get(f"{base}/v1/users", headers=admin).json()
        assert after == before
    assert '"event": "request"' in log.read_text()


def test_admin_create_command(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    # Before the first start: `migrate` creates the deployment's stores.
    assert panthera("migrate", "users", "--data-dir", data).returncode == 0
    created = panthera(
        "admin",
        "create",
        "--email",
        "boss@example.com",
        "--password",
        "Admin-Passw0rd",
        "--data-dir",
        data,
    )
    assert created.returncode == 0, created.stderr
    assert "boss@example.com" in created.stdout
    again = panthera(
        "admin",
        "create",
        "--email",
        "boss@example.com",
        "--password",
        "Admin-Passw0rd",
        "--data-dir",
        data,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    weak = panthera(
        "admin", "create", "--email", "weak@example.com", "--password", "weak", "--data-dir", data
    )
    assert weak.returncode == 2
    assert "password" in weak.stderr
    port = free_port()
    with running(
        "up", "--port", str(port), "--data-dir", data, port=port, log=tmp_path / "up.log"
    ) as base:
        admin = _login(base, "boss@example.com", "Admin-Passw0rd")
        assert httpx.get(f"{base}/v1/users", headers=admin).json()["users"][0]["role"] == "admin"
