"""`panthera backup create / restore / list`: a deployment's data, saved and put back.

A backup holds every service's database, captured at one instant (see
`panthera.ops.stores`), and the signing key, with a manifest of versions,
schema revisions, checksums and times. A restore checks the manifest and
every checksum, refuses to overwrite data unless forced, puts every store
back, and prepares the events (see `panthera.ops.events`).

To back up a new kind of store, add its `StoreBackup` in `stores_of`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

import panthera
from panthera.kernel.bus.settings import BusSettings
from panthera.kernel.settings import Settings
from panthera.ops import events
from panthera.ops.locations import Location, open_backup, open_location, read_manifest
from panthera.ops.manifest import MANIFEST, DamagedBackup, Manifest, StoreEntry, verify
from panthera.ops.media_backup import MediaObjects
from panthera.ops.notification_table import NotificationTable
from panthera.ops.stores import (
    BackupError,
    PgTools,
    PostgresStores,
    ServiceStore,
    SigningKey,
    SqliteStores,
    StoreBackup,
    taken_at,
)
from panthera.services.notifications.settings import NotificationsSettings

Say = Callable[[str], None]


class BackupSettings(BaseSettings):
    """`PANTHERA_BACKUP__*`."""

    model_config = SettingsConfigDict(env_prefix="PANTHERA_BACKUP__", extra="ignore")

    location: str | None = Field(
        default=None,
        description="Where backups go when --to is not given: a directory or "
        "s3://bucket/prefix; unset means <data dir>/backups.",
    )
    keep: int | None = Field(
        default=None, ge=1, description="Keep the newest N backups there; None keeps all."
    )
    pg_bin_dir: Path | None = Field(
        default=None, description="Folder of pg_dump and pg_restore; unset means PATH."
    )


class NotEmpty(Exception):
    """The deployment holds data a restore would overwrite, and --force was not given."""

    def __init__(self, conflicts: Sequence[str]) -> None:
        super().__init__("; ".join(conflicts))
        self.conflicts = list(conflicts)


@dataclass(frozen=True)
class Service:
    """What a backup needs to know of a service: where its data is, what it consumes."""

    name: str
    store: ServiceStore
    handles: frozenset[str]


@dataclass(frozen=True)
class Deployment:
    settings: Settings
    services: Sequence[Service]
    backup: BackupSettings = field(default_factory=BackupSettings)

    @property
    def topology(self) -> str:
        return "embedded" if all(s.store.is_sqlite for s in self.services) else "distributed"

    def location(self, where: str | None) -> Location:
        return open_location(
            where or self.backup.location or str(self.settings.data_dir / "backups")
        )


def deployment_of(settings: Settings, specs: Mapping[str, Any]) -> Deployment:
    """The deployment `settings` describe, with the services of `specs` (name -> ServiceSpec)."""
    services = []
    for name, spec in specs.items():
        override = spec.settings_type().database_url
        store = ServiceStore(
            service=name,
            url=settings.database_url_for(name, override),
            schema=settings.schema_for(name),
            migrations=Path(spec.migrations),
        )
        handles = frozenset(str(getattr(key, "TYPE", key)) for key in spec.handlers)
        services.append(Service(name, store, handles))
    return Deployment(settings, services)


def stores_of(deployment: Deployment) -> list[StoreBackup]:
    """Every store the deployment keeps, each once.

    The DynamoDB notification store joins when the notifications service is
    configured for it (`notification_table.py`); the product media are
    `MediaObjects` (`media_backup.py`).
    """
    stores = [s.store for s in deployment.services]
    found: list[StoreBackup] = []
    sqlite = [s for s in stores if s.is_sqlite]
    if sqlite:
        found.append(SqliteStores(sqlite))
    databases: dict[Any, list[ServiceStore]] = {}
    for store in stores:
        if not store.is_sqlite:
            databases.setdefault(make_url(store.url).set(drivername="postgresql"), []).append(store)
    tools = PgTools(deployment.backup.pg_bin_dir)
    for group in databases.values():
        postgres = PostgresStores(group, tools)
        if len(databases) > 1:  # services given databases of their own: one entry per database
            postgres.name = "postgresql/" + "+".join(s.service for s in group)
        found.append(postgres)
    notifications = NotificationsSettings()
    if notifications.store == "dynamodb":  # after the SQL stores: see notification_table.py
        found.append(NotificationTable(notifications))
    found.append(SigningKey(deployment.settings.signing_key_path))
    if any(service.name == "catalog" for service in deployment.services):
        found.append(MediaObjects.of(deployment.settings))  # after the databases' snapshot
    return found


def new_id(moment: datetime) -> str:
    # Sorts by time; the suffix keeps two backups of the same second apart.
    return f"panthera-{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


async def create(
    deployment: Deployment, *, to: str | None = None, keep: int | None = None, say: Say
) -> tuple[Manifest, str, list[str]]:
    """Write a backup; returns its manifest, its reference and the backups retention removed."""
    location = deployment.location(to)
    started = datetime.now(UTC)
    backup_id = new_id(started)
    try:
        async with location.staging(backup_id) as staging:
            entries: dict[str, StoreEntry] = {}
            for store in stores_of(deployment):
                say(f"backing up {store.name} ...")
                entries[store.name] = await store.dump(staging.path)
            moments = [m for m in map(taken_at, entries.values()) if m is not None]
            manifest = Manifest(
                id=backup_id,
                platformVersion=panthera.__version__,
                topology=deployment.topology,
                createdAt=min(moments, default=started),
                finishedAt=datetime.now(UTC),
                stores=entries,
            )
            path = staging.path / MANIFEST
            path.write_text(manifest.model_dump_json(indent=2) + "\n")
            path.chmod(0o600)
            ref = await staging.save()
        removed = await prune(location, keep or deployment.backup.keep)
    finally:
        await location.close()
    return manifest, ref, removed


async def prune(location: Location, keep: int | None) -> list[str]:
    """Delete all but the newest `keep` complete backups in `location`."""
    if keep is None:
        return []
    old = (await location.manifests())[keep:]
    for manifest in old:
        await location.remove(manifest.id)
    return [location.ref(m.id) for m in old]


async def list_backups(
    deployment: Deployment, where: str | None
) -> tuple[str, list[tuple[Manifest, str]]]:
    """Where the backups are, and each complete one (newest first) with its reference."""
    location = deployment.location(where)
    try:
        return location.describe(), [(m, location.ref(m.id)) for m in await location.manifests()]
    finally:
        await location.close()


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    done: list[str]
    replayed: events.Replayed
    streams_deleted: list[str]


async def restore(deployment: Deployment, *, ref: str, force: bool, say: Say) -> Restored:
    """Check the backup, refuse to overwrite data unless `force`, and put it back."""
    location, backup_id = open_backup(ref)
    try:
        async with location.fetch(backup_id) as root:
            manifest = read_manifest(root)
            say(f"checking {manifest.id} ({manifest.size} bytes, {len(manifest.files())} files)")
            verify(manifest, root)
            stores = stores_of(deployment)
            # A backup from before product media has none to restore.
            stores = [s for s in stores if s.name in manifest.stores or s.name != "media"]
            _check_compatible(deployment, manifest, stores)
            conflicts = [
                line
                for store in stores
                for line in await store.conflicts(manifest.stores[store.name], root)
            ]
            if conflicts and not force:
                raise NotEmpty(conflicts)
            done: list[str] = []
            for store in stores:
                say(f"restoring {store.name} ...")
                done += await store.restore(manifest.stores[store.name], root)
    finally:
        await location.close()
    since = events.retention_before(manifest.createdAt, BusSettings().max_age_days)
    replayed = await events.mark_in_flight(
        [s.store for s in deployment.services],
        {s.name: s.handles for s in deployment.services},
        since=since,
    )
    names = [s.name for s in deployment.services]
    try:
        deleted = await events.delete_streams(deployment.settings, names)
    except Exception as exc:  # NATS unreachable: the data is back, the streams are not gone
        raise BackupError(
            f"the databases are restored, but the old event streams could not be deleted "
            f"({type(exc).__name__}: {exc}); delete the deployment's JetStream streams, or "
            "set a new PANTHERA_EVENTS__STREAM_PREFIX, before starting the platform"
        ) from exc
    return Restored(manifest, done, replayed, deleted)


def _check_compatible(
    deployment: Deployment, manifest: Manifest, stores: Sequence[StoreBackup]
) -> None:
    wanted = {store.name for store in stores}
    held = set(manifest.stores)
    if wanted - held:
        raise BackupError(
            f"backup {manifest.id} is of a {manifest.topology} deployment with "
            f"{', '.join(sorted(held))}; this deployment keeps {', '.join(sorted(wanted))} "
            "(a backup restores into a deployment of the same kind of database)"
        )
    revisions = manifest.revisions()
    for service in deployment.services:
        if service.name not in revisions:
            raise BackupError(f"backup {manifest.id} holds nothing of {service.name}")
        revision = revisions[service.name]
        if revision is None:
            continue
        try:
            known = ScriptDirectory(str(service.store.migrations)).get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise BackupError(
                f"backup {manifest.id} holds {service.name} at schema revision {revision}, "
                f"which this PantheraConnect ({panthera.__version__}) does not know: restore it "
                f"with the version that made it ({manifest.platformVersion}) or a newer one"
            )


__all__ = [
    "BackupError",
    "BackupSettings",
    "DamagedBackup",
    "Deployment",
    "NotEmpty",
    "Restored",
    "create",
    "deployment_of",
    "list_backups",
    "restore",
]
