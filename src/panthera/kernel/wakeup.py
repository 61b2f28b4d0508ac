"""Background loops that sleep until woken or until their poll interval passes."""

from __future__ import annotations

import asyncio
import contextlib


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
