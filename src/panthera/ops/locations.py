"""Where backups are kept: a directory, or an S3 bucket (any S3-compatible store).

Either way a backup is a folder named by its id holding its files and, last,
its manifest; a folder without a manifest is an unfinished backup and is
neither listed nor restored.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from panthera.kernel.objectstore import ObjectStore, S3ObjectStore, parse_s3_url
from panthera.ops.manifest import MANIFEST, DamagedBackup, Manifest


class Location(Protocol):
    def describe(self) -> str: ...

    def ref(self, backup_id: str) -> str:
        """What `panthera backup restore --from` takes to restore this backup."""

    def staging(self, backup_id: str) -> AbstractAsyncContextManager[Staging]:
        """A folder to write the backup into, removed afterwards whatever happens."""

    def fetch(self, backup_id: str) -> AbstractAsyncContextManager[Path]:
        """The backup's files in a local folder, for as long as the context lasts."""

    async def manifests(self) -> list[Manifest]:
        """Every complete backup here, newest first."""

    async def remove(self, backup_id: str) -> None: ...

    async def close(self) -> None: ...


class Staging(Protocol):
    """A folder to write a backup into; `save` makes it a complete backup."""

    path: Path

    async def save(self) -> str: ...


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        raise DamagedBackup(f"no {MANIFEST} in {root}: not a (complete) backup")
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise DamagedBackup(f"{path} is not a backup manifest: {exc}") from exc


def _private_dir(path: Path) -> Path:
    # Backups hold password hashes and the signing key: the owner only.
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


# -- a directory -------------------------------------------------------------


class DirectoryLocation:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root.resolve())

    def ref(self, backup_id: str) -> str:
        return str((self.root / backup_id).resolve())

    @asynccontextmanager
    async def staging(self, backup_id: str) -> AsyncIterator[_DirectoryStaging]:
        _private_dir(self.root)
        # Beside its final place, so that finishing it is one rename.
        partial = _private_dir(self.root / f".{backup_id}.partial")
        staging = _DirectoryStaging(partial, self.root / backup_id)
        try:
            yield staging
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    @asynccontextmanager
    async def fetch(self, backup_id: str) -> AsyncIterator[Path]:
        yield self.root / backup_id

    async def manifests(self) -> list[Manifest]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if (
                folder.is_dir()
                and not folder.name.startswith(".")
                and (folder / MANIFEST).is_file()
            ):
                try:
                    found.append(read_manifest(folder))
                except DamagedBackup:
                    continue
        return sorted(found, key=lambda m: m.createdAt, reverse=True)

    async def remove(self, backup_id: str) -> None:
        shutil.rmtree(self.root / backup_id)

    async def close(self) -> None:
        pass


class _DirectoryStaging:
    def __init__(self, path: Path, final: Path) -> None:
        self.path = path
        self.final = final

    async def save(self) -> str:
        self.path.rename(self.final)
        return str(self.final.resolve())


# -- an S3 bucket ------------------------------------------------------------


class S3Location:
    """`s3://bucket/prefix`: each backup under `prefix/<id>/`, its manifest uploaded last."""

    def __init__(self, store: ObjectStore, url: str) -> None:
        self.store = store
        self.url = url.rstrip("/")

    def describe(self) -> str:
        return self.url

    def ref(self, backup_id: str) -> str:
        return f"{self.url}/{backup_id}"

    @asynccontextmanager
    async def staging(self, backup_id: str) -> AsyncIterator[_S3Staging]:
        with tempfile.TemporaryDirectory(prefix="panthera-backup-") as folder:
            yield _S3Staging(Path(folder), self, backup_id)

    @asynccontextmanager
    async def fetch(self, backup_id: str) -> AsyncIterator[Path]:
        with tempfile.TemporaryDirectory(prefix="panthera-restore-") as folder:
            root = Path(folder)
            keys = [key async for key in self.store.keys(f"{backup_id}/")]
            if f"{backup_id}/{MANIFEST}" not in keys:
                raise DamagedBackup(f"no {MANIFEST} under {self.ref(backup_id)}")
            for key in keys:
                target = root / key.removeprefix(f"{backup_id}/")
                target.parent.mkdir(parents=True, exist_ok=True)
                await self.store.download(key, target)
            yield root

    async def manifests(self) -> list[Manifest]:
        found = []
        async for key in self.store.keys(""):
            _backup_id, _, name = key.partition("/")
            if name != MANIFEST:
                continue
            try:
                found.append(Manifest.model_validate_json(await self.store.get(key)))
            except ValidationError:
                continue
        return sorted(found, key=lambda m: m.createdAt, reverse=True)

    async def remove(self, backup_id: str) -> None:
        # The manifest first: a backup half removed is then an unfinished one, never listed.
        await self.store.delete([f"{backup_id}/{MANIFEST}"])
        await self.store.delete([key async for key in self.store.keys(f"{backup_id}/")])

    async def close(self) -> None:
        await self.store.close()


class _S3Staging:
    def __init__(self, path: Path, location: S3Location, backup_id: str) -> None:
        self.path = path
        self.location = location
        self.backup_id = backup_id

    async def save(self) -> str:
        files = sorted(p for p in self.path.rglob("*") if p.is_file() and p.name != MANIFEST)
        for file in [*files, self.path / MANIFEST]:
            key = f"{self.backup_id}/{file.relative_to(self.path).as_posix()}"
            await self.location.store.upload(file, key)
        return self.location.ref(self.backup_id)


def open_location(where: str) -> DirectoryLocation | S3Location:
    """A directory path, or `s3://bucket/prefix`."""
    if where.startswith("s3://"):
        bucket, prefix = parse_s3_url(where)
        return S3Location(S3ObjectStore(bucket, prefix=prefix), where)
    if "://" in where:
        raise ValueError(
            f"unsupported backup location {where!r}: a directory or s3://bucket/prefix"
        )
    return DirectoryLocation(Path(where))


def open_backup(ref: str) -> tuple[DirectoryLocation | S3Location, str]:
    """The location of one backup (a directory, or `s3://bucket/prefix/<id>`) and its id."""
    head, _, backup_id = ref.rstrip("/").rpartition("/")
    if not backup_id:
        raise ValueError(f"{ref!r} names no backup")
    if ref.startswith("s3://"):
        return open_location(head), backup_id
    path = Path(ref)
    return DirectoryLocation(path.parent), path.name
