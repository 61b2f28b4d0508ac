"""One OpenAPI document for the whole platform, merged from each service's own, and the
page that shows it. Any process can build both from the services' specs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from panthera import __version__
from panthera.gateway.table import PLATFORM_DOCS_PREFIX
from panthera.kernel.openapi import install_openapi
from panthera.kernel.service import API_PREFIX, ServiceSpec

TITLE = "PantheraConnect API"


def merge_openapi(
    documents: Iterable[dict[str, Any]], *, title: str, version: str
) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Every service of PantheraConnect behind one gateway.",
        },
        "servers": [{"url": "/", "description": "This gateway"}],
        "paths": {},
        "tags": [],
        "components": {},
    }
    seen_tags: set[str] = set()
    for document in documents:
        merged["paths"].update(document.get("paths", {}))
        for tag in document.get("tags", []):
            if tag["name"] not in seen_tags:
                seen_tags.add(tag["name"])
                merged["tags"].append(tag)
        for section, entries in document.get("components", {}).items():
            merged["components"].setdefault(section, {}).update(entries)
    return merged


def service_openapi(spec: ServiceSpec[Any]) -> dict[str, Any]:
    """A service's document from its spec alone: no database, no process of its own."""
    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="1.0.0",
        openapi_tags=list(spec.tags) or None,
    )
    install_openapi(app)
    app.include_router(spec.router, prefix=API_PREFIX)
    if spec.root_router is not None:
        app.include_router(spec.root_router)
    return app.openapi()


def docs_page() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=TITLE)


def docs_router(specs: Sequence[ServiceSpec[Any]]) -> APIRouter:
    """`/platform/openapi.json` and `/platform/docs`, which the edge serves as
    `/openapi.json` and `/docs`."""
    router = APIRouter(prefix=PLATFORM_DOCS_PREFIX, include_in_schema=False)
    merged: dict[str, Any] = {}

    @router.get("/openapi.json")
    async def openapi() -> dict[str, Any]:
        if not merged:
            documents = [service_openapi(spec) for spec in specs]
            merged.update(merge_openapi(documents, title=TITLE, version=__version__))
        return merged

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return docs_page()

    return router
