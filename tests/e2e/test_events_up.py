"""`panthera up` as a real process: a sign-up produces a welcome email in the Maildir."""

from __future__ import annotations

import mailbox
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from panthera.testing.ports import free_port
from panthera.testing.processes import running

pytestmark = pytest.mark.e2e

PASSWORD = "StrongPassword123!"


def test_sign_up_through_up_sends_the_welcome_to_the_maildir(tmp_path: Path) -> None:
    port, data = free_port(), tmp_path / "data"
    args = ("up", "--port", str(port), "--data-dir", str(data))
    with running(*args, port=port, log=tmp_path / "up.log") as base:
        signed_up = httpx.post(
            f"{base}/v1/users",
            json={"username": "newbie", "email": "newbie@example.com", "password": PASSWORD},
        )
        assert signed_up.status_code == 201, signed_up.text
        login = httpx.post(
            f"{base}/v1/auth/login", json={"email": "newbie@example.com", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}

        deadline = time.monotonic() + 5
        sent: list[dict[str, Any]] = []
        while not sent and time.monotonic() < deadline:
            listed = httpx.get(f"{base}/v1/notifications", headers=headers)
            assert listed.status_code == 200, listed.text
            sent = [n for n in listed.json()["notifications"] if n["status"] == "sent"]
            if not sent:
                time.sleep(0.05)
        assert [n["template"] for n in sent] == ["welcome"], "no welcome sent within 5 s"

        messages = list(mailbox.Maildir(data / "mail", create=False))
        assert [m["To"] for m in messages] == ["newbie@example.com"]
        assert messages[0]["X-Panthera-Notification"] == sent[0]["id"]
        metrics = httpx.get(f"{base}/metrics").text
        assert 'panthera_outbox_backlog{service="users"}' in metrics
