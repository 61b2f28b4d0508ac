"""What a service is to the platform: a spec, and a host that runs it.

A service package exposes one `ServiceSpec` in its `__init__`. The composition
root turns specs into `ServiceHost`s; a host owns the service's database,
migrates it, runs the service's own start-up, and builds its ASGI app. The
same host runs alone (`panthera serve`) or mounted in the embedded gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic_settings import BaseSettings

from panthera.kernel import migrations
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.database import Database
from panthera.kernel.errors import install_error_handlers
from panthera.kernel.openapi import install_openapi
from panthera.kernel.settings import Settings

API_PREFIX = "/v1"


class ServiceSettings(BaseSettings):
    """Settings every service has; subclasses set `env_prefix="PANTHERA_<NAME>__"`."""

    database_url: str | None = None


Lifespan = Callable[["ServiceHost"], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def no_lifespan(_host: ServiceHost) -> AsyncIterator[None]:
    yield


@dataclass(frozen=True)
class ServiceSpec:
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
    lifespan: Lifespan = no_lifespan
    tags: Sequence[dict[str, Any]] = field(default_factory=tuple)


class ServiceHost:
    def __init__(
        self,
        spec: ServiceSpec,
        settings: Settings,
        verifier: TokenVerifier,
        service_settings: ServiceSettings | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.verifier = verifier
        self.service_settings = service_settings or spec.settings_type()
        self.db = Database(
            settings.database_url_for(spec.name, self.service_settings.database_url),
            schema=settings.schema_for(spec.name),
        )
        self.app = self._build_app()

    def _build_app(self) -> FastAPI:
        app = FastAPI(
            title=self.spec.title,
            description=self.spec.description,
            version="1.0.0",
            openapi_tags=list(self.spec.tags) or None,
            docs_url=None,
            redoc_url=None,
            lifespan=lambda _app: self.running(),
        )
        app.state.host = self
        install_error_handlers(app)
        install_openapi(app)
        app.include_router(self.spec.router, prefix=API_PREFIX)
        if self.spec.root_router is not None:
            app.include_router(self.spec.root_router)
        return app

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Migrate, start the service's own machinery, and clean up afterwards."""
        try:
            await migrations.upgrade(self.db, self.spec.migrations, self.spec.name)
            async with self.spec.lifespan(self):
                yield
        finally:
            await self.db.dispose()

    async def ready(self) -> None:
        await self.db.ping()
