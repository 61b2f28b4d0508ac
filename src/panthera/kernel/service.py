"""What a service is to the platform: a spec, and a host that runs it.

A service package exposes one `ServiceSpec` in its `__init__`. The composition
root turns specs into `ServiceHost`s; a host owns the service's database, its
outbox and its unit of work, migrates it, builds the service's typed runtime
(the spec's `runtime` factory, an async context manager), and builds its ASGI
app. The same host runs alone (`panthera serve`) or mounted in the embedded
gateway.

Events: a host subscribes its service's `handlers` to the bus while it runs
(`running`), and relays its `outbox` to the bus (`relaying`). The gateway
starts every host before any relay, so that in-process delivery never misses
a consumer that is merely starting late.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from pydantic_settings import BaseSettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from panthera.contracts import EventContract
from panthera.contracts.users import SessionsRevoked
from panthera.kernel import dependencies, migrations
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.bus import EventBus, create_bus
from panthera.kernel.consumer import Consumer, Handler
from panthera.kernel.database import Database
from panthera.kernel.errors import install_error_handlers
from panthera.kernel.events import Event, Received
from panthera.kernel.flat_routes import include_flat
from panthera.kernel.http_client import Peers
from panthera.kernel.openapi import install_openapi
from panthera.kernel.ops import ops_router
from panthera.kernel.outbox import Outbox
from panthera.kernel.relay import OutboxRelay
from panthera.kernel.routes import method_not_allowed
from panthera.kernel.settings import Settings
from panthera.kernel.startup import wait_until_available
from panthera.kernel.uow import Transaction, UnitOfWork

API_PREFIX = "/v1"


class ServiceSettings(BaseSettings):
    """Settings every service has; subclasses set `env_prefix="PANTHERA_<NAME>__"`."""

    database_url: str | None = None


RuntimeT = TypeVar("RuntimeT")


@dataclass(frozen=True)
class ServiceMetrics:
    """How the host feeds a service's own metrics (its `metrics.py`)."""

    start: Callable[[], None] = lambda: None
    """Creates every labelled series at zero, once the service runs in this process."""
    committed: Callable[[Sequence[Event]], None] | None = None
    """Hears the events of each transaction that committed in this process (counters)."""
    scrape: Callable[[UnitOfWork[Any]], Awaitable[None]] | None = None
    """Updates gauges read from the service's database, before each scrape of `/metrics`."""


RuntimeFactory = Callable[["ServiceHost[RuntimeT]"], AbstractAsyncContextManager[RuntimeT]]
Observer = Callable[[Received[Any], RuntimeT], Awaitable[None]]


@dataclass(frozen=True)
class ServiceSpec(Generic[RuntimeT]):
    name: str
    title: str
    description: str
    router: APIRouter
    migrations: Path
    settings_type: type[ServiceSettings]
    route_prefixes: tuple[str, ...]
    """Public path prefixes the gateway sends to this service."""
    root_router: APIRouter | None = None
    """Routes served outside `/v1`, such as `/.well-known/jwks.json`."""
    runtime: RuntimeFactory[RuntimeT] | None = None
    """Builds the service's runtime (its use cases' collaborators) once migrated, and
    tears it down at the end; handlers and routes receive what it yields."""
    transaction: Callable[..., Transaction] = Transaction
    """The service's `Transaction` subclass, naming its repositories."""
    tags: Sequence[dict[str, Any]] = field(default_factory=tuple)
    handlers: Mapping[type[EventContract], Handler] = field(default_factory=dict)
    """Event contract class -> handler; handled through `inbox`, which is then required."""
    observers: Mapping[type[EventContract], Observer[RuntimeT]] = field(default_factory=dict)
    """Event contract class -> `observer(received, runtime)`, heard by EVERY process of the
    service (no queue group, no inbox, best-effort): for in-memory state, never for data."""
    metrics: ServiceMetrics | None = None
    """The service's own metrics (orders placed, sends...) beside the kernel's."""
    outbox: sa.Table | None = None
    """The service's outbox table: set it and the host relays its events to the bus."""
    inbox: sa.Table | None = None
    readiness: Callable[[RuntimeT], Awaitable[None]] | None = None
    """Raises when a dependency of the runtime's own (beyond database and bus) is down."""


