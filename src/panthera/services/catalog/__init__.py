"""The catalog service: products, categories, inventory, search and product media."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from panthera.kernel.cache import create_cache
from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.catalog import search
from panthera.services.catalog.api import media_files, router
from panthera.services.catalog.handlers import HANDLERS
from panthera.services.catalog.media_store import MEDIA_PATH, create_media_store
from panthera.services.catalog.media_worker import MediaWorker, in_background
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
    media = create_media_store(host.settings, settings)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(cache.close)
        stack.push_async_callback(media.close)
        runtime = CatalogRuntime(
            uow=host.uow, settings=settings, cache=cache, search=engine, media=media
        )
        if embedded_media_worker(host):
            await stack.enter_async_context(in_background(MediaWorker(runtime), host.bus))
        yield runtime


def embedded_media_worker(host: ServiceHost[CatalogRuntime]) -> bool:
    """Media jobs follow the bus: in-process, the catalog does them in the background;
    on JetStream, `panthera serve media-worker` processes take them from the queue."""
    return not host.settings.nats_url


spec: ServiceSpec[CatalogRuntime] = ServiceSpec(
    name="catalog",
    title="Catalog Service API",
    description="Products, categories, inventory and search.",
    router=router,
    root_router=media_files,
    migrations=Path(__file__).parent / "migrations",
    settings_type=CatalogSettings,
    route_prefixes=("/v1/products", "/v1/categories", MEDIA_PATH),
    runtime=catalog_runtime,
    transaction=CatalogTx,
    handlers=HANDLERS,
    outbox=outbox,
    inbox=inbox,
    tags=(
        {"name": "Products", "description": "Product information and search"},
        {"name": "Categories", "description": "The category tree"},
        {"name": "Inventory", "description": "Stock levels"},
        {"name": "Media", "description": "Product image files, cacheable forever"},
    ),
)
