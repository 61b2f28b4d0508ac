"""Names and URLs of product images' objects, and their API shape.

An image's objects are named by the SHA-256 of its stored original (content
addressing): `ab/abcdef.../original.jpg`, and beside it the derived sizes
`thumbnail.webp`, `thumbnail.jpg`, `medium.webp`, `medium.jpg`. A name never
changes meaning, so every object is cached forever and a new upload has new URLs.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from panthera.services.catalog import imaging, schemas
from panthera.services.catalog.media_store import MediaStore
from panthera.services.catalog.models import ProductImage
from panthera.services.catalog.settings import CatalogSettings


def folder(digest: str) -> str:
    return f"{digest[:2]}/{digest}"


def original_key(digest: str, extension: str) -> str:
    return f"{folder(digest)}/original.{extension}"


def variant_key(digest: str, size: str, extension: str) -> str:
    return f"{folder(digest)}/{size}.{extension}"


def object_keys(digest: str, extension: str) -> list[str]:
    """Every object a picture may have: its original and each derived size."""
    extensions = sorted({"webp", extension})
    return [original_key(digest, extension)] + [
        variant_key(digest, size, ext) for size in imaging.SIZES for ext in extensions
    ]


def digest_of(key: str) -> str | None:
    """The picture an object belongs to, None for a key this scheme never writes."""
    parts = key.split("/")
    if len(parts) == 3 and len(parts[1]) == 64 and parts[1].startswith(parts[0]):
        return parts[1]
    return None


class MediaUrls:
    """Where clients fetch objects: under the configured public (CDN) base URL, or
    wherever the store says (`/media/...`, the bucket's URL, a presigned URL)."""

    def __init__(self, store: MediaStore, settings: CatalogSettings) -> None:
        self.store = store
        base = settings.media_public_base_url
        self.base = base.rstrip("/") if base else None

    async def __call__(self, key: str) -> str:
        if self.base is not None:
            return f"{self.base}/{key}"
        return await self.store.url(key)


async def read(image: ProductImage, urls: MediaUrls) -> schemas.Image:
    url = await urls(original_key(image.digest, image.extension))
    variants = [
        schemas.ImageVariant(
            size=variant["size"],
            content_type=imaging.CONTENT_TYPES[variant["extension"]],
            url=await urls(variant_key(image.digest, variant["size"], variant["extension"])),
            width=variant["width"],
            height=variant["height"],
        )
        for variant in image.variants or []
    ]
    thumbnail = next(
        (v.url for v in variants if v.size == "thumbnail" and v.content_type == image.content_type),
        url,  # until the worker has made the thumbnail, the original stands in for it
    )
    return schemas.Image(
        id=image.id,
        url=url,
        thumbnail_url=thumbnail,
        width=image.width,
        height=image.height,
        content_type=image.content_type,
        size_bytes=image.size_bytes,
        variants=variants,
    )


async def reads(
    found: Mapping[uuid.UUID, Sequence[ProductImage]], urls: MediaUrls
) -> dict[uuid.UUID, list[schemas.Image]]:
    return {pid: [await read(image, urls) for image in images] for pid, images in found.items()}


def variant_records(derived: Sequence[imaging.Derived]) -> list[dict[str, Any]]:
    """What an image row keeps of its derived sizes (`ProductImage.variants`)."""
    return [
        {"size": d.size, "extension": d.extension, "width": d.width, "height": d.height}
        for d in derived
    ]
