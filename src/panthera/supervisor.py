"""`panthera up --distributed`: the real topology on one machine, with one command.

Every service (and each of its replicas) and the gateway (Envoy) run as their
own `panthera serve` processes on PostgreSQL, NATS JetStream and Redis. The
supervisor starts them, restarts any that dies (with a growing delay), and
stops them all on Ctrl-C or SIGTERM. A process that keeps failing the same way
as it starts is not restarted forever: the supervisor says which and why, and stops.

The supervisor binds each service's listening socket itself and hands it to the
child (uvicorn serves an inherited socket): a port, once planned, is held for the
platform's life, so no outgoing connection can take it in between, and requests
wait in the socket's backlog while a child restarts. Envoy binds its own ports.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import structlog

from panthera.kernel.settings import Settings

log = structlog.get_logger("panthera.supervisor")

SERVICE_ORDER = ("users", "catalog", "orders", "notifications", "web", "media-worker")
WORKERS = frozenset({"media-worker"})
"""Processes that take their work from the queue: no upstream of the edge."""
DEFAULTS = {
    "PANTHERA_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/panthera",
    "PANTHERA_NATS_URL": "nats://127.0.0.1:4222",
    "PANTHERA_REDIS_URL": "redis://127.0.0.1:6379/0",
}
ENVOY_PORTS = ("PANTHERA_GATEWAY__ADMIN_PORT", "PANTHERA_GATEWAY__STATS_PORT")
# A child that exits this many times in a row, each time this soon after starting and
# with the same exit code, will fail the same way again: it is reported, not restarted.
GIVE_UP_AFTER = 5
QUICK_EXIT_SECONDS = 10.0


@dataclass
class Child:
    name: str
    service: str
    port: int
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    bind_host: str = "127.0.0.1"
    listener: socket.socket | None = None  # bound by the supervisor, inherited by the child
    quick_exits: list[int] = field(default_factory=list)  # exit codes of the failing streak
    last_output: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=12)
    )
    forwarder: asyncio.Task[None] | None = None  # passes its output on

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def parse_replicas(text: str) -> dict[str, int]:
    """`orders=2,notifications=2` -> {"orders": 2, "notifications": 2}."""
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition("=")
        if name not in SERVICE_ORDER or not count.isdigit() or not 1 <= int(count) <= 8:
            raise ValueError(f"bad replica count {part!r}: use SERVICE=N with N from 1 to 8")
        counts[name] = int(count)
    return counts


def plan(
    *,
    gateway_port: int,
    replicas: Mapping[str, int],
    host: str,
    base_env: Mapping[str, str],
    bind: bool = False,
) -> list[Child]:
    """Which processes to run, on which ports, with which configuration.

    `bind`: the supervisor's own plan, whose services' sockets are bound here and held;
    without it the ports are only chosen (for processes started by something else)."""
    env = {**DEFAULTS, **{k: v for k, v in base_env.items() if k.startswith("PANTHERA_")}}
    env["PANTHERA_TOPOLOGY"] = "distributed"
    children: list[Child] = []
    port = gateway_port
    for service in SERVICE_ORDER:
        for replica in range(1, replicas.get(service, 1) + 1):
            listener = None
            if bind:
                listener = listen_from(port + 1)
                port = listener.getsockname()[1]
            else:
                # Bound later by a process started elsewhere (a container): nothing holds
                # the port meanwhile, so it comes from below the ephemeral range, as Envoy's.
                port = unheld_port_from(port + 1)
            children.append(Child(f"{service}-{replica}", service, port, {}, listener=listener))
    urls: dict[str, list[str]] = {}
    for child in children:
        if child.service not in WORKERS:
            urls.setdefault(child.service, []).append(child.url)
    env["PANTHERA_USERS_URL"] = urls["users"][0]
    env["PANTHERA_ORDERS__CATALOG_URL"] = urls["catalog"][0]
    # The web calls the API through the edge, as any client does.
    env.setdefault("PANTHERA_WEB__API_URL", f"http://127.0.0.1:{gateway_port}")
    for child in children:
        child.env = dict(env)
    gateway_env = dict(env)
    gateway_env["PANTHERA_GATEWAY__UPSTREAMS"] = json.dumps(urls)
    # The edge is Envoy: its admin interface (loopback) and stats listener need ports too.
    for variable in ENVOY_PORTS:
        if variable not in gateway_env:
            port = unheld_port_from(port + 1)
            gateway_env[variable] = str(port)
    # Only the gateway faces clients; the services listen on loopback.
    children.append(Child("gateway", "gateway", gateway_port, gateway_env, bind_host=host))
    return children


def listen_from(port: int) -> socket.socket:
    """A listening socket on the first port from `port` on that can be bound."""
    while True:
        sock = socket.socket()
        # As uvicorn would: a restart must not wait for the old connections' TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(2048)
        except OSError:
            sock.close()
            port += 1
            continue
        sock.set_inheritable(True)
        return sock


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def unheld_port_from(port: int) -> int:
    """A port for a process that binds it itself once started (Envoy, a container): nothing
    holds it meanwhile, so it is taken from below the ephemeral range, where no outgoing
    connection lands.
    (A random start keeps several platforms starting at once out of each other's way.)"""
    low, high = _ephemeral_range()
    if low <= port <= high and low > 11_000:
        port = random.randrange(low - 10_000, low - 1_000)
    return _free_port_from(port)


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_from(port: int) -> int:
    """The first port from `port` on that nothing listens on: a taken one would crash a child."""
    while True:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                port += 1
                continue
        return port


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist yet."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    target = make_url(url.replace("postgresql+asyncpg://", "postgresql://"))
    name = target.database or "postgres"
    admin_dsn = target.set(database="postgres").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn.replace("postgresql+asyncpg", "postgresql"))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
            log.info("database_created", database=name)
    finally:
        await connection.close()


