"""What the catalog's use cases work with, built once when the service starts."""

from __future__ import annotations

from dataclasses import dataclass

from panthera.kernel.cache import Cache
from panthera.services.catalog.media_store import MediaStore
from panthera.services.catalog.repository import CatalogUoW
from panthera.services.catalog.search import SearchEngine
from panthera.services.catalog.settings import CatalogSettings


@dataclass(frozen=True)
class CatalogRuntime:
    uow: CatalogUoW
    settings: CatalogSettings
    cache: Cache
    """Product reads; every change drops its entries after the commit."""
    search: SearchEngine
    media: MediaStore
    """Product images: their originals and derived sizes (docs/media.md)."""
