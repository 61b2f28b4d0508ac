"""`panthera backup ...`: the command line over `panthera.ops.backup`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from panthera.ops.backup import Deployment

backup_cli = typer.Typer(
    help="Back up a deployment's data (every service, the signing key) and restore it.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The deployment's data directory (env PANTHERA_DATA_DIR)."),
]


def _deployment(data_dir: Path | None) -> Deployment:
    """The deployment the data directory or the environment describes."""
    from panthera import deployment
    from panthera.app import SERVICES
    from panthera.ops.backup import deployment_of

    return deployment_of(deployment.resolve(data_dir).settings, SERVICES)


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code)


@backup_cli.command("create")
def create(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="A directory or s3://bucket/prefix (default: PANTHERA_BACKUP__LOCATION, "
            "else <data dir>/backups).",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option("--keep", min=1, help="Then delete all but the newest N backups there."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write a consistent backup of every service's data and the signing key.

    Prints the backup's reference (what `backup restore --from` takes) on stdout.
    """
    from panthera.ops import backup

    deployment = _deployment(data_dir)
    try:
        manifest, ref, removed = asyncio.run(backup.create(deployment, to=to, keep=keep, say=_say))
    except (backup.BackupError, ValueError, OSError) as exc:
        raise _fail(exc) from exc
    seconds = (manifest.finishedAt - manifest.createdAt).total_seconds()
    _say(
        f"backup {manifest.id}: {len(manifest.files())} files, {manifest.size} bytes, "
        f"data as of {manifest.createdAt.isoformat()}, in {seconds:.1f}s"
    )
    for old in removed:
        _say(f"removed {old} (--keep {keep or deployment.backup.keep})")
    typer.echo(ref)


@backup_cli.command("restore")
def restore(
    source: Annotated[
        str,
        typer.Option("--from", help="One backup: its directory, or s3://bucket/prefix/<id>."),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a deployment that holds data.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Check a backup (manifest, checksums, versions) and put every store back.

    Stop the platform first. Afterwards the relays publish again what the restored
    outboxes hold unpublished, and each inbox drops what its service had applied.
    """
    from panthera.ops import backup

    deployment = _deployment(data_dir)
    try:
        restored = asyncio.run(backup.restore(deployment, ref=source, force=force, say=_say))
    except backup.NotEmpty as exc:
        lines = "\n  ".join(exc.conflicts)
        typer.echo(
            f"error: the deployment is not empty; nothing was changed:\n  {lines}\n"
            "restore with --force to replace it with the backup",
            err=True,
        )
        raise typer.Exit(1) from exc
    except (backup.BackupError, backup.DamagedBackup, ValueError, OSError) as exc:
        raise _fail(exc) from exc
    for line in restored.done:
        _say(f"restored {line}")
    if restored.streams_deleted:
        _say(f"deleted the old timeline's streams: {', '.join(restored.streams_deleted)}")
    if restored.replayed.uncompared:
        _say(
            "warning: in different databases, events in flight at the backup were not looked "
            f"for: {', '.join(restored.replayed.uncompared)}; these consumers may miss them"
        )
    _say(
        f"events to publish on start: {restored.replayed.unpublished} unpublished at the "
        f"backup, {restored.replayed.in_flight} in flight then (consumers drop any they applied)"
    )
    as_of = restored.manifest.createdAt.isoformat()
    typer.echo(f"restored {restored.manifest.id} (data as of {as_of})")


@backup_cli.command("list")
def list_(
    source: Annotated[
        str | None,
        typer.Option("--from", help="Where the backups are (default: as for create)."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """The complete backups in a location, newest first."""
    from panthera.ops import backup

    deployment = _deployment(data_dir)
    try:
        where, found = asyncio.run(backup.list_backups(deployment, source))
    except (ValueError, OSError) as exc:
        raise _fail(exc) from exc
    _say(f"{len(found)} backups in {where}, newest first")
    for manifest, ref in found:
        typer.echo(
            f"{manifest.createdAt:%Y-%m-%d %H:%M:%S}Z  {manifest.topology:<11}  "
            f"{manifest.size:>12} bytes  v{manifest.platformVersion}  {ref}"
        )
