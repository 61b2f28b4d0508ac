"""The real delivery channels against real servers: an HTTP SMS provider and an SMTP server.

The SMS provider is a small HTTP server of the test's own that records every
request; the SMTP server is aiosmtpd, with authentication and TLS (a
self-signed certificate the test trusts through SSL_CERT_FILE, as an operator
would trust a private CA).
"""

from __future__ import annotations

import dataclasses
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from panthera.services.notifications.channels import (
    Email,
    HttpSmsChannel,
    PermanentFailure,
    Sms,
    SmtpEmailChannel,
)
from panthera.services.notifications.sender import deliver_due
from panthera.services.notifications.store import Notification
from panthera.testing.ports import free_port
from tests.gateway.test_envoy import self_signed
from tests.services.notifications.fakes import Harness, harness
from tests.services.notifications.smtp import Sink
from tests.services.notifications.test_sender import queue_welcome
from tests.upstream import Answer, Upstream, upstream_server

TOKEN = "sms-provider-token"


@pytest.fixture
def provider() -> Iterator[Upstream]:
    with upstream_server(Answer(202, {"id": "msg_1"})) as server:
        yield server


async def test_an_sms_is_posted_with_its_shape_auth_and_idempotency_key(
    provider: Upstream,
) -> None:
    channel = HttpSmsChannel(f"{provider.url}/v1/messages", token=TOKEN)
    await channel.send(Sms(id="n-1", to="+15555550100", body="Your order shipped"))
    [request] = provider.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["idempotency-key"] == "n-1"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "to": "+15555550100",
        "body": "Your order shipped",
        "reference": "n-1",
    }


async def test_without_a_token_no_authorization_is_sent(provider: Upstream) -> None:
    await HttpSmsChannel(provider.url, token=None).send(Sms(id="n-2", to="+1555", body="hi"))
    assert "authorization" not in provider.requests[0].headers


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_a_transient_answer_is_an_error_to_retry(provider: Upstream, status: int) -> None:
    provider.answer_next(Answer(status))
    with pytest.raises(httpx.HTTPStatusError):
        await HttpSmsChannel(provider.url, token=TOKEN).send(Sms(id="n", to="+1", body="x"))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_a_refusal_is_permanent(provider: Upstream, status: int) -> None:
    provider.answer_next(Answer(status, {"error": "no"}))
    with pytest.raises(PermanentFailure, match=f"HTTP {status}"):
        await HttpSmsChannel(provider.url, token=TOKEN).send(Sms(id="n", to="+1", body="x"))


async def queue_sms(h: Harness, provider: Upstream) -> Notification:
    """A queued SMS, sent by the real HTTP channel to the test's provider."""
    email = await queue_welcome(h)
    sms = dataclasses.replace(email, id=uuid.uuid4(), channel="sms", to="+15555550100")
    h.store.items = {sms.id: sms}
    h.rt = dataclasses.replace(h.rt, sms=HttpSmsChannel(provider.url, token=TOKEN))
    return sms


async def test_the_sender_retries_an_sms_after_a_5xx(provider: Upstream) -> None:
    h = harness(max_attempts=3, retry_base_seconds=2.0)
    sms = await queue_sms(h, provider)
    provider.answer_next(Answer(503))
    assert await deliver_due(rt=h.rt) == 1
    waiting = h.store.items[sms.id]
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert "503" in (waiting.last_error or "")
    h.clock.advance(2)
    assert await deliver_due(rt=h.rt) == 1
    assert h.store.items[sms.id].status == "sent"
    assert provider.calls == 2


async def test_the_sender_fails_an_sms_the_provider_refuses_without_retrying(
    provider: Upstream,
) -> None:
    h = harness(max_attempts=5, retry_base_seconds=2.0)
    sms = await queue_sms(h, provider)
    provider.answer_next(Answer(400, {"error": "invalid number"}))
    assert await deliver_due(rt=h.rt) == 1
    failed = h.store.items[sms.id]
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "PermanentFailure: the SMS provider refused it: HTTP 400"
    h.clock.advance(3600)
    assert await deliver_due(rt=h.rt) == 0
    assert provider.calls == 1


# -- SMTP with authentication and TLS ------------------------------------------------------
USER, PASSWORD = "panthera", "s3cret pass"


def _authenticate(
    _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


class ImplicitTlsController(Controller):
    """aiosmtpd's auth_require_tls knows only STARTTLS; on smtps the whole session is TLS."""

    def factory(self) -> SMTP:
        server: SMTP = super().factory()  # type: ignore[no-untyped-call]
        server._auth_require_tls = False
        return server


@contextmanager
def tls_smtp_server(directory: Path, *, implicit: bool) -> Iterator[tuple[int, Sink]]:
    """aiosmtpd demanding authentication over TLS: implicit (smtps) or by STARTTLS."""
    cert, key = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink, port = Sink(), free_port()
    tls: dict[str, Any] = (
        {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
    )
    controller = (ImplicitTlsController if implicit else Controller)(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_required=True,
        auth_require_tls=True,
        server_hostname="localhost",
        **tls,
    )
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


@pytest.fixture
def trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The directory whose self-signed certificate this test's TLS clients trust."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "edge.crt"))
    return tmp_path


def an_email() -> Email:
    return Email(id=str(uuid.uuid4()), to="dave@example.com", subject="Hi", text="Hello", html=None)


@pytest.mark.parametrize("implicit", [True, False], ids=["smtps", "starttls"])
async def test_smtp_with_authentication_and_tls(trusted: Path, implicit: bool) -> None:
    with tls_smtp_server(trusted, implicit=implicit) as (port, sink):
        scheme = "smtps" if implicit else "smtp"
        url = f"{scheme}://{USER}:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}"
        email = an_email()
        await SmtpEmailChannel(url, sender="shop@example.com").send(email)
        [received] = sink.received()
    assert received["X-Panthera-Notification"] == email.id
    assert received["To"] == "dave@example.com"


async def test_smtp_without_credentials_sends_nothing(trusted: Path) -> None:
    """The server demands authentication: the credentials in the URL are what it accepted."""
    with tls_smtp_server(trusted, implicit=True) as (port, sink):
        url = f"smtps://127.0.0.1:{port}"
        with pytest.raises(aiosmtplib.SMTPSenderRefused, match="530"):
            await SmtpEmailChannel(url, sender="shop@example.com").send(an_email())
        assert sink.received() == []


async def test_smtp_refuses_a_server_whose_certificate_it_does_not_trust(tmp_path: Path) -> None:
    with tls_smtp_server(tmp_path, implicit=True) as (port, sink):
        url = f"smtps://{USER}:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}"
        with pytest.raises(aiosmtplib.SMTPConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await SmtpEmailChannel(url, sender="shop@example.com").send(an_email())
        assert sink.received() == []
