"""Who is serving the machine's NATS and Redis: the guard that a test run left them alone."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MACHINE_PORTS = {"nats": 4222, "redis": 6379}


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on `port` (TCP state 0A), IPv4 and IPv6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def listener_pid(port: int) -> int | None:
    """The pid of the process listening on `port`, if this user may see it."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(entry.name)
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class Listeners:
    """The pid serving each of the machine's ports (None: nothing, or not ours to see)."""

    pids: dict[str, int | None]

    @classmethod
    def now(cls) -> Listeners:
        return cls({name: listener_pid(port) for name, port in MACHINE_PORTS.items()})

    def changes_since(
        self, before: Listeners, ports: Mapping[str, int] = MACHINE_PORTS
    ) -> list[str]:
        return [
            f"the machine's {name} (port {port}) was pid {before.pids[name]}, "
            f"is now {self.pids[name]}"
            for name, port in ports.items()
            if before.pids[name] is not None and before.pids[name] != self.pids[name]
        ]


class RedisSentinel:
    """A key written to the machine's Redis at the start of a run and read at its end:
    a Redis restarted or flushed during the run has lost it."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2)
        self.key = f"panthera-test-sentinel:{uuid.uuid4().hex}"
        self.placed = False

    def place(self) -> None:
        import redis

        try:
            self.placed = bool(self.client.set(self.key, "1", ex=24 * 3600))
        except redis.RedisError:
            self.placed = False  # no Redis on this machine: nothing to guard

    def kept(self) -> bool:
        """Whether the key survived; it is removed either way."""
        import redis

        if not self.placed:
            return True
        try:
            found = self.client.get(self.key) is not None
            self.client.delete(self.key)
        except redis.RedisError:
            return False
        finally:
            self.client.close()
        return found