async def check_dependencies(settings: Settings) -> list[str]:
    """What the distributed topology cannot reach, each as a line a person can act on."""
    problems = []
    if not settings.database_url or not settings.database_url.startswith("postgres"):
        problems.append("PANTHERA_DATABASE_URL must be a postgresql:// URL")
    else:
        try:
            await asyncio.wait_for(ensure_database(settings.database_url), timeout=10)
        except Exception as exc:
            problems.append(f"PostgreSQL at {_where(settings.database_url)}: {exc}")
    from panthera.gateway.process import EnvoyMissing, envoy_binary
    from panthera.gateway.settings import GatewaySettings

    try:
        envoy_binary(GatewaySettings())
    except EnvoyMissing as exc:
        problems.append(f"the edge: {exc}")
    for name, url, variable in (
        ("NATS", settings.nats_url, "PANTHERA_NATS_URL"),
        ("Redis", settings.redis_url, "PANTHERA_REDIS_URL"),
    ):
        if not url:
            problems.append(f"{name}: set {variable}")
            continue
        try:
            host, port = _host_port(url)
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
            writer.close()
        except (OSError, TimeoutError) as exc:
            problems.append(
                f"{name} at {host}:{port} is not reachable ({exc}); start it or set {variable}"
            )
    return problems


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlsplit(url)
    default = {"nats": 4222, "redis": 6379, "rediss": 6379}.get(parsed.scheme, 5432)
    return parsed.hostname or "127.0.0.1", parsed.port or default


PROMETHEUS_TARGETS = "prometheus-targets.json"


def prometheus_targets(children: Sequence[Child]) -> list[dict[str, object]]:
    """Every process as a Prometheus file-based discovery entry (deploy/prometheus/)."""
    entries: list[dict[str, object]] = []
    for child in children:
        labels = {"service": child.service, "process": child.name, "topology": "distributed"}
        # The edge on Envoy serves its metrics on a listener of its own.
        stats = child.env.get("PANTHERA_GATEWAY__STATS_PORT")
        port = int(stats) if stats else child.port
        entries.append({"targets": [f"127.0.0.1:{port}"], "labels": labels})
    return entries


