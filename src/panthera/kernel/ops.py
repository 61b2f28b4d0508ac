"""Operational routes every process serves outside `/v1`: liveness, readiness, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from panthera.kernel import dependencies
from panthera.kernel.errors import problem

ReadinessCheck = tuple[str, Callable[[], Awaitable[None]]]


def ops_router(checks: Callable[[], Sequence[ReadinessCheck]]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        """Every dependency answers within two seconds."""
        failures: dict[str, str] = {}
        for name, check in checks():
            try:
                await asyncio.wait_for(check(), timeout=2)
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"[:200]
        if failures:
            return problem(
                request, 503, "Some dependencies are unavailable", extra={"checks": failures}
            )
        return Response('{"status":"ready"}', media_type="application/json")

    @router.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics of this process."""
        await dependencies.refresh()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
