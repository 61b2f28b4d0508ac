"""Waiting for a dependency at start-up, saying so, instead of crashing.

A process started before its database or broker (a container scheduled early,
a machine booting) logs what it waits for and carries on once it answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("panthera.startup")


async def wait_until_available(
    what: str, attempt: Callable[[], Awaitable[object]], *, service: str, within: float
) -> None:
    """Call `attempt` until it succeeds; after `within` seconds, let its error out."""
    deadline = time.monotonic() + within
    delay = 0.25
    while True:
        try:
            await attempt()
        except Exception as exc:
            if time.monotonic() + delay > deadline:
                log.error(
                    "dependency_unavailable",
                    service=service,
                    dependency=what,
                    error=str(exc) or type(exc).__name__,
                )
                raise
            log.warning(
                "waiting_for_dependency",
                service=service,
                dependency=what,
                error=str(exc) or type(exc).__name__,
                retry_in=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        else:
            return
