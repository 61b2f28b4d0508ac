"""The `panthera` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import uvicorn
from starlette.types import ASGIApp

from panthera.kernel.settings import Settings
from panthera.ops.cli import backup_cli
from panthera.ops.status import record_embedded
from panthera.ops.status_cli import status as status_command

cli = typer.Typer(help="PantheraConnect: run and operate the platform.", no_args_is_help=True)
admin_cli = typer.Typer(help="Manage administrator accounts.", no_args_is_help=True)
cli.add_typer(admin_cli, name="admin")
events_cli = typer.Typer(help="Operate the event backbone.", no_args_is_help=True)
cli.add_typer(events_cli, name="events")
gateway_cli = typer.Typer(help="The distributed edge (Envoy).", no_args_is_help=True)
cli.add_typer(gateway_cli, name="gateway")
cli.add_typer(backup_cli, name="backup")
media_cli = typer.Typer(help="Product media (images) in their store.", no_args_is_help=True)
cli.add_typer(media_cli, name="media")
cli.command("status")(status_command)

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


def _serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    behind: str | None = None,
    listener: socket.socket | None = None,
) -> None:
    """Run `app` as `server_config` says; `listener`: a socket already listening (the
    supervisor's), served instead of binding."""
    server = uvicorn.Server(server_config(app, host=host, port=port, behind=behind))
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener] if listener is not None else None)
    if not server.started:  # as uvicorn.run: a port taken or a failed startup is an error
        raise SystemExit(3)


def _announce(settings: Settings, service: str, text: str, event: str, **fields: object) -> None:
    """Say something to the person running a server, in the one format of its logs
    (PANTHERA_LOG_JSON): a JSON line among JSON lines, or a line of text."""
    if not settings.log_json:
        typer.echo(text, err=True)
        return
    import structlog

    from panthera.kernel import observability

    observability.configure(
        service=service,
        level=settings.log_level,
        json_logs=True,
        otlp_endpoint=settings.otlp_endpoint,
    )
    structlog.get_logger(f"panthera.{service}").info(event, service=service, **fields)


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["PANTHERA_DATA_DIR"] = str(data_dir)
    return Settings()


def _existing_deployment(data_dir: Path | None, services: Sequence[str]) -> tuple[Settings, str]:
    """The deployment a command acts on (recorded by `up` in the data directory, under the
    environment), and where its stores are; exits with the reason when there is none."""
    from panthera import deployment
    from panthera.app import SERVICES

    try:
        resolved = deployment.resolve(data_dir)
        specs = {name: SERVICES[name] for name in services}
        stores = asyncio.run(deployment.require_existing(resolved.settings, specs))
    except deployment.DeploymentNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return resolved.settings, f"{', '.join(stores)} (configured by {resolved.source})"


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
    from panthera import deployment

    settings = _settings(data_dir)
    deployment.record(settings, topology="embedded", environment=os.environ)
    if demo:
        _seed_catalog(settings, demo_products, only_if_empty=True)
    url = f"http://{host}:{port}"
    _announce(
        settings,
        "gateway",
        f"PantheraConnect (embedded) on {url}  docs: {url}/docs  "
        f"data: {settings.data_dir.resolve()}",
        "serving",
        topology="embedded",
        url=url,
        docs=f"{url}/docs",
        data_dir=str(settings.data_dir.resolve()),
    )
    record_embedded(settings.data_dir, host=host, port=port, pid=os.getpid())
    from panthera.kernel.service import settling_heap_once_started

    _serve(settling_heap_once_started(create_app(settings)), host=host, port=port)


