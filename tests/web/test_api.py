"""The web's client of the public API: over HTTP it names the visitor to the edge in
X-Forwarded-For (the edge believes it from the web's addresses only, docs/edge.md), so
per-client limits count visitors, not the web."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from panthera.web.api import Api
from tests.upstream import upstream_server


async def test_over_http_each_call_names_the_visitor_it_is_made_for() -> None:
    with upstream_server() as edge:
        api = Api.over_http(edge.url, timeout=5)
        try:
            await api.request("GET", "/v1/products", client_address="198.51.100.7")
            await api.request("GET", "/v1/products", client_address="198.51.100.8")
            await api.request("GET", "/v1/products")  # the web's own call: no visitor
        finally:
            await api.aclose()
    forwarded = [received.headers.get("x-forwarded-for") for received in edge.requests]
    assert forwarded == ["198.51.100.7", "198.51.100.8", None]


async def test_in_process_the_visitor_is_the_connections_client_and_no_header_is_sent() -> None:
    async def echo(request: Request) -> JSONResponse:
        client = request.client.host if request.client else None
        return JSONResponse({"client": client, "xff": request.headers.get("x-forwarded-for")})

    app = Starlette(routes=[Route("/v1/echo", echo)])
    api = Api.in_process(lambda: app, timeout=5)
    try:
        answer = await api.request("GET", "/v1/echo", client_address="198.51.100.9")
    finally:
        await api.aclose()
    assert answer.json() == {"client": "198.51.100.9", "xff": None}