def _where(url: str) -> str:
    host, port = _host_port(url)
    return f"{host}:{port}"


class ChildFailing(RuntimeError):
    """A child that keeps failing the same way as it starts."""


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        *,
        state_file: Path | None = None,
        json_logs: bool = True,
        backoff: float = 0.5,
        quick_exit_seconds: float = QUICK_EXIT_SECONDS,
    ) -> None:
        """`backoff`: the first restart's delay, doubled for each quick exit in a row.
        `quick_exit_seconds`: an exit this soon after starting is a failure to start."""
        self.children = list(children)
        self.stopping = asyncio.Event()
        self.state_file = state_file
        self.failure: ChildFailing | None = None
        self.json_logs = json_logs
        self.backoff = backoff
        self.quick_exit_seconds = quick_exit_seconds

    def _write_state(self) -> None:
        """Where each process listens and its pid, for operators and failure tests."""
        if self.state_file is None:
            return
        state = {
            child.name: {
                "service": child.service,
                "url": child.url,
                "restarts": child.restarts,
                "pid": child.process.pid if child.process else None,
            }
            for child in self.children
        }
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.state_file)
        targets = self.state_file.with_name(PROMETHEUS_TARGETS)
        targets.with_suffix(".tmp").write_text(json.dumps(prometheus_targets(self.children)))
        targets.with_suffix(".tmp").replace(targets)

    def _command(self, child: Child) -> list[str]:
        command = [sys.executable, "-m", "panthera", "serve", child.service]
        if child.listener is not None:
            return [*command, "--fd", str(child.listener.fileno())]
        return [*command, "--port", str(child.port), "--host", child.bind_host]

    def _move_envoy_ports(self, child: Child) -> None:
        """Envoy binds its admin and stats ports itself; one taken meanwhile (an outgoing
        connection in the ephemeral range) is replaced and published before a restart."""
        for variable in ENVOY_PORTS:
            port = int(child.env.get(variable, "0"))
            if port and not _bindable(port):
                taken = {int(c.env.get(v, "0")) for c in self.children for v in ENVOY_PORTS}
                new = unheld_port_from(port + 1)
                while new in taken or new == child.port:
                    new = unheld_port_from(new + 1)
                child.env[variable] = str(new)
                log.warning("port_moved", process=child.name, setting=variable, old=port, new=new)

    async def start(self, child: Child) -> None:
        if child.service == "gateway":
            self._move_envoy_ports(child)
        fds = (child.listener.fileno(),) if child.listener is not None else ()
        child.process = await asyncio.create_subprocess_exec(
            *self._command(child),
            env={**os.environ, **child.env},
            pass_fds=fds,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        child.started_at = time.monotonic()
        child.forwarder = asyncio.create_task(self._forward(child, child.process))
        self._write_state()
        log.info("process_started", process=child.name, pid=child.process.pid, url=child.url)

    async def _forward(self, child: Child, process: asyncio.subprocess.Process) -> None:
        """Pass the child's log lines on unchanged, keeping its last few for a report."""
        assert process.stderr is not None
        while True:
            try:
                line = await process.stderr.readline()
            except ValueError:  # a line beyond the limit: pass on what was read
                line = await process.stderr.read(1 << 20)
            if not line:
                return
            sys.stderr.buffer.write(line)
            sys.stderr.flush()
            child.last_output.append(line.decode(errors="replace").rstrip())

    async def watch(self, child: Child) -> None:
        """Restart `child` whenever it exits, until the supervisor stops or the child keeps
        failing the same way."""
        while not self.stopping.is_set():
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping.is_set():
                return
            if child.forwarder is not None:  # its last lines, for a report
                await asyncio.wait([child.forwarder], timeout=5)
            child.restarts += 1
            quick = time.monotonic() - child.started_at < self.quick_exit_seconds
            same = not child.quick_exits or child.quick_exits[-1] == code
            streak = [*child.quick_exits, code] if same else [code]
            child.quick_exits = streak if quick else []
            if len(child.quick_exits) >= GIVE_UP_AFTER:
                self._give_up(child, code)
                return
            # A process that keeps crashing at start is retried ever more slowly.
            delay = self.backoff * 2 ** len(child.quick_exits) if quick else self.backoff
            delay = min(30.0, delay)
            log.warning(
                "process_exited",
                process=child.name,
                code=code,
                restarts=child.restarts,
                restart_in=delay,
            )
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)
                return
            except TimeoutError:
                await self.start(child)

    def _give_up(self, child: Child, code: int) -> None:
        self.failure = ChildFailing(
            f"{child.name} exited {len(child.quick_exits)} times in a row within "
            f"{self.quick_exit_seconds:.0f} s of starting, each time with exit code {code}; "
            "it would fail the same way again, so the platform stops. Its last lines:\n    "
            + "\n    ".join(child.last_output or ["(none)"])
        )
        log.error(
            "process_failing",
            process=child.name,
            code=code,
            attempts=len(child.quick_exits),
            last_output=list(child.last_output),
        )
        self.stopping.set()

    async def wait_ready(self, within: float = 90) -> bool:
        deadline = time.monotonic() + within
        pending = list(self.children)
        async with httpx.AsyncClient(timeout=2) as http:
            while pending and time.monotonic() < deadline and not self.stopping.is_set():
                still = []
                for child in pending:
                    try:
                        ready = (await http.get(f"{child.url}/readyz")).status_code == 200
                    except httpx.HTTPError:
                        ready = False
                    if not ready:
                        still.append(child)
                pending = still
                if pending:
                    await asyncio.sleep(0.5)
        return not pending

    def _say_ready(self) -> None:
        gateway = next(c for c in self.children if c.service == "gateway")
        if self.json_logs:
            log.info(
                "platform_ready",
                topology="distributed",
                api=f"{gateway.url}/v1",
                docs=f"{gateway.url}/docs",
                shop=f"{gateway.url}/",
                admin=f"{gateway.url}/admin",
                processes={c.name: c.url for c in self.children},
            )
            return
        lines = [f"  {c.name:<16} {c.url}" for c in self.children]
        print(
            "PantheraConnect (distributed) is ready:\n"
            + "\n".join(lines)
            + f"\n  API: {gateway.url}/v1  docs: {gateway.url}/docs"
            + f"\n  shop: {gateway.url}/  admin: {gateway.url}/admin",
            file=sys.stderr,
            flush=True,
        )

    async def stop(self) -> None:
        self.stopping.set()
        live = [c for c in self.children if c.process and c.process.returncode is None]
        for child in live:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        for child in live:
            assert child.process is not None
            try:
                await asyncio.wait_for(child.process.wait(), timeout=15)
            except TimeoutError:
                child.process.kill()
                await child.process.wait()
        forwarders = [c.forwarder for c in self.children if c.forwarder is not None]
        if forwarders:
            await asyncio.wait(forwarders, timeout=5)
        for child in self.children:
            if child.listener is not None:
                child.listener.close()
        log.info("all_processes_stopped")

    async def run(self) -> None:
        """Run until Ctrl-C or SIGTERM; raises ChildFailing when a child keeps failing."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stopping.set)
        for child in self.children:
            await self.start(child)
        watchers = [asyncio.create_task(self.watch(child)) for child in self.children]
        if await self.wait_ready():
            self._say_ready()
        elif not self.stopping.is_set():
            log.warning("not_all_processes_ready")
        await self.stopping.wait()
        await self.stop()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        if self.failure is not None:
            raise self.failure
