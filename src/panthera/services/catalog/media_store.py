"""Where product images live: the storage port and its two adapters.

Objects are immutable and content-addressed (`services/catalog/media.py` names
them), so an adapter never overwrites anything a reader may hold: writing a
key again writes the same bytes. The directory adapter is the default in both
topologies on one machine (the catalog serves it under `/media/...`); the S3
adapter serves AWS or any S3-compatible store, its objects carrying the same
immutable `Cache-Control` as the directory's answers.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from panthera.kernel.objectstore import S3ObjectStore, StoredObject
from panthera.kernel.settings import Settings
from panthera.services.catalog.settings import CatalogSettings

IMMUTABLE = "public, max-age=31536000, immutable"
"""How long a browser or a CDN may keep a media object: forever, since a key never changes."""
MEDIA_PATH = "/media"
"""Where the catalog serves media, outside `/v1` (the route table routes it to the catalog)."""


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The object's bytes, None if there is no such object."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove these objects; keys that do not exist are ignored."""

    def listing(self, prefix: str) -> AsyncIterator[StoredObject]: ...

    async def url(self, key: str) -> str:
        """Where a client fetches the object, unless a public base URL is configured."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class DirectoryMediaStore:
    """Files under a folder, written whole (temporary file, then rename) so that a reader
    or a crash never leaves half an object under its final name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"media key outside the store: {key!r}")
        return path

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path_of(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        with temporary.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)

    async def get(self, key: str) -> bytes | None:
        path = self.path_of(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            return None

    async def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            path = self.path_of(key)
            path.unlink(missing_ok=True)
            # Folders emptied by the delete go too, so a sweep has less to walk.
            for parent in path.parents:
                if parent == self.root or not parent.is_relative_to(self.root):
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break

    async def listing(self, prefix: str) -> AsyncIterator[StoredObject]:
        found = await asyncio.to_thread(self._walk, prefix)
        for item in found:
            yield item

    def _walk(self, prefix: str) -> list[StoredObject]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                found.append(
                    StoredObject(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
                )
        return found

    async def url(self, key: str) -> str:
        return f"{MEDIA_PATH}/{key}"

    async def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None


class S3MediaStore:
    """A bucket; URLs are its public ones, or presigned when so configured."""

    def __init__(self, objects: S3ObjectStore, *, presign_seconds: int = 0) -> None:
        self.objects = objects
        self.presign_seconds = presign_seconds

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await self.objects.put(key, data, content_type=content_type, cache_control=IMMUTABLE)

    async def get(self, key: str) -> bytes | None:
        if not await self.objects.exists(key):
            return None
        return await self.objects.get(key)

    async def exists(self, key: str) -> bool:
        return await self.objects.exists(key)

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            await self.objects.delete(keys)

    def listing(self, prefix: str) -> AsyncIterator[StoredObject]:
        return self.objects.listing(prefix)

    async def url(self, key: str) -> str:
        if self.presign_seconds:
            return await self.objects.presigned_url(key, expires_seconds=self.presign_seconds)
        return self.objects.public_url(key)

    async def ping(self) -> None:
        await self.objects.ping()

    async def close(self) -> None:
        await self.objects.close()


def create_media_store(settings: Settings, catalog: CatalogSettings) -> MediaStore:
    """The adapter `PANTHERA_CATALOG__MEDIA_STORE` names."""
    if catalog.media_store == "s3":
        if not catalog.media_s3_bucket:
            raise ValueError(
                "PANTHERA_CATALOG__MEDIA_STORE=s3 needs PANTHERA_CATALOG__MEDIA_S3_BUCKET"
            )
        objects = S3ObjectStore(
            catalog.media_s3_bucket,
            prefix=catalog.media_s3_prefix,
            endpoint_url=catalog.media_s3_endpoint_url,
            region=catalog.media_s3_region,
        )
        return S3MediaStore(objects, presign_seconds=catalog.media_s3_presign_seconds)
    return DirectoryMediaStore(catalog.media_dir or settings.data_dir / "media")
