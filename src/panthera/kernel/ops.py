"""Operational routes every process serves outside `/v1`: liveness, readiness, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from panthera.kernel import dependencies
from panthera.kernel.errors import problem

ReadinessCheck = tuple[str, Callable[[], Awaitable[object]]]
OK = "ok"
SKIPPED = "skipped"


def ops_router(checks: Callable[[], Sequence[ReadinessCheck]]) -> APIRouter:
    """`checks` name the process's own readiness (per hosted service); the dependencies
    the composition root declared for those services (`dependencies.watch`) are checked
    with them, each under `service.dependency`."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(
        request: Request, exclude: Annotated[list[str] | None, Query()] = None
    ) -> Response:
        """Every dependency answers within two seconds. `?exclude=redis` leaves a
        dependency out (the probes that decide traffic: see docs/operations.md)."""
        own = list(checks())
        named = [*own, *dependencies.checks_of([name for name, _ in own])]
        states = await asyncio.gather(
            *(_state(name, check, exclude or []) for name, check in named)
        )
        report = {name: state for (name, _), state in zip(named, states, strict=True)}
        if any(state not in (OK, SKIPPED) for state in report.values()):
            return problem(
                request, 503, "Some dependencies are unavailable", extra={"checks": report}
            )
        return JSONResponse({"status": "ready", "checks": report})

    @router.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics of this process."""
        await dependencies.refresh()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _state(name: str, check: Callable[[], Awaitable[object]], exclude: list[str]) -> str:
    if name.rpartition(".")[2] in exclude:
        return SKIPPED
    try:
        await asyncio.wait_for(check(), timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return OK
