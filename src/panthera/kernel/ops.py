"""Operational routes every process serves outside `/v1`: liveness, readiness, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from panthera.kernel import dependencies
from panthera.kernel.errors import problem

ReadinessCheck = tuple[str, Callable[[], Awaitable[None]]]
Failures = dict[str, str]


class _SharedCheck:
    """Probes that arrive while a readiness check runs share its answer (several probers,
    such as the edge's health checks of every route and an orchestrator, cost one check),
    but no answer outlives its check: a dependency that goes away is seen by the next probe.
    """

    def __init__(self, checks: Callable[[], Sequence[ReadinessCheck]]) -> None:
        self.checks = checks
        self._running: asyncio.Task[Failures] | None = None

    async def failures(self) -> Failures:
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._check())
        # Shielded: one prober going away must not cancel the check the others await.
        return await asyncio.shield(self._running)

    async def _check(self) -> Failures:
        failures: Failures = {}
        for name, check in self.checks():
            try:
                await asyncio.wait_for(check(), timeout=2)
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"[:200]
        return failures


def ops_router(checks: Callable[[], Sequence[ReadinessCheck]]) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    readiness = _SharedCheck(checks)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        """Every dependency answers within two seconds."""
        failures = await readiness.failures()
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
