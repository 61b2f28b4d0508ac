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
Report = dict[str, str]
OK = "ok"
SKIPPED = "skipped"


class _SharedCheck:
    """Probes that arrive while a readiness check runs share its answer (several probers,
    such as the edge's health checks of every route and an orchestrator, cost one check),
    but no answer outlives its check: a dependency that goes away is seen by the next probe.
    Probes excluding different dependencies do not share."""

    def __init__(self, checks: Callable[[], Sequence[ReadinessCheck]]) -> None:
        self.checks = checks
        self._running: dict[frozenset[str], asyncio.Task[Report]] = {}

    async def report(self, exclude: frozenset[str]) -> Report:
        running = self._running.get(exclude)
        if running is None or running.done():
            # Only checks in flight are kept: any `exclude` a client sends costs no memory.
            self._running = {key: task for key, task in self._running.items() if not task.done()}
            running = self._running[exclude] = asyncio.create_task(self._check(exclude))
        # Shielded: one prober going away must not cancel the check the others await.
        return await asyncio.shield(running)

    async def _check(self, exclude: frozenset[str]) -> Report:
        own = list(self.checks())
        named = [*own, *dependencies.checks_of([name for name, _ in own])]
        states = await asyncio.gather(*(_state(name, check, exclude) for name, check in named))
        return {name: state for (name, _), state in zip(named, states, strict=True)}


def ops_router(checks: Callable[[], Sequence[ReadinessCheck]]) -> APIRouter:
    """`checks` name the process's own readiness (per hosted service); the dependencies
    the composition root declared for those services (`dependencies.watch`) are checked
    with them, each under `service.dependency`."""
    router = APIRouter(include_in_schema=False)
    readiness = _SharedCheck(checks)

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
        report = await readiness.report(frozenset(exclude or ()))
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


async def _state(name: str, check: Callable[[], Awaitable[object]], exclude: frozenset[str]) -> str:
    if name.rpartition(".")[2] in exclude:
        return SKIPPED
    try:
        await asyncio.wait_for(check(), timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return OK
