"""What a backup holds, written last into it as `manifest.json`.

A backup is complete exactly when its manifest exists: every file is written
(and its checksum taken) before the manifest, so a backup interrupted half way
is never mistaken for one that can be restored.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

MANIFEST = "manifest.json"


class BackupFile(BaseModel):
    """One file of a backup, relative to the backup's root."""

    path: str
    sha256: str
    bytes: int
    service: str | None = None
    dbSchema: str | None = None
    revision: str | None = Field(default=None, description="The service's Alembic revision.")


class StoreEntry(BaseModel):
    """What one store wrote: its files and the facts a restore checks (versions, times)."""

    facts: dict[str, Any] = Field(default_factory=dict)
    files: list[BackupFile] = Field(default_factory=list)


class Manifest(BaseModel):
    format: Literal[1] = 1
    id: str
    platformVersion: str
    topology: str
    createdAt: datetime = Field(description="The instant the data is from (the snapshot).")
    finishedAt: datetime
    stores: dict[str, StoreEntry]

    def files(self) -> list[BackupFile]:
        return [file for entry in self.stores.values() for file in entry.files]

    def revisions(self) -> dict[str, str | None]:
        """Each service's schema revision, whatever store holds it."""
        return {f.service: f.revision for f in self.files() if f.service is not None}

    @property
    def size(self) -> int:
        return sum(file.bytes for file in self.files())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_file(root: Path, relative: str, **facts: Any) -> BackupFile:
    """A file a store wrote under `root`, with its checksum and size."""
    path = root / relative
    return BackupFile(path=relative, sha256=sha256_of(path), bytes=path.stat().st_size, **facts)


class DamagedBackup(Exception):
    """A backup whose manifest or files do not match: nothing was restored."""


def verify(manifest: Manifest, root: Path) -> None:
    """Raise DamagedBackup unless every file the manifest lists is there, unchanged."""
    problems = []
    for file in manifest.files():
        path = root / file.path
        if not path.is_file():
            problems.append(f"{file.path} is missing")
        elif path.stat().st_size != file.bytes or sha256_of(path) != file.sha256:
            problems.append(f"{file.path} does not match its checksum")
    if problems:
        raise DamagedBackup(f"backup {manifest.id} is damaged: " + "; ".join(problems))
