"""Bodies are bounded while they stream, by each route's own limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request

from panthera.kernel.body_limit import BodyLimit
from panthera.kernel.errors import install_error_handlers
from panthera.kernel.routes import MIB, RouteRules, rules_of
from tests.conftest import assert_problem

DEFAULT = 64 * 1024


def guarded_app(seen: list[int]) -> BodyLimit:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/json")
    async def json_body(body: dict[str, Any]) -> dict[str, int]:
        seen.append(len(body))
        return {"keys": len(body)}

    @app.post("/upload", max_body_size=4 * MIB)
    async def upload(request: Request) -> dict[str, int]:
        size = len(await request.body())
        seen.append(size)
        return {"size": size}

    rules = RouteRules(rules_of([(app.router, "")]))
    return BodyLimit(app, rules=rules, default=DEFAULT)


class Chunks:
    """A request body produced lazily: counts what the server pulled before answering."""

    def __init__(self, total: int, chunk: int = 16 * 1024) -> None:
        self.total, self.chunk, self.produced = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.produced < self.total:
            self.produced += self.chunk
            yield b" " * self.chunk


async def test_a_declared_length_over_the_limit_is_refused_before_the_route_runs() -> None:
    seen: list[int] = []
    transport = httpx.ASGITransport(app=guarded_app(seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post("/json", content=b"{" + b" " * DEFAULT + b"}")
    assert str(DEFAULT) in assert_problem(answer, 413)["detail"]
    assert seen == []


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit() -> None:
    seen: list[int] = []
    body = Chunks(total=200 * MIB)
    transport = httpx.ASGITransport(app=guarded_app(seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post("/json", content=body)
    assert_problem(answer, 413)
    assert seen == []
    assert body.produced <= DEFAULT + body.chunk  # read up to the limit, not 200 MB


async def test_a_route_with_a_larger_limit_takes_a_larger_body_and_no_more() -> None:
    seen: list[int] = []
    transport = httpx.ASGITransport(app=guarded_app(seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        fits = await client.post("/upload", content=Chunks(total=2 * MIB))
        too_big = await client.post("/upload", content=b"x" * (4 * MIB + 1))
        streamed_too_big = await client.post("/upload", content=Chunks(total=8 * MIB))
    assert fits.json() == {"size": 2 * MIB}
    assert_problem(too_big, 413)
    assert_problem(streamed_too_big, 413)
    assert seen == [2 * MIB]
