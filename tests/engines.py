"""Private engines for tests that take a dependency down: never the machine's own.

A NATS or Redis server of the test's own on a free port, stopped by its process
id and started again on the same port; and a TCP relay in front of the
machine's PostgreSQL, whose stop is the database becoming unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class PrivateServer:
    """A server process on a fixed port: `start`, `stop` (SIGKILL, like a crash) and again."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None


def nats_server(directory: Path) -> PrivateServer:
    binary = shutil.which("nats-server")
    assert binary, "nats-server is not installed (scripts/install)"
    port = free_port()
    store = directory / "jetstream"
    argv = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    return PrivateServer("nats-server", argv, port, directory / "nats.log")


def redis_server(directory: Path) -> PrivateServer:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (scripts/install)"
    port = free_port()
    argv = [
        binary,
        *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)),
        *("--save", "", "--appendonly", "no"),
    ]
    return PrivateServer("redis-server", argv, port, directory / "redis.log")


class TcpRelay:
    """Forwards a local port to `target`; `stop` refuses new connections and cuts open ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update({writer, up_writer})

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._open.difference_update({writer, up_writer})
