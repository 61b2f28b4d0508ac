from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from panthera.kernel.service import ServiceSettings


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