def _up_distributed(
    *, port: int, host: str, data_dir: Path | None, replicas: str, demo_products: int
) -> None:
    from panthera import supervisor
    from panthera.kernel import observability

    for name, value in supervisor.DEFAULTS.items():
        os.environ.setdefault(name, value)
    settings = _settings(data_dir)
    # The supervisor's lines share a stream with its children's: the same format.
    observability.configure(
        service="supervisor", level=settings.log_level, json_logs=settings.log_json
    )
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
    from panthera import deployment

    deployment.record(settings, topology="distributed", environment=os.environ)
    if demo_products:
        _seed_catalog(settings, demo_products, only_if_empty=True)
    children = supervisor.plan(
        gateway_port=port, replicas=counts, host=host, base_env=dict(os.environ), bind=True
    )
    state_file = settings.data_dir / "processes.json"
    platform = supervisor.Supervisor(children, state_file=state_file, json_logs=settings.log_json)
    try:
        asyncio.run(platform.run())
    except supervisor.ChildFailing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _seed_catalog(settings: Settings, products: int, *, only_if_empty: bool) -> int:
    from panthera.app import local_verifier
    from panthera.kernel.service import ServiceHost
    from panthera.services import catalog
    from panthera.services.catalog import demo
    from panthera.services.catalog.products import count_products

    # The catalog alone: seeding needs neither the gateway nor the other services.
    host = ServiceHost(catalog.spec, settings, local_verifier(settings))

    async def run() -> int:
        # Seeding leaves the events to the catalog's own processes.
        async with host.running(consume=False):
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
    """Add deterministic demo categories and products to the catalog of a deployment."""
    settings, where = _existing_deployment(data_dir, ["catalog"])
    started = time.perf_counter()
    added = _seed_catalog(settings, products, only_if_empty=False)
    typer.echo(f"added {added} products in {time.perf_counter() - started:.1f}s to {where}")


