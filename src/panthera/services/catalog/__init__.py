"""The catalog service: products, categories, inventory and search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from panthera.kernel.cache import create_cache
from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.catalog import events, search
from panthera.services.catalog.api import router
from panthera.services.catalog.models import inbox, outbox
from panthera.services.catalog.service import CatalogRuntime
from panthera.services.catalog.settings import CatalogSettings


async def build_runtime(host: ServiceHost[Any]) -> CatalogRuntime:
    """The catalog's collaborators; call once the database is migrated."""
    settings = host.service_settings
    assert isinstance(settings, CatalogSettings)
    engine: search.SearchEngine
    if host.db.is_sqlite:
        engine = search.SqliteSearch()
    else:
        schema = None
        if settings.typo_tolerance:
            async with host.db.engine.connect() as conn:
                schema = await search.trigram_schema(conn)
        engine = search.PostgresSearch(trigram_schema=schema)
    return CatalogRuntime(
        db=host.db,
        settings=settings,
        cache=create_cache(
            settings.redis_url or host.settings.redis_url, prefix=settings.cache_prefix
        ),
        outbox=host.outbox,  # type: ignore[arg-type]
        search=engine,
    )


@asynccontextmanager
async def lifespan(host: ServiceHost[Any]) -> AsyncIterator[None]:
    runtime = await build_runtime(host)
    host.runtime = runtime  # what the event handlers receive
    try:
        yield
    finally:
        await runtime.cache.close()


spec: ServiceSpec[Any] = ServiceSpec(
    name="catalog",
    title="Catalog Service API",
    description="Products, categories, inventory and search.",
    router=router,
    migrations=Path(__file__).parent / "migrations",
    settings_type=CatalogSettings,
    route_prefixes=("/v1/products", "/v1/categories"),
    lifespan=lifespan,
    handlers=events.HANDLERS,
    outbox=outbox,
    inbox=inbox,
    tags=(
        {"name": "Products", "description": "Product information and search"},
        {"name": "Categories", "description": "The category tree"},
        {"name": "Inventory", "description": "Stock levels"},
    ),
)
