"""The `panthera` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import uvicorn
from starlette.types import ASGIApp

from panthera.kernel.settings import Settings
from panthera.ops.cli import backup_cli

cli = typer.Typer(help="PantheraConnect: run and operate the platform.", no_args_is_help=True)
admin_cli = typer.Typer(help="Manage administrator accounts.", no_args_is_help=True)
cli.add_typer(admin_cli, name="admin")
events_cli = typer.Typer(help="Operate the event backbone.", no_args_is_help=True)
cli.add_typer(events_cli, name="events")
gateway_cli = typer.Typer(help="The distributed edge (Envoy).", no_args_is_help=True)
cli.add_typer(gateway_cli, name="gateway")
cli.add_typer(backup_cli, name="backup")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where SQLite files and keys live (env PANTHERA_DATA_DIR)."),
]


def server_config(
    app: ASGIApp, *, host: str, port: int, behind: str | None = None
) -> uvicorn.Config:
    """How `app` is served; `behind`: the addresses of the gateway in front of it,
    whose X-Forwarded-For is believed (so per-client limits see the real client)."""
    # Our middleware logs each request as JSON with its ids; uvicorn's own access
    # log and logging config would only duplicate it.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=behind is not None,
        forwarded_allow_ips=behind,
        timeout_graceful_shutdown=10,
    )


def _serve(app: ASGIApp, *, host: str, port: int, behind: str | None = None) -> None:
    server = uvicorn.Server(server_config(app, host=host, port=port, behind=behind))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # as uvicorn.run: a port taken or a failed startup is an error
        raise SystemExit(3)


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["PANTHERA_DATA_DIR"] = str(data_dir)
    return Settings()


@cli.command()
def up(
    port: Annotated[int, typer.Option(help="Port of the gateway.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data_dir: DataDir = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Fill an empty catalog with demo products first.")
    ] = False,
    demo_products: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="How many products --demo adds.")
    ] = 1_000,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="A process per service on PostgreSQL, NATS and Redis (distributed topology).",
        ),
    ] = False,
    replicas: Annotated[
        str, typer.Option(help="With --distributed: e.g. orders=2,notifications=2.")
    ] = "",
) -> None:
    """Run the whole platform: one process (default), or one per service (--distributed)."""
    from panthera.app import create_app

    if distributed:
        _up_distributed(
            port=port,
            host=host,
            data_dir=data_dir,
            replicas=replicas,
            demo_products=demo_products if demo else 0,
        )
        return
    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if demo:
        _seed_catalog(settings, demo_products, only_if_empty=True)
    typer.echo(
        f"PantheraConnect (embedded) on http://{host}:{port}  "
        f"docs: http://{host}:{port}/docs  data: {settings.data_dir.resolve()}",
        err=True,
    )
    _serve(create_app(settings), host=host, port=port)


def _up_distributed(
    *, port: int, host: str, data_dir: Path | None, replicas: str, demo_products: int
) -> None:
    from panthera import supervisor

    for name, value in supervisor.DEFAULTS.items():
        os.environ.setdefault(name, value)
    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Every child process must find the same data directory, whatever its cwd.
    os.environ["PANTHERA_DATA_DIR"] = str(settings.data_dir.resolve())
    try:
        counts = supervisor.parse_replicas(replicas)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    problems = asyncio.run(supervisor.check_dependencies(settings))
    if problems:
        typer.echo("error: the distributed topology needs:\n  " + "\n  ".join(problems), err=True)
        raise typer.Exit(1)
    if demo_products:
        _seed_catalog(settings, demo_products, only_if_empty=True)
    children = supervisor.plan(
        gateway_port=port, replicas=counts, host=host, base_env=dict(os.environ)
    )
    state_file = settings.data_dir / "processes.json"
    asyncio.run(supervisor.Supervisor(children, state_file=state_file).run())


def _seed_catalog(settings: Settings, products: int, *, only_if_empty: bool) -> int:
    from panthera.app import local_verifier
    from panthera.kernel.service import ServiceHost
    from panthera.services import catalog
    from panthera.services.catalog import demo
    from panthera.services.catalog.products import count_products

    # The catalog alone: seeding needs neither the gateway nor the other services.
    host = ServiceHost(catalog.spec, settings, local_verifier(settings))

    async def run() -> int:
        async with host.running():
            rt = host.runtime
            if only_if_empty and await count_products(rt=rt) > 0:
                typer.echo("catalog already has products; demo data not added", err=True)
                return 0
            with typer.progressbar(length=products, label="Seeding catalog", file=None) as bar:
                return await demo.seed(rt=rt, products=products, progress=bar.update)

    return asyncio.run(run())


@cli.command()
def seed(
    products: Annotated[
        int, typer.Option("--products", min=1, max=1_000_000, help="How many products to add.")
    ] = 1_000,
    data_dir: DataDir = None,
) -> None:
    """Add deterministic demo categories and products to the catalog."""
    settings = _settings(data_dir)
    started = time.perf_counter()
    added = _seed_catalog(settings, products, only_if_empty=False)
    typer.echo(f"added {added} products in {time.perf_counter() - started:.1f}s")


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
    from panthera.services.users import service

    settings = _settings(data_dir)
    platform = create_platform(settings, services=["users"])
    host = platform.hosts["users"]

    async def run() -> tuple[str, bool]:
        async with host.running():
            user, created = await service.ensure_admin(
                rt=host.runtime, email=email, password=password, username=username
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


@cli.command()
def serve(
    service: Annotated[str, typer.Argument(help="The service to run, e.g. users.")],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data_dir: DataDir = None,
) -> None:
    """Run one service, the gateway (Envoy) or the web, alone in this process (distributed)."""

    from panthera.app import create_service_app

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if service == "gateway":
        _exec_envoy(settings, host=host, port=port)
    app: ASGIApp
    try:
        if service == "web":
            from panthera.web import create_web_app

            _site, app = create_web_app(settings)
        else:
            _host, app = create_service_app(service, settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"PantheraConnect {service} on http://{host}:{port}", err=True)
    # A service sits behind the edge and believes its X-Forwarded-For, and nobody else's.
    _serve(app, host=host, port=port, behind=settings.gateway_addresses)


def _exec_envoy(settings: Settings, *, host: str, port: int) -> NoReturn:
    """Render the edge's configuration and become Envoy (signals then reach it directly)."""
    from panthera.app import gateway_config
    from panthera.gateway.process import (
        EnvoyMissing,
        envoy_binary,
        envoy_command,
        rendered_config,
        write_config,
    )
    from panthera.gateway.settings import RETIRED, GatewaySettings

    for name, instead in RETIRED.items():
        if name in os.environ:
            typer.echo(f"warning: {name} is retired: {instead}", err=True)
    try:
        gateway = GatewaySettings()
        binary = envoy_binary(gateway)
        if gateway.envoy_config is not None:
            path = rendered_config(gateway.envoy_config, port=port)
        else:
            config = gateway_config(settings, gateway, host=host, port=port)
            path = write_config(config, settings.data_dir / "gateway" / f"envoy-{port}.json")
    except (ValueError, EnvoyMissing) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"PantheraConnect gateway (Envoy) on http://{host}:{port}", err=True)
    command = envoy_command(binary, path, gateway, log_level=settings.log_level)
    os.execv(binary, command)  # noqa: S606 (our own configuration, our own binary)


