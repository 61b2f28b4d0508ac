"""Public reads say how long caches may keep them, carry an ETag, and answer 304."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Response

from panthera.kernel.http_cache import PublicReads
from panthera.kernel.routes import RouteRules, edge, rules_of

PUBLIC = edge(cache_control="public, max-age=5")


def app_with_public_reads(calls: list[str]) -> PublicReads:
    app = FastAPI()

    @app.get("/tagged", openapi_extra=PUBLIC)
    async def tagged(response: Response) -> dict[str, str]:
        calls.append("tagged")
        response.headers["ETag"] = '"7"'
        return {"name": "kettle"}

    @app.get("/listing", openapi_extra=PUBLIC)
    async def listing() -> list[int]:
        calls.append("listing")
        return [1, 2, 3]

    @app.get("/missing", openapi_extra=PUBLIC)
    async def missing(response: Response) -> dict[str, str]:
        response.status_code = 404
        return {"detail": "no"}

    @app.get("/private")
    async def private() -> dict[str, str]:
        return {"secret": "s"}

    return PublicReads(app, rules=RouteRules(rules_of([(app.router, "")])))


async def test_anonymous_and_signed_in_reads_get_their_cache_control() -> None:
    transport = httpx.ASGITransport(app=app_with_public_reads([]))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        anonymous = await client.get("/tagged")
        signed_in = await client.get("/tagged", headers={"Authorization": "Bearer x"})
        undeclared = await client.get("/private")
        failed = await client.get("/missing")
    assert anonymous.headers["cache-control"] == "public, max-age=5"
    assert anonymous.headers["etag"] == '"7"' and anonymous.json() == {"name": "kettle"}
    assert signed_in.headers["cache-control"] == "private, no-cache"
    assert "cache-control" not in undeclared.headers and "etag" not in undeclared.headers
    assert failed.status_code == 404 and "cache-control" not in failed.headers


async def test_if_none_match_gets_304_without_a_body() -> None:
    calls: list[str] = []
    transport = httpx.ASGITransport(app=app_with_public_reads(calls))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        same = await client.get("/tagged", headers={"If-None-Match": 'W/"7", "9"'})
        other = await client.get("/tagged", headers={"If-None-Match": '"8"'})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == '"7"' and same.headers["cache-control"] == "public, max-age=5"
    assert "content-length" not in same.headers or same.headers["content-length"] == "0"
    assert other.status_code == 200 and other.json() == {"name": "kettle"}


async def test_an_answer_without_its_own_etag_gets_a_weak_one_from_its_body() -> None:
    transport = httpx.ASGITransport(app=app_with_public_reads([]))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.get("/listing")
        again = await client.get("/listing", headers={"If-None-Match": first.headers["etag"]})
    assert first.headers["etag"].startswith('W/"') and first.json() == [1, 2, 3]
    assert again.status_code == 304 and again.content == b""
