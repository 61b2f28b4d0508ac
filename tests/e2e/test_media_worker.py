"""The media worker as its own process on JetStream: killed mid-job, its job is done again.

The catalog runs in the test (its relay publishes to the machine's NATS, in
streams of this test's own); `panthera serve media-worker` processes take the
jobs. A worker is SIGKILLed while it works on a large picture: the event, never
acknowledged, is delivered again after the ack wait to the replica started
after it, and the picture's sizes appear.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from panthera.app import Platform, create_platform
from panthera.kernel.settings import Settings
from panthera.services.catalog import images, media
from panthera.services.catalog.products import create_product
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.schemas import ProductCreate
from panthera.testing.cleanup import remove_run
from panthera.testing.ports import free_port
from panthera.testing.processes import wait_until_healthy

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

NATS_URL = "nats://127.0.0.1:4222"


def large_photo() -> bytes:
    """Thirty megapixels of noise: seconds of work for the worker, a window to kill it in."""
    bands = [Image.effect_noise((6000, 5000), 60).convert("L") for _ in range(3)]
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, "JPEG", quality=70)
    return out.getvalue()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[dict[str, str]]:
    tag = f"m{uuid.uuid4().hex[:10]}"
    env = {
        "PANTHERA_DATA_DIR": str(tmp_path / "data"),
        "PANTHERA_NATS_URL": NATS_URL,
        "PANTHERA_EVENTS__STREAM_PREFIX": tag.upper(),
        "PANTHERA_EVENTS__SUBJECT_PREFIX": tag,
        "PANTHERA_EVENTS__ACK_WAIT_SECONDS": "3",
        "PANTHERA_EVENTS__BACKOFF_SECONDS": "[0.2, 0.5]",
        "PANTHERA_LOG_LEVEL": "INFO",
    }
    yield env
    remove_run(tag)


@pytest.fixture
async def catalog(run: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Platform]:
    for name, value in run.items():
        monkeypatch.setenv(name, value)
    platform = create_platform(Settings(), services=["catalog"])
    async with platform.running():
        yield platform


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "panthera", "serve", "media-worker", "--port", str(port)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, timeout=60)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_for(probe: Any, *, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = probe()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not within {within}s")


async def derived(rt: CatalogRuntime, product_id: uuid.UUID) -> bool:
    async with rt.uow.read() as tx:
        found = (await tx.images.of([product_id]))[product_id]
    return bool(found and found[0].variants)


async def test_a_worker_killed_mid_job_loses_no_job(
    catalog: Platform, run: dict[str, str], tmp_path: Path
) -> None:
    rt: CatalogRuntime = catalog.hosts["catalog"].runtime
    product = await create_product(
        rt=rt, data=ProductCreate(sku="PHOTO-1", name="Big photo", price=100, currency="EUR")
    )
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
    with worker(run, first_log) as first:
        image = await media.upload_image(rt=rt, product_id=product.id, data=large_photo())
        await wait_for(
            lambda: b"media_job_started" in first_log.read_bytes(),
            within=30,
            what="the first worker taking the job",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert b"media_job_finished" not in first_log.read_bytes()
    assert not await derived(rt, product.id), "the job finished before the kill"

    with worker(run, second_log):
        assert await wait_for(
            lambda: derived(rt, product.id), within=60, what="the job done by the second worker"
        )
    digest = image.url.split("/")[-2]
    for key in images.object_keys(digest, "jpg"):
        assert await rt.media.exists(key), key
    assert b"media_job_finished" in second_log.read_bytes()
