"""Stop and start the machine's NATS and Redis, for failure tests.

The start commands are the ones the machine itself uses; `scripts/ensure-services`
uses the same, so a test that fails half-way leaves nothing stopped for long.
"""

from __future__ import annotations

import socket
import subprocess
import time

NATS_START = [
    "start-stop-daemon",
    "--start",
    "--oknodo",
    "--background",
    "--exec",
    "/usr/sbin/nats-server",
    "--",
    "-a",
    "127.0.0.1",
    "-p",
    "4222",
    "-js",
    "-sd",
    "/var/lib/nats-server",
    "-l",
    "/var/log/nats-server.log",
]
NATS_STOP = [
    "start-stop-daemon",
    "--stop",
    "--oknodo",
    "--retry",
    "10",
    "--exec",
    "/usr/sbin/nats-server",
]
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]
REDIS_STOP = ["redis-cli", "-p", "6379", "shutdown", "nosave"]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(port: int, *, up: bool, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while listening(port) != up:
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} did not go {'up' if up else 'down'}")
        time.sleep(0.1)


def stop_nats() -> None:
    subprocess.run(NATS_STOP, check=False, capture_output=True)
    _wait(4222, up=False)


def start_nats() -> None:
    subprocess.run(NATS_START, check=True, capture_output=True)
    _wait(4222, up=True)


def stop_redis() -> None:
    subprocess.run(REDIS_STOP, check=False, capture_output=True)
    _wait(6379, up=False)


def start_redis() -> None:
    subprocess.run(REDIS_START, check=True, capture_output=True)
    _wait(6379, up=True)
