"""Product reads through the cache: Redis in the distributed topology, memory otherwise."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from panthera.kernel.cache import MemoryCache, RedisCache
from panthera.kernel.service import ServiceSettings
from panthera.services.catalog import inventory, schemas
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.settings import CatalogSettings
from panthera.testing.ports import free_port
from tests.conftest import Account, fast_service_settings
from tests.kernel.test_cache import REDIS_URL
from tests.services.catalog.conftest import make_product


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.integration),
        pytest.param("redis-down", marks=pytest.mark.integration),
    ]
)
def cache_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def service_settings(cache_kind: str) -> dict[str, ServiceSettings]:
    # The catalog's own Redis setting, which overrides PANTHERA_REDIS_URL for its cache only.
    redis_url = {
        "memory": None,
        "redis": REDIS_URL,
        "redis-down": f"redis://127.0.0.1:{free_port()}/0",
    }[cache_kind]
    return {
        **fast_service_settings(),
        "catalog": CatalogSettings(redis_url=redis_url, cache_prefix=f"test:{uuid.uuid4().hex}:"),
    }


@pytest.fixture
async def cached(catalog: CatalogRuntime, cache_kind: str) -> AsyncIterator[CatalogRuntime]:
    expected = MemoryCache if cache_kind == "memory" else RedisCache
    assert isinstance(catalog.cache, expected)
    yield catalog


async def cached_entry(rt: CatalogRuntime, product_id: str) -> bytes | None:
    return await rt.cache.get(f"product:{product_id}")


async def test_reads_fill_the_cache_and_changes_empty_it(
    client: httpx.AsyncClient, admin: Account, cached: CatalogRuntime, cache_kind: str
) -> None:
    product = await make_product(client, admin, "Lamp", stock=3)
    pid = product["id"]
    first = await client.get(f"/v1/products/{pid}")
    assert first.status_code == 200
    if cache_kind == "redis-down":
        assert await cached_entry(cached, pid) is None
    else:
        assert await cached_entry(cached, pid) is not None

    changes = [
        client.put(f"/v1/products/{pid}", json={"name": "Desk lamp"}, headers=admin.headers),
        client.put(f"/v1/products/{pid}/stock", json={"available": 9}, headers=admin.headers),
    ]
    for change in changes:
        assert (await change).status_code == 200
        assert await cached_entry(cached, pid) is None
        await client.get(f"/v1/products/{pid}")
    read = (await client.get(f"/v1/products/{pid}")).json()
    assert read["name"] == "Desk lamp" and read["available"] == 9

    async with cached.uow.write() as tx:
        await inventory.reserve(
            tx=tx, cache=cached.cache, order_id="o-1", lines=[(uuid.UUID(pid), 4)]
        )
        # Not before the commit: a read now would cache the old stock again.
        assert await cached_entry(cached, pid) is not None or cache_kind == "redis-down"
    assert await cached_entry(cached, pid) is None
    assert (await client.get(f"/v1/products/{pid}")).json()["available"] == 5

    await client.delete(f"/v1/products/{pid}", headers=admin.headers)
    assert (await client.get(f"/v1/products/{pid}")).status_code == 404


async def test_reads_are_served_from_the_cache(
    client: httpx.AsyncClient, admin: Account, cached: CatalogRuntime, cache_kind: str
) -> None:
    product = await make_product(client, admin, "Chair")
    await client.get(f"/v1/products/{product['id']}")
    # Proof that the database is not asked: a planted entry is what comes back.
    planted = schemas.Product.model_validate({**product, "name": "From the cache"})
    await cached.cache.set(
        f"product:{product['id']}", planted.model_dump_json().encode(), ttl_seconds=60
    )
    served = (await client.get(f"/v1/products/{product['id']}")).json()["name"]
    # With Redis down nothing is cached: every read is the database's, and succeeds.
    assert served == ("Chair" if cache_kind == "redis-down" else "From the cache")
    await cached.cache.set(f"product:{product['id']}", b"not json", ttl_seconds=60)
    assert (await client.get(f"/v1/products/{product['id']}")).json()["name"] == "Chair"


async def test_a_hit_answers_exactly_what_the_database_read_answered(
    client: httpx.AsyncClient, admin: Account, cached: CatalogRuntime, cache_kind: str
) -> None:
    product = await make_product(client, admin, "Teapot", stock=2)
    path = f"/v1/products/{product['id']}"
    miss, hit = [await client.get(path) for _ in range(2)]
    assert hit.content == miss.content and hit.headers["etag"] == miss.headers["etag"] == '"1"'
    assert hit.headers["content-type"] == "application/json"
    assert schemas.Product.model_validate_json(hit.content).name == "Teapot"
    assert miss.json() == {k: v for k, v in product.items()}  # as the write answered it
    assert "createdAt" in hit.json() and "created_at" not in hit.json()
    etag = hit.headers["etag"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