@gateway_cli.command("config")
def gateway_config_command(
    upstreams: Annotated[
        str | None,
        typer.Option(
            help="Replicas of each service: users=http://users:8000,catalog=http://c1:8000,"
            "catalog=http://c2:8000 (or JSON); default PANTHERA_GATEWAY__UPSTREAMS.",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port the edge listens on.")] = 8080,
    host: Annotated[str, typer.Option(help="Address the edge listens on.")] = "0.0.0.0",  # noqa: S104
) -> None:
    """Print the edge's Envoy configuration (JSON, which is also YAML) for Compose or Kubernetes."""
    from panthera.app import gateway_config
    from panthera.gateway.settings import GatewaySettings

    try:
        replicas = _parse_upstreams(upstreams) if upstreams else None
        config = gateway_config(
            Settings(), GatewaySettings(), host=host, port=port, upstreams=replicas
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(config, indent=2))


def _parse_upstreams(text: str) -> dict[str, list[str]]:
    if text.lstrip().startswith("{"):
        parsed = json.loads(text)
        return {str(name): [str(url) for url in urls] for name, urls in parsed.items()}
    found: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, url = part.partition("=")
        if not sep or not url:
            raise ValueError(f"bad upstream {part!r}: use SERVICE=URL")
        found.setdefault(name.strip(), []).append(url.strip())
    return found


@cli.command()
def migrate(
    services: Annotated[
        list[str] | None, typer.Argument(help="Services to migrate; all when none is named.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Bring each service's database to its newest schema, then exit.

    Every service also migrates on start (under an advisory lock); this is for teams that
    migrate before a rollout, e.g. as a Kubernetes Job (docs/deploy.md).
    """
    from panthera.app import SERVICES
    from panthera.kernel import migrations
    from panthera.kernel.database import Database
    from panthera.kernel.startup import wait_until_available

    settings = _settings(data_dir)
    names = services or list(SERVICES)
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        typer.echo(f"error: unknown services: {', '.join(unknown)}", err=True)
        raise typer.Exit(2)

    async def run(name: str) -> None:
        spec = SERVICES[name]
        url = settings.database_url_for(name, spec.settings_type().database_url)
        db = Database(url, schema=settings.schema_for(name))
        try:
            await wait_until_available(
                "database", db.ping, service=name, within=settings.startup_wait_seconds
            )
            await migrations.upgrade(db, spec.migrations, name)
        finally:
            await db.dispose()

    for name in names:
        asyncio.run(run(name))
        typer.echo(f"{name}: migrated")


@events_cli.command("replay")
def events_replay(
    consumer: Annotated[str, typer.Option(help="The consuming service, e.g. notifications.")],
    since: Annotated[str, typer.Option(help="ISO 8601 time (UTC if no zone).")],
    reprocess: Annotated[
        bool, typer.Option(help="Run handlers again even for events already handled.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Deliver stored events since a time to a consumer again (recovery after a fix)."""
    from contextlib import AsyncExitStack

    from panthera.app import create_platform
    from panthera.kernel.consumer import parse_since, replay

    settings = _settings(data_dir)
    try:
        start = parse_since(since)
    except ValueError as exc:
        typer.echo(f"error: --since: {exc}", err=True)
        raise typer.Exit(2) from exc
    # Every service is hosted so that, in-process, their outboxes are the log to read.
    platform = create_platform(settings)
    target = platform.hosts.get(consumer)
    if target is None or target.consumer is None:
        typer.echo(f"error: {consumer!r} is not a service that consumes events", err=True)
        raise typer.Exit(2)
    handler = target.consumer

    async def run() -> tuple[int, int]:
        async with AsyncExitStack() as stack:
            for hosted in platform.hosts.values():
                await stack.enter_async_context(hosted.running(consume=False))
            events = target.bus.replay(types=handler.types, since=start)
            return await replay(consumer=handler, events=events, reprocess=reprocess)

    seen, applied = asyncio.run(run())
    typer.echo(f"replayed {seen} events to {consumer}: {applied} applied, {seen - applied} skipped")


def main() -> None:
    cli()
