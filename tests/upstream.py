"""A small real HTTP server for tests: scripted answers, every request recorded.

Adapters that call another system over HTTP (the breaker's upstream, an SMS
provider, a JWKS endpoint) are tested against this server on a real socket, so
a test can count the calls that actually arrived instead of trusting timings.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: keeps a call in flight
    hang_up: bool = False  # close the connection without an answer (a transport error)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Upstream:
    """Answers from a script (then `default`); `requests` is what reached the socket."""

    def __init__(self, default: Answer) -> None:
        self.default = default
        self.script: deque[Answer] = deque()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self.url = ""

    def answer_next(self, *answers: Answer) -> None:
        with self._lock:
            self.script.extend(answers)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def _take(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            return self.script.popleft() if self.script else self.default


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = upstream._take(Received(self.command, self.path, headers, body))
            if answer.delay:
                time.sleep(answer.delay)
            if answer.hang_up:
                self.close_connection = True
                return
            payload = b"" if answer.body is None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows what the test asserts, not an access log."""

    return Handler


@contextmanager
def upstream_server(default: Answer | None = None) -> Iterator[Upstream]:
    """Serve on a free loopback port in a thread; stopped and closed on exit."""
    upstream = Upstream(default or Answer())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
    server.daemon_threads = True
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
