"""`panthera status`: one look at a running deployment, in either topology."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from panthera.kernel.settings import Settings

if TYPE_CHECKING:
    from panthera.ops.status import Status


def _yes(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]NO[/]"


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f}s"


def render(status: Status, console: Console) -> None:
    console.print(
        f"[bold]PantheraConnect[/] ({status.topology}) at {status.data_dir}: "
        + ("[green]healthy[/]" if status.healthy else "[red]NOT healthy[/]")
    )
    for note in status.notes:
        console.print(f"[yellow]{note}[/]")
    processes = Table(
        "process",
        "service",
        "url",
        "alive",
        "ready",
        "version",
        "restarts",
        "problems",
        title="Processes",
    )
    for p in status.processes:
        problems = "; ".join(f"{k}: {v}" for k, v in p.problems.items())
        processes.add_row(
            p.name,
            p.service,
            p.url,
            _yes(p.alive),
            _yes(p.ready),
            p.version or "-",
            str(p.restarts),
            problems,
        )
    console.print(processes)
    services = Table(
        "service",
        "schema revision",
        "newest known",
        "outbox backlog",
        "oldest unpublished",
        title="Services",
    )
    for s in status.services:
        if s.error is not None:
            services.add_row(s.service, f"[red]{s.error}[/]", s.head or "-", "-", "-")
            continue
        revision = s.revision or "none"
        if s.revision != s.head:
            revision = f"[yellow]{revision}[/] (migrates at start)"
        services.add_row(
            s.service,
            revision,
            s.head or "-",
            str(s.outbox_backlog),
            _age(s.oldest_unpublished_seconds),
        )
    console.print(services)
    lags = Table("consumer", "source", "events waiting", title="Consumer lag")
    for lag in status.lags:
        lags.add_row(lag.consumer, lag.source, str(lag.lag))
    console.print(lags)
    if status.dead_letters:
        dead = Table(
            "consumer", "type", "dead-lettered", "replay once fixed", title="[red]Dead letters[/]"
        )
        for d in status.dead_letters:
            dead.add_row(d.consumer, d.type, str(d.count), d.hint)
        console.print(dead)
    else:
        console.print("Dead letters: none")
    if status.last_backup is None:
        console.print(f"Last backup: [yellow]none[/] in {status.backups_at}")
    else:
        last = status.last_backup
        age = (datetime.now(UTC) - last.finished_at).total_seconds() / 3600
        console.print(
            f"Last backup: {last.id}, finished {last.finished_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({age:.1f} h ago): {last.ref}"
        )


def status(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="The deployment's data directory (env PANTHERA_DATA_DIR)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
) -> None:
    """Each process's health and readiness, versions and schema revisions, outbox backlog,
    consumer lag, dead letters (with the `events replay` to run) and the last backup.

    Exits 1 unless every process is alive and ready and every database answers.
    """
    from panthera.app import SERVICES
    from panthera.ops.backup import deployment_of
    from panthera.ops.status import gather

    if data_dir is not None:
        os.environ["PANTHERA_DATA_DIR"] = str(data_dir)
    deployment = deployment_of(Settings(), SERVICES)
    # Piped into a file or a pager, lines stay whole (a terminal wraps at its width).
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    if as_json or not sys.stdout.isatty():
        found = asyncio.run(gather(deployment))
    else:
        with console.status("Asking every process and database ..."):
            found = asyncio.run(gather(deployment))
    if as_json:
        typer.echo(json.dumps(found.as_json(), indent=2))
    else:
        render(found, console)
    if not found.healthy:
        raise typer.Exit(1)
