from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from panthera.kernel.routes import MIB
from panthera.kernel.service import ServiceSettings

MEDIA_BODY_LIMIT = 10 * MIB


class CatalogSettings(ServiceSettings):
    """The catalog service's own settings (`PANTHERA_CATALOG__*`)."""

    model_config = SettingsConfigDict(env_prefix="PANTHERA_CATALOG__", extra="ignore")

    cache_ttl_seconds: int = Field(
        default=60, ge=1, le=86_400, description="Upper bound on a product read's staleness."
    )
    cache_prefix: str = Field(
        default="catalog:",
        max_length=100,
        description="After the deployment's prefix (`panthera:<deployment>:`) in cache keys.",
    )
    redis_url: str | None = Field(
        default=None, description="Overrides PANTHERA_REDIS_URL for the catalog's cache."
    )
    typo_tolerance: bool = Field(
        default=True, description="Trigram matching of product names on PostgreSQL (pg_trgm)."
    )

    # Product media (docs/media.md). The worker process reads these too: they are the catalog's.
    media_store: Literal["directory", "s3"] = Field(
        default="directory",
        description="Where product images live: a directory under the data dir, or S3.",
    )
    media_dir: Path | None = Field(
        default=None, description="The directory store's folder; default `<data dir>/media`."
    )
    media_s3_bucket: str | None = Field(default=None, description="The S3 store's bucket.")
    media_s3_prefix: str = Field(
        default="", max_length=200, description="Keys start with it: a bucket shared with others."
    )
    media_s3_endpoint_url: str | None = Field(
        default=None, description="An S3-compatible store's endpoint; unset for AWS."
    )
    media_s3_region: str | None = Field(
        default=None, description="The bucket's region; unset: the AWS configuration's."
    )
    media_s3_presign_seconds: int = Field(
        default=0,
        ge=0,
        le=604_800,
        description="0: URLs are the bucket's public URLs; N: presigned URLs valid N seconds.",
    )
    media_public_base_url: str | None = Field(
        default=None,
        description="A CDN (or any base URL) the API emits media URLs under: `<base>/<key>`.",
    )
    media_max_bytes: int = Field(
        default=MEDIA_BODY_LIMIT,
        ge=1024,
        le=MEDIA_BODY_LIMIT,
        description="Largest image file accepted (413 above); the route's body limit caps it.",
    )
    media_max_pixels: int = Field(
        default=40_000_000,
        ge=1,
        le=200_000_000,
        description="Largest width x height x frames decoded (decompression bombs).",
    )
    media_max_images: int = Field(default=20, ge=1, le=100, description="Images per product.")
    media_gc_min_age_seconds: int = Field(
        default=3600,
        ge=0,
        description="`panthera media gc` keeps unreferenced objects younger than this "
        "(an upload between its object write and its commit).",
    )
