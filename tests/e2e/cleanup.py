"""Remove what a distributed test run left on the machine's PostgreSQL and NATS."""

from __future__ import annotations

import asyncio

import nats

from tests.conftest import drop_schemas


async def _delete_streams(prefix: str) -> None:
    client = await nats.connect("nats://127.0.0.1:4222")
    try:
        stream_api = client.jetstream()
        for info in await stream_api.streams_info():
            if info.config.name and info.config.name.startswith(prefix):
                await stream_api.delete_stream(info.config.name)
    finally:
        await client.close()


def remove_run(run: str) -> None:
    """Drop the run's schemas (`<run>_*`) and JetStream streams (`<RUN>_*`)."""

    async def both() -> None:
        await drop_schemas(f"{run}_")
        await _delete_streams(f"{run.upper()}_")

    asyncio.run(both())
