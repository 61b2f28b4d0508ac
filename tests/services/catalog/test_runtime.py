"""How the catalog's adapters follow configuration."""

from __future__ import annotations

from panthera.app import local_verifier
from panthera.kernel.cache import MemoryCache, RedisCache
from panthera.kernel.service import ServiceHost
from panthera.kernel.settings import Settings
from panthera.services import catalog
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.search import PostgresSearch, SqliteSearch, words
from tests.kernel.test_cache import REDIS_URL


async def runtime(settings: Settings) -> tuple[CatalogRuntime, str]:
    # The catalog's host alone: other parts of the platform have their own Redis needs.
    host = ServiceHost(catalog.spec, settings, local_verifier(settings))
    async with host.running():
        rt: CatalogRuntime = host.runtime
        return rt, type(rt.cache).__name__


async def test_panthera_redis_url_chooses_the_cache(settings: Settings, db_backend: str) -> None:
    rt, kind = await runtime(settings)
    assert kind == MemoryCache.__name__
    assert isinstance(rt.search, SqliteSearch if db_backend == "sqlite" else PostgresSearch)
    if db_backend == "postgresql":
        assert isinstance(rt.search, PostgresSearch) and rt.search.trigram_schema == "public"
    _, kind = await runtime(settings.model_copy(update={"redis_url": REDIS_URL}))
    assert kind == RedisCache.__name__


def test_search_sees_only_words() -> None:
    assert words('Shoe" OR name:boot* -sock (NEAR) __x__') == [
        "shoe",
        "or",
        "name",
        "boot",
        "sock",
        "near",
        "x",
    ]
    assert words("!!! ''' ---") == []
    assert words("a a A") == ["a"]
    assert len(words(" ".join(f"w{i}" for i in range(50)))) == 12
