"""The `panthera` command."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from panthera.kernel.settings import Settings

cli = typer.Typer(help="PantheraConnect: run and operate the platform.", no_args_is_help=True)
admin_cli = typer.Typer(help="Manage administrator accounts.", no_args_is_help=True)
cli.add_typer(admin_cli, name="admin")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where SQLite files and keys live (env PANTHERA_DATA_DIR)."),
]


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["PANTHERA_DATA_DIR"] = str(data_dir)
    return Settings()


@cli.command()
def up(
    port: Annotated[int, typer.Option(help="Port of the gateway.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data_dir: DataDir = None,
) -> None:
    """Run the whole platform in one process (embedded topology)."""
    from panthera.app import create_app

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    typer.echo(
        f"PantheraConnect (embedded) on http://{host}:{port}  "
        f"docs: http://{host}:{port}/docs  data: {settings.data_dir.resolve()}",
        err=True,
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


@admin_cli.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="The admin's email (login name).")],
    password: Annotated[str, typer.Option(help="At least 8 characters, mixed case and a digit.")],
    username: Annotated[
        str | None, typer.Option(help="Defaults to the email's local part.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an administrator account."""
    from pydantic import ValidationError

    from panthera.app import create_platform
    from panthera.services.users import build_runtime, service

    settings = _settings(data_dir)
    platform = create_platform(settings, services=["users"])
    host = platform.hosts["users"]

    async def run() -> tuple[str, bool]:
        async with host.running():
            user, created = await service.ensure_admin(
                rt=build_runtime(host), email=email, password=password, username=username
            )
            return user.email, created

    try:
        address, created = asyncio.run(run())
    except ValidationError as exc:
        messages = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: {messages}", err=True)
        raise typer.Exit(2) from exc
    if not created:
        typer.echo(f"error: an account with email {address} already exists", err=True)
        raise typer.Exit(1)
    typer.echo(f"admin {address} created")


def main() -> None:
    cli()
