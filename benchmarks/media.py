"""Product media benchmark: upload-to-thumbnail latency, images a worker processes per second.

The embedded platform (one process, SQLite, the directory store) in-process:

- `latency`: an admin uploads photos one at a time through the public API;
  measured from the start of the upload request to the commit of the image's
  derived sizes by the background media worker (what a shopper waits for
  before the thumbnail replaces the original).
- `throughput`: one media worker deriving the sizes (thumbnail and medium, WebP
  and JPEG) of distinct stored photos back to back: images per second per
  worker process (the work is Pillow's, one core per worker).

Run (never part of the test suite; under a minute):

    .venv/bin/python benchmarks/media.py
    .venv/bin/python benchmarks/media.py --uploads 20 --derive 10 --side 1600

Writes benchmarks/results/media.json and media.png.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from PIL import Image

from panthera.app import create_platform
from panthera.gateway.settings import GatewaySettings
from panthera.kernel.settings import Settings
from panthera.services.catalog import media
from panthera.services.catalog.media_worker import MediaWorker
from panthera.services.catalog.models import ProductImage
from panthera.services.catalog.products import create_product
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.schemas import ProductCreate
from panthera.services.users import service as users
from panthera.services.users.settings import UsersSettings

RESULTS = Path(__file__).parent / "results"
PASSWORD = "BenchPassword123!"


def photo(side: int, seed: int) -> bytes:
    """A photo-like JPEG (noise compresses like a photo), different for each seed."""
    size = (side, side * 3 // 4)
    bands = [
        Image.effect_noise(size, 30 + (seed * 7 + band) % 40).convert("L") for band in range(3)
    ]
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, "JPEG", quality=85)
    return out.getvalue()


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    return {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": round(ordered[-1], 1),
            "mean": round(statistics.fmean(ordered), 1)}  # fmt: skip


async def derived(rt: CatalogRuntime, product_id: uuid.UUID) -> bool:
    async with rt.uow.read() as tx:
        found = (await tx.images.of([product_id]))[product_id]
    return bool(found and found[-1].variants)


async def until(probe: Callable[[], Awaitable[bool]], *, every: float) -> None:
    while True:
        if await probe():
            return
        await asyncio.sleep(every)


async def derived_digest(rt: CatalogRuntime, digest: str) -> bool:
    async with rt.uow.read() as tx:
        waiting = await tx.session.scalar(
            sa.select(ProductImage.id).where(
                ProductImage.digest == digest, ProductImage.variants.is_(None)
            )
        )
    return waiting is None


async def run(uploads: int, derive: int, side: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), log_level="WARNING")
        fast = UsersSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
        gateway = GatewaySettings(rate_limit_per_client="100000/minute",
                                  rate_limit_per_route="100000/minute")  # fmt: skip
        shop = create_platform(settings, service_settings={"users": fast}, gateway_settings=gateway)
        async with shop.running():
            rt: CatalogRuntime = shop.hosts["catalog"].runtime
            await users.ensure_admin(rt=shop.hosts["users"].runtime, email="bench@example.com",
                                     password=PASSWORD, username="bench")  # fmt: skip
            transport = httpx.ASGITransport(app=shop.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                login = await http.post(
                    "/v1/auth/login", json={"email": "bench@example.com", "password": PASSWORD}
                )
                headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
                photos = [await asyncio.to_thread(photo, side, n) for n in range(uploads)]
                latencies = []
                for number, data in enumerate(photos):
                    item = ProductCreate(sku=f"B-{number}", name="B", price=100, currency="EUR")
                    product = await create_product(rt=rt, data=item)
                    started = time.perf_counter()
                    answer = await http.post(
                        f"/v1/products/{product.id}/images",
                        files={"file": ("p.jpg", data, "image/jpeg")},
                        headers=headers,
                    )
                    assert answer.status_code == 201, answer.text
                    await until(partial(derived, rt, product.id), every=0.005)
                    latencies.append((time.perf_counter() - started) * 1000)

            # Throughput: stored originals (uploaded without a worker's help), derived back to back.
            originals = []
            for number in range(derive):
                product = await create_product(rt=rt, data=ProductCreate(
                    sku=f"THRU-{number}", name="Bench", price=100, currency="EUR"))  # fmt: skip
                data = await asyncio.to_thread(photo, side, 1000 + number)
                image = await media.upload_image(rt=rt, product_id=product.id, data=data)
                originals.append(image.url.split("/")[-2])
            # The background worker takes these too: let it finish, then time a worker alone
            # on the same pictures, their sizes forgotten (it reacts to events only).
            for digest in originals:
                await until(partial(derived_digest, rt, digest), every=0.05)
            worker = MediaWorker(rt)
            async with rt.uow.write() as tx:
                await tx.session.execute(
                    sa.update(ProductImage)
                    .where(ProductImage.digest.in_(originals))
                    .values(variants=None)
                )
            started = time.perf_counter()
            done = sum([await worker.derive(digest, "jpg") for digest in originals])
            elapsed = time.perf_counter() - started
    return {
        "photo": {"width": side, "height": side * 3 // 4, "format": "JPEG"},
        "upload_to_thumbnail_ms": percentiles(latencies),
        "latencies_ms": [round(v, 1) for v in sorted(latencies)],
        "uploads": uploads,
        "worker": {
            "images": done,
            "seconds": round(elapsed, 2),
            "images_per_second": round(done / elapsed, 2),
        },
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    values = results["latencies_ms"]
    left.plot(values, [(i + 1) / len(values) for i in range(len(values))])
    left.set_xlabel("upload to thumbnail, ms")
    left.set_ylabel("fraction of uploads")
    left.set_title(f"Upload to thumbnail (embedded), {results['photo']['width']} px photos")
    left.grid(True, alpha=0.3)
    bars = right.bar(["one worker process"], [results["worker"]["images_per_second"]])
    right.bar_label(bars, fmt="%.1f")
    right.set_ylabel("images per second (4 sizes each)")
    right.set_title("Media worker throughput")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--uploads", type=int, default=20, help="photos uploaded one at a time")
    parser.add_argument("--derive", type=int, default=10, help="photos derived back to back")
    parser.add_argument("--side", type=int, default=1600, help="photo width in pixels")
    args = parser.parse_args()
    results = {
        "benchmark": "media",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        **await run(args.uploads, args.derive, args.side),
    }
    latency = results["upload_to_thumbnail_ms"]
    print(
        f"upload to thumbnail: p50 {latency['p50']} ms, p99 {latency['p99']} ms; "
        f"one worker: {results['worker']['images_per_second']} images/s",
        flush=True,
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "media.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "media.png")
    print(f"wrote {RESULTS / 'media.json'} and media.png")


if __name__ == "__main__":
    asyncio.run(main())
