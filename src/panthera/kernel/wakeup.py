"""Background loops that sleep until woken or until their poll interval passes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def woken_or_timed_out(wake: asyncio.Event, seconds: float) -> bool:
    """Return when `wake` is set or after `seconds`, whichever comes first; clear `wake`.
    True when woken, False when the time ran out.

    `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` returns normally when
    its event is set in the same loop turn as the task is cancelled, and a loop built
    on it then never stops (seen at shutdown right after a commit woke a worker).
    """
    woken = False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
            woken = True
    wake.clear()
    return woken


async def stop_loop(task: asyncio.Task[Any], *, every: float = 1.0) -> None:
    """Cancel a background loop and wait until it has ended; its own error, if it failed
    otherwise, is raised here.

    One cancellation can be lost: nats-py catches `CancelledError` inside some of its calls
    (its flush), and a loop that then carries on is awaited for ever (seen: a bus's `close`
    hanging in CI while its consumer-lag loop kept polling). So the cancellation is
    repeated, `every` seconds, until the task is done.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=every)
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error
