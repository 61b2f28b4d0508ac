"""Use cases of product media: upload, delete, reorder, and sweeping orphaned objects.

An upload is decoded and cleaned first, its original stored, then the image
row is committed with a `catalog.image.uploaded` event for the media worker.
Objects are removed only after a commit, by the worker on
`catalog.image.deleted`; anything a crash strands on the way is an object no
row names, which `collect_garbage` finds.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from panthera.contracts.catalog import ImageDeleted, ImageUploaded
from panthera.kernel.database import utcnow
from panthera.kernel.errors import BadRequest, NotFound
from panthera.services.catalog import events, images, imaging, schemas
from panthera.services.catalog.models import Product, ProductImage, Stock
from panthera.services.catalog.products import forget_after_commit, to_read
from panthera.services.catalog.repository import CatalogTx
from panthera.services.catalog.runtime import CatalogRuntime

log = structlog.get_logger("panthera.catalog.media")


async def _locked_product(tx: CatalogTx, product_id: uuid.UUID) -> tuple[Product, Stock]:
    found = await tx.products.get(product_id, for_update=True)
    if found is None:
        raise NotFound("Product not found")
    return found


def _changed(tx: CatalogTx, rt: CatalogRuntime, product: Product, stock: Stock) -> None:
    """The product's representation changed: a new version, an event, no stale cache."""
    product.version += 1
    product.updated_at = utcnow()
    tx.record(events.product_updated(product, stock.available, ["images", "media"]))
    forget_after_commit(tx, rt.cache, [product.id])


async def upload_image(*, rt: CatalogRuntime, product_id: uuid.UUID, data: bytes) -> schemas.Image:
    """Store a product image: decoded, stripped of its metadata, content-addressed."""
    async with rt.uow.read() as tx:  # a missing product is told before any decoding
        if await tx.products.get(product_id) is None:
            raise NotFound("Product not found")
    try:
        clean = await asyncio.to_thread(
            imaging.clean, data, max_pixels=rt.settings.media_max_pixels
        )
    except imaging.ImageRejected as exc:
        raise BadRequest(str(exc)) from None
    digest = hashlib.sha256(clean.data).hexdigest()
    key = images.original_key(digest, clean.extension)
    # Stored before the commit: a crash in between leaves an object no row names (gc's),
    # never a row without its object.
    if not await rt.media.exists(key):
        await rt.media.put(key, clean.data, content_type=clean.content_type)
    async with rt.uow.write() as tx:
        product, stock = await _locked_product(tx, product_id)
        current = (await tx.images.of([product_id]))[product_id]
        if len(current) >= rt.settings.media_max_images:
            raise BadRequest(f"A product has at most {rt.settings.media_max_images} images")
        image = ProductImage(
            id=uuid.uuid4(),
            product_id=product_id,
            position=max((i.position for i in current), default=-1) + 1,
            digest=digest,
            extension=clean.extension,
            content_type=clean.content_type,
            width=clean.width,
            height=clean.height,
            size_bytes=len(clean.data),
            variants=None,
            created_at=utcnow(),
        )
        tx.images.add(image)
        tx.record(events.image_event(ImageUploaded, image))
        _changed(tx, rt, product, stock)
    return await images.read(image, images.MediaUrls(rt.media, rt.settings))


async def delete_image(*, rt: CatalogRuntime, product_id: uuid.UUID, image_id: uuid.UUID) -> None:
    """Remove an image from its product; its objects follow after the commit."""
    async with rt.uow.write() as tx:
        product, stock = await _locked_product(tx, product_id)
        image = await tx.images.get(product_id, image_id)
        if image is None:
            raise NotFound("Image not found")
        await tx.images.delete([image])
        tx.record(events.image_event(ImageDeleted, image))
        _changed(tx, rt, product, stock)


async def reorder_images(
    *, rt: CatalogRuntime, product_id: uuid.UUID, image_ids: list[uuid.UUID]
) -> schemas.Product:
    """Put the product's images in the order given (every one of them, once)."""
    async with rt.uow.write() as tx:
        product, stock = await _locked_product(tx, product_id)
        current = (await tx.images.of([product_id]))[product_id]
        if len(set(image_ids)) != len(image_ids) or set(image_ids) != {i.id for i in current}:
            raise BadRequest("imageIds must name every image of the product exactly once")
        by_id = {image.id: image for image in current}
        if [i.id for i in current] != image_ids:
            for position, image_id in enumerate(image_ids):
                by_id[image_id].position = position
            _changed(tx, rt, product, stock)
        ordered = [by_id[image_id] for image_id in image_ids]
    media = [await images.read(i, images.MediaUrls(rt.media, rt.settings)) for i in ordered]
    return to_read(product, stock.available, media)


@dataclass
class Sweep:
    """What `collect_garbage` found: objects no image names, and what it removed."""

    orphans: list[str] = field(default_factory=list)
    kept_young: int = 0
    removed: int = 0


async def collect_garbage(
    *,
    rt: CatalogRuntime,
    dry_run: bool = False,
    min_age: timedelta | None = None,
    say: Callable[[str], None] | None = None,
) -> Sweep:
    """Remove stored objects that no image names (left by a crash or a lost delete).

    Objects younger than `min_age` stay: an upload writes its object before its row
    commits, and must not lose it in between.
    """
    min_age = (
        min_age if min_age is not None else timedelta(seconds=rt.settings.media_gc_min_age_seconds)
    )
    async with rt.uow.read() as tx:
        named = await tx.images.digests()
    sweep = Sweep()
    newest = datetime.now(UTC) - min_age
    async for item in rt.media.listing(""):
        if images.digest_of(item.key) in named:
            continue
        if item.modified > newest:
            sweep.kept_young += 1
            continue
        sweep.orphans.append(item.key)
        if say is not None:
            say(item.key)
    if not dry_run and sweep.orphans:
        # Named again since the listing (a new upload of the same picture)? Then keep it.
        async with rt.uow.read() as tx:
            named = await tx.images.digests()
        doomed = [key for key in sweep.orphans if images.digest_of(key) not in named]
        for start in range(0, len(doomed), 1000):
            await rt.media.delete(doomed[start : start + 1000])
        sweep.removed = len(doomed)
        log.info("media_garbage_collected", removed=sweep.removed)
    return sweep
