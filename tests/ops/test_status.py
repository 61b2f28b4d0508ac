"""`panthera status` against a real running platform, in both topologies."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from panthera.kernel.database import Database
from panthera.kernel.events import Event
from panthera.kernel.outbox import outbox_table
from panthera.kernel.settings import Settings
from panthera.testing.cleanup import remove_run
from panthera.testing.shop import Shopper, wait_for
from tests.conftest import POSTGRES_URL
from tests.ops.deployment import SERVICES, Deployment

pytestmark = pytest.mark.e2e


def record_undeliverable_event(deployment: Deployment) -> None:
    """An orders event of a version nobody reads, in the orders outbox: its relay publishes it
    and each consumer of the type dead-letters it at once."""
    distributed = deployment.topology == "distributed"
    settings = Settings(
        data_dir=deployment.data_dir,
        database_url=POSTGRES_URL if distributed else None,
        schema_prefix=f"{deployment.run}_",
    )
    event = Event(
        id=uuid.uuid4(),
        type="orders.order.placed",
        version=99,
        occurredAt=datetime.now(UTC),
        source="orders",
        subject=str(uuid.uuid4()),
        data={},
    )

    async def insert() -> None:
        db = Database(settings.database_url_for("orders"), schema=settings.schema_for("orders"))
        try:
            async with db.transaction() as session:
                await session.execute(
                    outbox_table(sa.MetaData())
                    .insert()
                    .values(
                        event_id=event.id,
                        type=event.type,
                        subject=event.subject,
                        envelope=event.model_dump(mode="json"),
                        occurred_at=event.occurredAt,
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(insert())


def status(deployment: Deployment) -> tuple[int, dict[str, Any]]:
    ran = deployment.panthera("status", "--json")
    assert ran.stdout, ran.stderr
    return ran.returncode, json.loads(ran.stdout)


@pytest.mark.parametrize(
    "topology", ["embedded", pytest.param("distributed", marks=pytest.mark.integration)]
)
def test_status_of_a_running_deployment(tmp_path: Path, topology: str) -> None:
    deployment = Deployment(tmp_path, topology)
    try:
        code, nothing = status(deployment)
        assert code == 1 and not nothing["healthy"] and nothing["processes"] == []
        assert "no running processes" in nothing["notes"][0]

        with deployment.up() as base:
            shop = Shopper(base)
            customer = shop.sign_up("stan")
            product = shop.product(shop.admin(), stock=2)
            shop.settle(customer, shop.order(customer, product))
            backup = deployment.panthera("backup", "create")
            assert backup.returncode == 0, backup.stderr
            record_undeliverable_event(deployment)

            def dead_lettered() -> dict[str, Any] | None:
                _code, found = status(deployment)
                dead = {(d["consumer"], d["type"]) for d in found["dead_letters"]}
                return found if ("catalog", "orders.order.placed") in dead else None

            found = wait_for(dead_lettered, 60)
            text = deployment.panthera("status")
    finally:
        remove_run(deployment.run)

    assert found["healthy"] and found["topology"] == topology
    processes = found["processes"]
    assert processes and all(p["alive"] and p["ready"] for p in processes)
    served = {p["service"] for p in processes}
    if topology == "distributed":
        assert set(SERVICES) | {"gateway"} <= served
    else:
        assert served == {"platform"}
    assert all(p["version"] for p in processes if p["service"] != "gateway")
    services = {s["service"]: s for s in found["services"]}
    assert set(services) == set(SERVICES)
    for service in services.values():
        assert service["error"] is None and service["revision"] == service["head"]
        assert service["outbox_backlog"] >= 0
    lagging = {(lag["consumer"], lag["source"]) for lag in found["lags"]}
    assert ("catalog", "orders") in lagging
    dead = next(d for d in found["dead_letters"] if d["consumer"] == "catalog")
    assert dead["count"] == 1
    assert dead["hint"].startswith("panthera events replay --consumer catalog --since 20")
    assert found["last_backup"]["ref"] == backup.stdout.strip()
    assert text.returncode == 0, text.stderr
    for part in ("Processes", "Services", "Consumer lag", "Dead letters", dead["hint"]):
        assert part in text.stdout
    assert found["last_backup"]["id"] in text.stdout
