"""The catalog service: products, categories, inventory and search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from panthera.kernel.cache import create_cache
from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.catalog import search
from panthera.services.catalog.api import router
from panthera.services.catalog.handlers import HANDLERS
from panthera.services.catalog.models import inbox, outbox
from panthera.services.catalog.repository import CatalogTx
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.settings import CatalogSettings


@asynccontextmanager
async def catalog_runtime(host: ServiceHost[CatalogRuntime]) -> AsyncIterator[CatalogRuntime]:
    """The catalog's collaborators, once its database is migrated."""
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
    cache = create_cache(
        settings.redis_url or host.settings.redis_url,
        prefix=host.settings.redis_prefix + settings.cache_prefix,
    )
    try:
        yield CatalogRuntime(uow=host.uow, settings=settings, cache=cache, search=engine)
    finally:
        await cache.close()


spec: ServiceSpec[CatalogRuntime] = ServiceSpec(
    name="catalog",
    title="Catalog Service API",
    description="Products, categories, inventory and search.",
    router=router,
    migrations=Path(__file__).parent / "migrations",
    settings_type=CatalogSettings,
    route_prefixes=("/v1/products", "/v1/categories"),
    runtime=catalog_runtime,
    transaction=CatalogTx,
    handlers=HANDLERS,
    outbox=outbox,
    inbox=inbox,
    tags=(
        {"name": "Products", "description": "Product information and search"},
        {"name": "Categories", "description": "The category tree"},
        {"name": "Inventory", "description": "Stock levels"},
    ),
)
