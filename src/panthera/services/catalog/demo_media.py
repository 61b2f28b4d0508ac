"""Pictures for the demo catalog: a small set drawn with Pillow, stored once, shared.

Each picture is drawn from a fixed seed, so every run stores the same bytes
under the same content-addressed names; products point at them by digest (an
image row each), so seeding 100,000 products adds rows, not files. Their sizes
are derived here, at once: demo data needs no worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from panthera.kernel.database import utcnow
from panthera.services.catalog import images, imaging
from panthera.services.catalog.runtime import CatalogRuntime

PICTURES = 12
SIDE = 800
_PALETTES = (
    ("#f4e9d8", "#c8553d", "#2d3047"),
    ("#e8f1f2", "#1b98e0", "#13293d"),
    ("#fdf0d5", "#780000", "#003049"),
    ("#eef4ed", "#8da9c4", "#134074"),
    ("#fff3e0", "#f4a259", "#5b8e7d"),
    ("#f1faee", "#e63946", "#1d3557"),
)


@dataclass(frozen=True)
class DemoPicture:
    digest: str
    width: int
    height: int
    size_bytes: int
    variants: list[dict[str, Any]]


def draw(number: int) -> bytes:
    """Picture `number`: an abstract still life, the same bytes for the same number."""
    rng = random.Random(7919 * (number + 1))
    background, accent, ink = _PALETTES[number % len(_PALETTES)]
    picture = Image.new("RGB", (SIDE, SIDE), background)
    pen = ImageDraw.Draw(picture)
    for _ in range(6):
        x, y = rng.randrange(80, SIDE - 240), rng.randrange(80, SIDE - 240)
        size = rng.randrange(120, 320)
        colour = rng.choice((accent, ink))
        if rng.random() < 0.5:
            pen.ellipse((x, y, x + size, y + size), fill=colour)
        else:
            pen.rounded_rectangle((x, y, x + size, y + size // 2), radius=24, fill=colour)
    pen.rectangle((0, SIDE - 90, SIDE, SIDE), fill=ink)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


async def store_pictures(*, rt: CatalogRuntime) -> list[DemoPicture]:
    """Draw the demo pictures and store them with their sizes (skipping stored ones)."""
    stored = []
    sizes, originals = [], []
    for number in range(PICTURES):
        data = await asyncio.to_thread(draw, number)
        digest = hashlib.sha256(data).hexdigest()
        derived = await asyncio.to_thread(imaging.derive, data, "jpg")
        key = images.original_key(digest, "jpg")
        if not await rt.media.exists(key):
            originals.append((key, data))
            sizes += [
                rt.media.put(
                    images.variant_key(digest, size.size, size.extension),
                    size.data,
                    content_type=size.content_type,
                )
                for size in derived
            ]
        stored.append(DemoPicture(digest, SIDE, SIDE, len(data), images.variant_records(derived)))
    # At once, each waiting for its own disk flush; the originals last, since a stored
    # original is what says that a picture is complete.
    await asyncio.gather(*sizes)
    await asyncio.gather(
        *(rt.media.put(key, data, content_type="image/jpeg") for key, data in originals)
    )
    return stored


async def attach(
    *,
    rt: CatalogRuntime,
    products: Sequence[tuple[int, uuid.UUID]],
    pictures: Sequence[DemoPicture],
) -> None:
    """Give each (number, product) the picture its number picks: the same one every run."""
    now = utcnow()
    rows = []
    for number, product_id in products:
        picture = pictures[number % len(pictures)]
        rows.append(
            {
                "id": uuid.uuid4(),
                "product_id": product_id,
                "position": 0,
                "digest": picture.digest,
                "extension": "jpg",
                "content_type": "image/jpeg",
                "width": picture.width,
                "height": picture.height,
                "size_bytes": picture.size_bytes,
                "variants": picture.variants,
                "created_at": now,
            }
        )
    async with rt.uow.write() as tx:
        await tx.images.add_many(rows)
