"""One OpenAPI document for the whole platform, merged from each service's own, and the
page that shows it. Any process can build both from the services' specs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from panthera import __version__
from panthera.gateway.table import DOCS_ASSETS, PLATFORM_DOCS_PREFIX
from panthera.kernel.openapi import install_openapi
from panthera.kernel.service import API_PREFIX, ServiceSpec

TITLE = "PantheraConnect API"
SWAGGER_UI = Path(__file__).parent / "swagger_ui"
"""npm's `swagger-ui-dist`, vendored with its licence (scripts/vendor-swagger-ui)."""
_MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


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
    """Swagger UI from the package's own files: nothing is fetched from another site."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=TITLE,
        swagger_js_url="/docs/swagger-ui-bundle.js",
        swagger_css_url="/docs/swagger-ui.css",
        swagger_favicon_url="/docs/favicon-32x32.png",
    )


def _asset(name: str) -> Any:
    path = SWAGGER_UI / name
    media_type = _MEDIA_TYPES[path.suffix]

    async def asset() -> FileResponse:
        # Versioned with the package: a day's caching is safe and spares the edge.
        return FileResponse(
            path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    asset.__name__ = f"docs_asset_{path.stem.replace('-', '_')}"
    return asset


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

    for name in DOCS_ASSETS:
        router.add_api_route(f"/docs/{name}", _asset(name), methods=["GET"])

    return router