class ServiceHost(Generic[RuntimeT]):
    def __init__(
        self,
        spec: ServiceSpec[RuntimeT],
        settings: Settings,
        verifier: TokenVerifier,
        service_settings: ServiceSettings | None = None,
        *,
        bus: EventBus | None = None,
        standalone: bool = False,
        peers: Peers | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.verifier = verifier
        self.service_settings = service_settings or spec.settings_type()
        self.db = Database(
            settings.database_url_for(spec.name, self.service_settings.database_url),
            schema=settings.schema_for(spec.name),
        )
        self.bus = bus or create_bus(settings)
        self.standalone = standalone
        self.peers = peers or Peers()
        """Other services' HTTP APIs; the composition root may wire in-process ones."""
        self.outbox = Outbox(spec.outbox, source=spec.name) if spec.outbox is not None else None
        self.uow: UnitOfWork[Any] = UnitOfWork(self.db, spec.transaction, outbox=self.outbox)
        self._runtime: RuntimeT | None = None
        self.consumer: Consumer | None = None
        if spec.handlers:
            if spec.inbox is None:
                raise ValueError(f"service {spec.name} has handlers but no inbox table")
            self.consumer = Consumer(
                name=spec.name,
                uow=self.uow,
                inbox=spec.inbox,
                handlers=spec.handlers,
                runtime=lambda: self.runtime,
            )
        self.relay: OutboxRelay | None = None
        if self.outbox is not None:
            self.relay = OutboxRelay(
                service=spec.name, db=self.db, outbox=self.outbox, bus=self.bus
            )
            self.bus.attach_outbox(spec.name, self.db, self.outbox.table)
        if spec.metrics is not None:
            self._feed_metrics(spec.metrics)
        self.app = self._build_app()

    def _feed_metrics(self, metrics: ServiceMetrics) -> None:
        metrics.start()
        if metrics.committed is not None and self.outbox is not None:
            self.outbox.observe(metrics.committed)

    def _scraping(self, stack: AsyncExitStack) -> None:
        """Update the service's gauges at each scrape while the host runs (not after: its
        database is gone then)."""
        scrape = self.spec.metrics.scrape if self.spec.metrics is not None else None
        if scrape is not None:
            name = f"{self.spec.name}-{id(self)}"
            stack.callback(dependencies.at_scrape(name, lambda: scrape(self.uow)))

    @property
    def runtime(self) -> RuntimeT:
        """What the spec's runtime factory built; exists while the host runs."""
        if self._runtime is None:
            raise RuntimeError(f"the {self.spec.name} service is not running")
        return self._runtime

    def _build_app(self) -> FastAPI:
        app = FastAPI(
            # The process's ObservabilityMiddleware makes the one server span, the metrics
            # and the access log; FastAPI's own would double them, on every request.
            telemetry={"tracing": False, "metrics": False, "logs": False},
            title=self.spec.title,
            description=self.spec.description,
            version="1.0.0",
            openapi_tags=list(self.spec.tags) or None,
            docs_url=None,
            redoc_url=None,
            lifespan=lambda _app: self.serving(),
        )
        app.state.host = self
        install_error_handlers(app)
        app.add_exception_handler(405, method_not_allowed)
        install_openapi(app)
        # Flat, not nested: FastAPI walks nested routers twice per level on every request.
        if self.standalone:
            include_flat(app, ops_router(lambda: [(self.spec.name, self.ready)]))
        include_flat(app, self.spec.router, prefix=API_PREFIX)
        if self.spec.root_router is not None:
            include_flat(app, self.spec.root_router)
        return app

    @asynccontextmanager
    async def running(self, *, consume: bool = True) -> AsyncIterator[None]:
        """Migrate, start the service's own machinery and consumers, clean up afterwards.

        `consume=False` leaves the bus alone (tools such as `panthera events replay`).
        """
        within = self.settings.startup_wait_seconds
        try:
            await wait_until_available(
                "database", self.db.ping, service=self.spec.name, within=within
            )
            await migrations.upgrade(self.db, self.spec.migrations, self.spec.name)
            async with AsyncExitStack() as stack:
                await wait_until_available(
                    "message bus", self.bus.connect, service=self.spec.name, within=within
                )
                stack.push_async_callback(self.bus.close)
                if self.spec.runtime is not None:
                    self._runtime = await stack.enter_async_context(self.spec.runtime(self))
                    stack.callback(setattr, self, "_runtime", None)
                self._scraping(stack)
                if self.consumer is not None and consume:
                    unsubscribe = await self.bus.subscribe(
                        consumer=self.consumer.name,
                        types=self.consumer.types,
                        deliver=self.consumer.handle,
                    )
                    stack.push_async_callback(unsubscribe)
                if consume:
                    # Every process hears revocations, whatever its service: its verifier
                    # must refuse the user's older tokens (the users service also writes
                    # them to the shared store at once; this is the copy of last resort).
                    stack.push_async_callback(
                        await self.bus.observe(
                            types=[SessionsRevoked.TYPE], deliver=self._remember_revocation
                        )
                    )
                if self.spec.observers and consume:
                    stack.push_async_callback(
                        await self.bus.observe(
                            types=[contract.TYPE for contract in self.spec.observers],
                            deliver=self._observe,
                        )
                    )
                yield
        finally:
            await self.db.dispose()

    async def _remember_revocation(self, event: Event) -> None:
        revoked = SessionsRevoked.model_validate(event.data)
        await self.verifier.revocations.revoke_below(revoked.user_id, revoked.token_version)

    async def _observe(self, event: Event) -> None:
        for contract, observer in self.spec.observers.items():
            if event.type == contract.TYPE and event.version == contract.VERSION:
                await observer(Received(event, contract.model_validate(event.data)), self.runtime)

    @asynccontextmanager
    async def relaying(self) -> AsyncIterator[None]:
        """Publish the service's outbox while inside (enter after `running`)."""
        if self.relay is None:
            yield
            return
        async with self.relay.running():
            yield

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """The host alone in its process: running, and relaying."""
        async with self.running(), self.relaying():
            settle_heap()
            yield

    async def ready(self) -> None:
        await self.db.ping()
        await self.bus.ping()
        if self.spec.readiness is not None:
            await self.spec.readiness(self.runtime)


YOUNG_OBJECTS_BEFORE_COLLECTION = 10_000
"""Python's default is 700: a few requests' worth. Objects that live one request (most of
them) would be promoted towards the oldest generation before they die, which brings its
full collections round sooner."""


def settle_heap() -> None:
    """Keep the garbage collector's pauses out of the requests' latency (call once started).

    A service's heap after startup (modules, models, routes, SQLAlchemy's caches) is about
    a million objects that live as long as the process. A full collection walks them all:
    0.1 to 1 s on this class of machine, every second or so under load, each one a stall of
    every request in flight (the p99 of a read was 5 to 10 times its p50). Frozen, they are
    never walked again; a larger youngest generation lets a request's objects die young.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTION, middle, oldest)


async def runtime_of(request: Request) -> Any:
    """The runtime of the service serving `request`: its use cases' collaborators.

    Routes type it with an alias, e.g. `Runtime = Annotated[OrdersRuntime, Depends(runtime_of)]`.
    Async although it awaits nothing: FastAPI runs a plain function dependency in a worker
    thread, two thread hand-offs per request for an attribute read.
    """
    return request.app.state.host.runtime


def settling_heap_once_started(app: ASGIApp) -> ASGIApp:
    """`app` whose heap is settled (`settle_heap`) once its lifespan has started: for the
    embedded platform's server process, whose startup is the app's lifespan. Not applied
    in-process by tests, which start many platforms in one interpreter."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def settled_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                settle_heap()
            await send(message)

        await app(scope, receive, settled_send)

    return wrapped
