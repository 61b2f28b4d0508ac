"""Private NATS (JetStream) and Redis servers on free ports, for tests that stop them.

A test that takes a broker or a cache away must never touch the machine's own
(stopping `nats-server` by its binary stops every one on the machine; a Redis
`SHUTDOWN` loses its data). These start their own server from the binary on the
machine, with their data in a directory of the test's, and stop it by its pid.
`stop()` and `start()` again keep the port and the data, as an outage would.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from panthera.testing.ports import free_port, listening


class ServerMissing(RuntimeError):
    pass


@dataclass
class PrivateServer:
    """One server process of ours: started, stopped and started again on the same port."""

    name: str
    binary: str
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "nats" if self.name == "nats" else "redis"
        suffix = "/0" if scheme == "redis" else ""
        return f"{scheme}://127.0.0.1:{self.port}{suffix}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def command(self) -> list[str]:
        if self.name == "nats":
            store = self.directory / "jetstream"
            return [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)]
        return [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]

    def start(self, within: float = 20) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / f"{self.name}.log").open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (a binary found on PATH, our arguments)
                self.command(), stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + within
        while not listening(self.port):
            if self.process.poll() is not None:
                log = (self.directory / f"{self.name}.log").read_text(errors="replace")
                raise RuntimeError(f"{self.name} on port {self.port} exited: {log[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self.name} did not listen on {self.port} in {within}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it as an outage would: SIGTERM (SIGKILL after 10 s), and wait for the port."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 10
        while listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ServerMissing(f"{name} is not installed: the tests that stop a server need it")
    return found


def nats_server(directory: Path) -> PrivateServer:
    """A JetStream server of our own, not started yet."""
    return PrivateServer("nats", _binary("nats-server"), directory)


def redis_server(directory: Path) -> PrivateServer:
    """A Redis of our own, not started yet."""
    return PrivateServer("redis", _binary("redis-server"), directory)


@contextmanager
def private_server(name: str, directory: Path) -> Iterator[PrivateServer]:
    """`name` is "nats" or "redis"; the server runs until the block ends."""
    binaries = {"nats": "nats-server", "redis": "redis-server"}
    server = PrivateServer(name, _binary(binaries[name]), directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
