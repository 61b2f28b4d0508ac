"""A real SMTP server (aiosmtpd) in a thread of the test process, keeping what it receives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from panthera.testing.ports import free_port


class Sink:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)

    def by_notification(self) -> dict[str, int]:
        """How many copies of each notification arrived."""
        counts: dict[str, int] = {}
        for message in self.received():
            key = str(message["X-Panthera-Notification"])
            counts[key] = counts.get(key, 0) + 1
        return counts


@contextmanager
def smtp_server() -> Iterator[tuple[str, Sink]]:
    """An SMTP server on a free local port: its smtp:// URL and what it received."""
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", sink
    finally:
        controller.stop()