@admin_cli.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="The admin's email (login name).")],
    password: Annotated[str, typer.Option(help="At least 8 characters, mixed case and a digit.")],
    username: Annotated[
        str | None, typer.Option(help="Defaults to the email's local part.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an administrator account in a deployment."""
    from pydantic import ValidationError

    from panthera.app import create_platform
    from panthera.services.users import service

    settings, where = _existing_deployment(data_dir, ["users"])
    platform = create_platform(settings, services=["users"])
    host = platform.hosts["users"]

    async def run() -> tuple[str, bool]:
        async with host.running(consume=False):
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
        typer.echo(f"error: an account with email {address} already exists in {where}", err=True)
        raise typer.Exit(1)
    typer.echo(f"admin {address} created in {where}")


@cli.command()
def serve(
    service: Annotated[str, typer.Argument(help="The service to run, e.g. users.")],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data_dir: DataDir = None,
    fd: Annotated[
        int | None,
        typer.Option(
            "--fd",
            min=0,
            help="Serve this inherited, listening socket instead of binding --host/--port "
            "(the supervisor's; not for the gateway, which is Envoy).",
        ),
    ] = None,
) -> None:
    """Run one service, the gateway (Envoy), the media worker or the web alone in this
    process (distributed)."""
    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    listener = None
    if fd is not None:
        if service == "gateway":
            typer.echo("error: --fd: the gateway is Envoy, which binds its own port", err=True)
            raise typer.Exit(2)
        try:
            listener = socket.socket(fileno=fd)
        except OSError as exc:
            typer.echo(f"error: --fd {fd}: not a socket ({exc})", err=True)
            raise typer.Exit(2) from exc
        host, port = listener.getsockname()[:2]
    if service == "gateway":
        _exec_envoy(settings, host=host, port=port)
    from panthera.app import create_service_app

    app: ASGIApp
    try:
        if service == "web":
            from panthera.web import create_web_app

            _site, app = create_web_app(settings)
        elif service == "media-worker":
            from panthera.app import create_media_worker_app

            _host, app = create_media_worker_app(settings)
        else:
            _host, app = create_service_app(service, settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    url = f"http://{host}:{port}"
    _announce(settings, service, f"PantheraConnect {service} on {url}", "serving", url=url)
    # A service sits behind the edge and believes its X-Forwarded-For, and nobody else's.
    _serve(app, host=host, port=port, behind=settings.gateway_addresses, listener=listener)


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
            _announce(
                settings,
                "gateway",
                f"warning: {name} is retired: {instead}",
                "setting_retired",
                setting=name,
                instead=instead,
            )
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
    url = f"http://{host}:{port}"
    _announce(settings, "gateway", f"PantheraConnect gateway (Envoy) on {url}", "serving", url=url)
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
    from panthera import deployment
    from panthera.app import SERVICES
    from panthera.kernel import migrations
    from panthera.kernel.database import Database
    from panthera.kernel.startup import wait_until_available

    # Migrating a new deployment's stores is this command's job: it may create them.
    settings = deployment.resolve(data_dir).settings
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

    from panthera.app import SERVICES, create_platform
    from panthera.kernel.consumer import parse_since, replay

    # Usage first, then the deployment: a wrong command line is a usage error wherever it runs.
    try:
        start = parse_since(since)
    except ValueError as exc:
        typer.echo(f"error: --since: {exc}", err=True)
        raise typer.Exit(2) from exc
    if consumer not in SERVICES or not SERVICES[consumer].handlers:
        typer.echo(f"error: {consumer!r} is not a service that consumes events", err=True)
        raise typer.Exit(2)
    settings, _where = _existing_deployment(data_dir, list(SERVICES))
    # Every service is hosted so that, in-process, their outboxes are the log to read.
    platform = create_platform(settings)
    target = platform.hosts[consumer]
    handler = target.consumer
    assert handler is not None  # a service with handlers has a consumer

    async def run() -> tuple[int, int]:
        async with AsyncExitStack() as stack:
            for hosted in platform.hosts.values():
                await stack.enter_async_context(hosted.running(consume=False))
            events = target.bus.replay(types=handler.types, since=start)
            return await replay(consumer=handler, events=events, reprocess=reprocess)

    seen, applied = asyncio.run(run())
    typer.echo(f"replayed {seen} events to {consumer}: {applied} applied, {seen - applied} skipped")


notifications_cli = typer.Typer(help="Operate the notification store.", no_args_is_help=True)
cli.add_typer(notifications_cli, name="notifications")


@notifications_cli.command("create-table")
def notifications_create_table(
    table: Annotated[
        str | None,
        typer.Option(help="The table's name (default PANTHERA_NOTIFICATIONS__DYNAMODB_TABLE)."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create the DynamoDB table of the notification store and its indexes, unless it exists.

    Endpoint and region come from PANTHERA_NOTIFICATIONS__DYNAMODB_*, credentials from the
    standard AWS configuration (docs/notifications.md).
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from pydantic import ValidationError

    from panthera.services.notifications.dynamodb_table import create_table, dynamodb_client
    from panthera.services.notifications.settings import NotificationsSettings

    _settings(data_dir)
    try:
        settings = NotificationsSettings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: PANTHERA_NOTIFICATIONS__*: {problems}", err=True)
        raise typer.Exit(2) from exc
    name = table or settings.dynamodb_table

    async def run() -> bool:
        async with dynamodb_client(settings) as client:
            return await create_table(client, name)

    try:
        created = asyncio.run(run())
    except (BotoCoreError, ClientError) as exc:
        typer.echo(f"error: table {name}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"table {name} {'created' if created else 'already exists'}; active")


@media_cli.command("gc")
def media_gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the orphaned objects, remove nothing.")
    ] = False,
    min_age: Annotated[
        int | None,
        typer.Option(
            "--min-age",
            min=0,
            help="Seconds an orphan must have existed (default "
            "PANTHERA_CATALOG__MEDIA_GC_MIN_AGE_SECONDS, 3600).",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Remove stored media objects that no product image names (left by crashes)."""
    from datetime import timedelta

    from panthera.app import local_verifier
    from panthera.kernel.service import ServiceHost
    from panthera.services import catalog
    from panthera.services.catalog.media import Sweep, collect_garbage

    settings = _settings(data_dir)
    host = ServiceHost(catalog.spec, settings, local_verifier(settings))

    async def run() -> Sweep:
        async with host.running(consume=False):
            return await collect_garbage(
                rt=host.runtime,
                dry_run=dry_run,
                min_age=None if min_age is None else timedelta(seconds=min_age),
                say=typer.echo,
            )

    sweep = asyncio.run(run())
    verb = "would remove" if dry_run else "removed"
    count = len(sweep.orphans) if dry_run else sweep.removed
    typer.echo(
        f"{verb} {count} orphaned objects; kept {sweep.kept_young} too young to judge", err=True
    )


def main() -> None:
    cli()
