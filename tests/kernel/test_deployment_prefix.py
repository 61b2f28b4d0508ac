"""Two deployments sharing one Redis share no rate-limit counter and no cache entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from panthera.app import Platform, create_platform
from panthera.kernel.settings import Settings
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.testing.servers import PrivateServer
from tests.conftest import GENEROUS_GATEWAY, STRONG_PASSWORD, fast_service_settings, log_in, sign_up
from tests.services.catalog.conftest import make_product


def test_the_prefix_follows_the_stores_unless_named(tmp_path: Path) -> None:
    pg = "postgresql://postgres@127.0.0.1:5432/shop"
    same = Settings(database_url=pg, schema_prefix="a_", data_dir=tmp_path / "one")
    again = Settings(database_url=pg.replace("://", "+asyncpg://"), schema_prefix="a_")
    other_schemas = Settings(database_url=pg, schema_prefix="b_")
    other_database = Settings(database_url=pg.replace("/shop", "/shop2"), schema_prefix="a_")
    assert same.redis_prefix == again.redis_prefix  # every process of one deployment agrees
    assert len({same.redis_prefix, other_schemas.redis_prefix, other_database.redis_prefix}) == 3
    assert (
        Settings(data_dir=tmp_path / "x").redis_prefix != Settings(data_dir=tmp_path).redis_prefix
    )
    assert Settings(deployment="eu-shop").redis_prefix == "panthera:eu-shop:"


def test_a_bad_deployment_name_is_refused() -> None:
    with pytest.raises(ValueError, match="deployment"):
        Settings(deployment="two words")


@pytest.fixture
async def two_shops(
    tmp_path: Path, private_redis: PrivateServer
) -> AsyncIterator[list[tuple[Platform, httpx.AsyncClient]]]:
    shops = []
    async with AsyncExitStack() as stack:
        for name in ("north", "south"):
            settings = Settings(
                data_dir=tmp_path / name,
                redis_url=private_redis.url,
                log_json=True,
                log_level="WARNING",
                admin_email="root@example.com",
                admin_password=STRONG_PASSWORD,
            )
            platform = create_platform(
                settings,
                service_settings=fast_service_settings(login_limit_per_account="3/minute"),
                gateway_settings=GENEROUS_GATEWAY,
            )
            await stack.enter_async_context(platform.running())
            transport = httpx.ASGITransport(app=platform.app, client=("203.0.113.7", 50000))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://testserver")
            )
            shops.append((platform, http))
        yield shops


@pytest.mark.integration
async def test_login_counters_are_per_deployment(
    two_shops: list[tuple[Platform, httpx.AsyncClient]],
) -> None:
    (_north, north), (_south, south) = two_shops
    for http in (north, south):
        await sign_up(http, "carol")
    wrong = {"email": "carol@example.com", "password": "Wrong-Passw0rd"}
    answers = [(await north.post("/v1/auth/login", json=wrong)).status_code for _ in range(4)]
    assert answers == [401, 401, 429, 429]  # the sign-up's own login was the first of three
    # The same account name in the other shop has its own counter.
    assert (await south.post("/v1/auth/login", json=wrong)).status_code == 401
    right = {"email": "carol@example.com", "password": STRONG_PASSWORD}
    assert (await south.post("/v1/auth/login", json=right)).status_code == 200


@pytest.mark.integration
async def test_cache_entries_and_every_key_are_per_deployment(
    two_shops: list[tuple[Platform, httpx.AsyncClient]], private_redis: PrivateServer
) -> None:
    (north_platform, north), (south_platform, _south) = two_shops
    admin = await log_in(north, "root@example.com", STRONG_PASSWORD)
    product = await make_product(north, admin, "Lamp", stock=3)
    assert (await north.get(f"/v1/products/{product['id']}")).status_code == 200

    def catalog(platform: Platform) -> CatalogRuntime:
        runtime = platform.hosts["catalog"].runtime
        assert isinstance(runtime, CatalogRuntime)
        return runtime

    key = f"product:{product['id']}"
    assert await catalog(north_platform).cache.get(key) is not None
    assert await catalog(south_platform).cache.get(key) is None

    client = aioredis.Redis.from_url(private_redis.url)
    try:
        keys = [k.decode() async for k in client.scan_iter(count=1000)]
    finally:
        await client.aclose()
    prefixes = {p.hosts["users"].settings.redis_prefix for p in (north_platform, south_platform)}
    assert len(prefixes) == 2
    assert keys, "the shops wrote nothing to Redis"
    strays = [k for k in keys if not any(k.startswith(p) for p in prefixes)]
    assert strays == []
