"""`panthera events replay` on the embedded topology: recovery after a handler bug."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from panthera.app import create_platform
from panthera.cli import cli
from panthera.kernel.settings import Settings
from panthera.services.notifications.models import NotificationRow
from panthera.testing.servers import nats_server
from tests.conftest import eventually, fast_service_settings, sign_up


async def _statuses(settings: Settings, *, then_sign_up: bool) -> list[str]:
    platform = create_platform(settings, service_settings=fast_service_settings())
    async with platform.running():
        host = platform.hosts["notifications"]

        async def rows() -> list[str]:
            async with host.uow.read() as tx:
                return list(await tx.session.scalars(sa.select(NotificationRow.status)))

        if then_sign_up:
            transport = httpx.ASGITransport(app=platform.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await sign_up(client, "erin")
            await eventually(lambda: _all_sent(rows))
            # The bug: the welcome was lost after its event was handled.
            async with host.uow.write() as tx:
                await tx.session.execute(sa.delete(NotificationRow))
            return []
        sent: list[str] = await eventually(lambda: _all_sent(rows))
        return sent


async def _all_sent(rows: object) -> list[str]:
    found: list[str] = await rows()  # type: ignore[operator]
    return found if found and all(s == "sent" for s in found) else []


def test_replay_applies_events_again_after_a_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("PANTHERA_DATA_DIR", str(data))
    settings = Settings(data_dir=data)
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    asyncio.run(_statuses(settings, then_sign_up=True))

    runner = CliRunner()
    base = ["events", "replay", "--consumer", "notifications", "--since", since]
    # The inbox knows the event: a plain replay changes nothing.
    plain = runner.invoke(cli, [*base, "--data-dir", str(data)])
    assert plain.exit_code == 0, plain.output
    assert "replayed 1 events to notifications: 0 applied" in plain.output
    forced = runner.invoke(cli, [*base, "--reprocess", "--data-dir", str(data)])
    assert forced.exit_code == 0, forced.output
    assert "1 applied" in forced.output
    # The restored welcome is queued, and the running platform sends it.
    assert asyncio.run(_statuses(settings, then_sign_up=False)) == ["sent"]


def test_replay_refuses_a_service_without_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PANTHERA_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        cli, ["events", "replay", "--consumer", "users", "--since", "2026-01-01T00:00:00"]
    )
    assert result.exit_code == 2
    assert "not a service that consumes events" in result.output


async def _forget_outbox(settings: Settings, service: str) -> None:
    db = create_platform(settings, services=[service]).hosts[service].db
    try:
        async with db.transaction() as session:
            assert await session.scalar(sa.text("SELECT count(*) FROM outbox"))
            await session.execute(sa.text("DELETE FROM outbox"))
    finally:
        await db.dispose()


@pytest.mark.integration
def test_replay_reads_the_stream_on_nats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Distributed, the log is the JetStream stream (a private server here), not an outbox."""
    nats = nats_server(tmp_path)
    nats.start()
    try:
        data = tmp_path / "data"
        url = f"nats://127.0.0.1:{nats.port}"
        monkeypatch.setenv("PANTHERA_DATA_DIR", str(data))
        monkeypatch.setenv("PANTHERA_NATS_URL", url)
        settings = Settings(data_dir=data, nats_url=url)
        since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        asyncio.run(_statuses(settings, then_sign_up=True))
        asyncio.run(_forget_outbox(settings, "users"))  # only the stream holds the event now
        base = ["events", "replay", "--consumer", "notifications", "--since", since]
        plain = CliRunner().invoke(cli, base)
        assert plain.exit_code == 0, plain.output
        assert "replayed 1 events to notifications: 0 applied" in plain.output
        later = datetime.now(UTC).isoformat()
        none = CliRunner().invoke(
            cli, ["events", "replay", "--consumer", "notifications", "--since", later]
        )
        assert "replayed 0 events" in none.output, none.output
        forced = CliRunner().invoke(cli, [*base, "--reprocess"])
        assert forced.exit_code == 0, forced.output
        assert "replayed 1 events to notifications: 1 applied" in forced.output
        assert asyncio.run(_statuses(settings, then_sign_up=False)) == ["sent"]
    finally:
        nats.stop()
