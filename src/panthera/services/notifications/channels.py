"""Delivery channels behind ports: email (SMTP or a Maildir) and SMS (HTTP or a log file)."""

from __future__ import annotations

import asyncio
import json
import mailbox
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx

from panthera.kernel.database import utcnow


@dataclass(frozen=True)
class Email:
    id: str
    """The notification id; it becomes the Message-ID, so a resend is recognisable."""
    to: str
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Sms:
    id: str
    to: str
    body: str


class PermanentFailure(Exception):
    """The provider refused the message itself: sending it again cannot succeed."""


class EmailChannel(Protocol):
    async def send(self, email: Email) -> None: ...


class SmsChannel(Protocol):
    async def send(self, sms: Sms) -> None: ...


def build_message(email: Email, *, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(idstring=email.id, domain="panthera.local")
    message["X-Panthera-Notification"] = email.id
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


class SmtpEmailChannel:
    """Email through an SMTP server: smtp://[user:password@]host[:port], smtps:// for TLS."""

    def __init__(self, url: str, *, sender: str, timeout: float = 15.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"unsupported SMTP URL scheme {parts.scheme!r}")
        self.hostname = parts.hostname or "localhost"
        self.use_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout

    async def send(self, email: Email) -> None:
        await aiosmtplib.send(
            build_message(email, sender=self.sender),
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            # Plain smtp:// on a local relay needs no STARTTLS; one that offers it gets it.
            start_tls=None if not self.use_tls else False,
            timeout=self.timeout,
        )


class MaildirEmailChannel:
    """Email written to a local Maildir (embedded topology): any mail client can read it."""

    def __init__(self, path: Path, *, sender: str) -> None:
        self.path = path
        self.sender = sender

    def _deliver(self, message: EmailMessage) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.Maildir(self.path, create=True)
        try:
            box.add(mailbox.MaildirMessage(message))
        finally:
            box.close()

    async def send(self, email: Email) -> None:
        await asyncio.to_thread(self._deliver, build_message(email, sender=self.sender))


TRANSIENT_4XX = frozenset({408, 425, 429})
"""Client errors that mean "not now" (timeout, too early, too many): worth retrying."""


class HttpSmsChannel:
    """SMS through an HTTP provider: POST {to, body, reference} with a bearer token.

    A 5xx or a transport error is retried by the sender; any other 4xx (a bad
    number, a bad token) would fail the same way again and fails the message at once.
    """

    def __init__(self, url: str, *, token: str | None, timeout: float = 15.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout

    async def send(self, sms: Sms) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(
                self.url,
                json={"to": sms.to, "body": sms.body, "reference": sms.id},
                headers={**headers, "Idempotency-Key": sms.id},
            )
            status = response.status_code
            if 400 <= status < 500 and status not in TRANSIENT_4XX:
                raise PermanentFailure(f"the SMS provider refused it: HTTP {status}")
            response.raise_for_status()


class LogFileSmsChannel:
    """SMS appended as JSON lines to a local file (embedded topology)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    async def send(self, sms: Sms) -> None:
        line = json.dumps(
            {"id": sms.id, "to": sms.to, "body": sms.body, "at": utcnow().isoformat()}
        )
        await asyncio.to_thread(self._append, line)
