"""Real HTTP for the edge tests: processes, clients from chosen addresses, raw chunked
bodies, and the services' own request counts."""

from __future__ import annotations

import http.client
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from panthera.testing.ports import free_port


@dataclass
class Process:
    """A `panthera serve NAME` process (for `gateway`: Envoy, once it has exec'd)."""

    name: str
    env: Mapping[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "panthera", "serve", self.name, "--port", str(self.port)],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, within: float = 180) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready within {within}s")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def client_at(base: str, address: str, **headers: str) -> httpx.Client:
    """A client the edge believes is at `address` (it trusts one proxy hop in these tests)."""
    return httpx.Client(base_url=base, timeout=30, headers={"X-Forwarded-For": address, **headers})


def requests_counted(service_url: str, method: str, route: str) -> float:
    """How many requests a service has answered on `route` (its Prometheus counter)."""
    text = httpx.get(f"{service_url}/metrics", timeout=10).text
    pattern = (
        rf'^panthera_http_requests_total\{{method="{method}",route="{re.escape(route)}",'
        rf'status="\d+"\}} ([\d.e+]+)$'
    )
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


def resident_bytes(base: str) -> float:
    """A process's resident memory, as its own /metrics reports it."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(r"^process_resident_memory_bytes ([\d.e+]+)$", text, re.MULTILINE)
    assert found, "no process_resident_memory_bytes in /metrics"
    return float(found.group(1))


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int


def post_chunked(port: int, path: str, *, total: int, extra: str = "") -> RawAnswer:
    """POST a chunked body of up to `total` bytes, stopping as soon as an answer arrives."""
    chunk = b" " * (64 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    try:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                f"Transfer-Encoding: chunked\r\n{extra}\r\n"
            ).encode()
        )
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered (or closed) before the body ended
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(chunk)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return RawAnswer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
            sent,
        )
    finally:
        sock.close()


def machine_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # no packet is sent for UDP
            address: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address
