"""The product media in a backup: every object of the catalog's media store, as files.

Objects are immutable and content-addressed, so a copy is consistent by itself;
it is taken after the databases' snapshot, so every picture the snapshot names
is there (unless deleted in between). A restore writes back the objects the
store lacks and leaves the rest: a name already there holds the same bytes,
and objects the backup does not name are `panthera media gc`'s to judge.
"""

from __future__ import annotations

from pathlib import Path

from panthera.kernel.settings import Settings
from panthera.ops.manifest import StoreEntry, describe_file
from panthera.services.catalog.imaging import CONTENT_TYPES
from panthera.services.catalog.media_store import MediaStore, create_media_store
from panthera.services.catalog.settings import CatalogSettings

FOLDER = "media"


class MediaObjects:
    name = "media"

    def __init__(self, store: MediaStore) -> None:
        self.store = store

    @classmethod
    def of(cls, settings: Settings) -> MediaObjects:
        """The media store the deployment's catalog uses (`PANTHERA_CATALOG__MEDIA_*`)."""
        return cls(create_media_store(settings, CatalogSettings()))

    async def dump(self, into: Path) -> StoreEntry:
        files = []
        try:
            async for item in self.store.listing(""):
                data = await self.store.get(item.key)
                if data is None:  # removed since the listing
                    continue
                path = into / FOLDER / item.key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                files.append(describe_file(into, f"{FOLDER}/{item.key}"))
        finally:
            await self.store.close()
        return StoreEntry(facts={"objects": len(files)}, files=files)

    async def conflicts(self, entry: StoreEntry, root: Path) -> list[str]:
        return []  # the same name is the same bytes: nothing a restore writes replaces data

    async def restore(self, entry: StoreEntry, root: Path) -> list[str]:
        written = 0
        try:
            for file in entry.files:
                key = file.path.removeprefix(f"{FOLDER}/")
                if await self.store.exists(key):
                    continue
                extension = key.rpartition(".")[2]
                await self.store.put(
                    key,
                    (root / file.path).read_bytes(),
                    content_type=CONTENT_TYPES.get(extension, "application/octet-stream"),
                )
                written += 1
        finally:
            await self.store.close()
        return [f"media: {written} objects written, {len(entry.files) - written} already there"]
