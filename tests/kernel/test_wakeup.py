"""Background loops: stopped even when a library swallows their cancellation."""

from __future__ import annotations

import asyncio

import pytest

from panthera.kernel.wakeup import stop_loop


async def test_a_loop_that_swallows_a_cancellation_is_still_stopped() -> None:
    # As nats-py does inside its flush: the CancelledError is caught, the loop goes on.
    swallowed = 0

    async def polling() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed < 2:
                    swallowed += 1
                    continue
                raise

    task = asyncio.create_task(polling())
    await asyncio.sleep(0.05)
    await asyncio.wait_for(stop_loop(task, every=0.05), timeout=30)
    assert task.cancelled()
    assert swallowed == 2  # two cancellations were lost, the third ended it


async def test_a_loop_that_ends_on_its_own_error_raises_it_when_stopped() -> None:
    async def failing() -> None:
        raise RuntimeError("the loop's own failure")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="own failure"):
        await stop_loop(task)


async def test_stopping_a_finished_loop_returns_at_once() -> None:
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    await asyncio.wait_for(stop_loop(task), timeout=5)
