"""Routes added flat answer and document themselves exactly as the same routers nested."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, status
from pydantic import BaseModel

from panthera.app import SERVICES
from panthera.kernel.flat_routes import include_flat


class Thing(BaseModel):
    id: int
    name: str


async def tenant(x_tenant: Annotated[str, Header()]) -> str:
    """A router-level dependency: every route below must still require it."""
    return x_tenant


def sample_router() -> APIRouter:
    things = APIRouter(
        prefix="/things",
        tags=["Things"],
        dependencies=[Depends(tenant)],
        responses={404: {"description": "No such thing"}},
    )

    @things.get("/{thingId}", response_model=Thing, summary="Get a thing")
    async def get_thing(thing_id: Annotated[int, Path(alias="thingId", ge=1)]) -> Any:
        if thing_id == 404:
            raise HTTPException(404, "none")
        return {"id": thing_id, "name": "lamp", "secret": "not in the model"}

    @things.post("", status_code=status.HTTP_201_CREATED, max_body_size=64)
    async def add_thing(thing: Thing) -> Thing:
        return thing

    root = APIRouter()
    root.include_router(things)
    return root


def nested() -> FastAPI:
    app = FastAPI()
    app.include_router(sample_router(), prefix="/v1")
    return app


def flat() -> FastAPI:
    app = FastAPI()
    include_flat(app, sample_router(), prefix="/v1")
    return app


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/things/7", {"headers": {"x-tenant": "a"}}),
    ("GET", "/v1/things/7", {}),  # the router's dependency refuses: 422
    ("GET", "/v1/things/0", {"headers": {"x-tenant": "a"}}),  # path validation
    ("GET", "/v1/things/404", {"headers": {"x-tenant": "a"}}),
    ("POST", "/v1/things", {"headers": {"x-tenant": "a"}, "json": {"id": 1, "name": "x"}}),
    ("POST", "/v1/things", {"headers": {"x-tenant": "a"}, "json": {"id": 1, "name": "x" * 80}}),
    ("DELETE", "/v1/things/7", {"headers": {"x-tenant": "a"}}),  # 405
    ("GET", "/v1/nothing", {}),  # 404
]


async def answers(app: FastAPI) -> list[tuple[int, bytes]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        found = []
        for method, path, options in REQUESTS:
            response = await client.request(method, path, **options)
            found.append((response.status_code, response.content))
        return found


async def test_flat_routes_answer_as_nested_ones() -> None:
    expected = await answers(nested())
    assert [code for code, _ in expected] == [200, 422, 422, 404, 201, 413, 405, 404]
    assert await answers(flat()) == expected


def test_flat_routes_document_themselves_as_nested_ones() -> None:
    assert flat().openapi() == nested().openapi()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_documents_the_same_api_flat(name: str) -> None:
    spec = SERVICES[name]
    apps = [FastAPI(title=spec.title), FastAPI(title=spec.title)]
    apps[0].include_router(spec.router, prefix="/v1")
    include_flat(apps[1], spec.router, prefix="/v1")
    if spec.root_router is not None:
        apps[0].include_router(spec.root_router)
        include_flat(apps[1], spec.root_router)
    assert apps[1].openapi() == apps[0].openapi()
