"""deploy/compose.yaml follows the Compose specification and starts the platform in order.

Only validated here: its images (PostgreSQL, NATS, Redis, SeaweedFS) come from a registry
this machine cannot reach, so it is not run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.deploy.tools import COMPOSE_SCHEMA, ROOT, schema_errors

pytestmark = pytest.mark.deploy

PLATFORM = {"users", "catalog", "orders", "notifications", "web", "gateway", "media-worker"}
SERVICES = {"users", "catalog", "orders", "notifications"}
WORKERS = {"media-worker"}
"""Processes fed by the queue: no upstream of the edge, nothing the edge waits for."""
STORES = {"postgres", "nats", "redis", "objectstore"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    return document


def test_it_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert schema_errors(COMPOSE_SCHEMA, compose) == []


def test_a_broken_file_is_caught_by_the_same_check(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["users"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["gateway"]["restart_policy"] = "always"
    assert len(schema_errors(COMPOSE_SCHEMA, broken)) >= 2


def test_every_process_waits_for_what_it_needs_to_be_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == PLATFORM | STORES
    for name in STORES:
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
        assert any(v.split(":")[0] in compose["volumes"] for v in services[name]["volumes"])
    for name in PLATFORM:
        service = services[name]
        assert service["image"] == "panthera:local" and service["build"]["context"] == ".."
        assert service["command"][:2] == ["serve", name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        conditions = {d["condition"] for d in service["depends_on"].values()}
        assert conditions == {"service_healthy"}, name
    for name in SERVICES:
        assert {"postgres", "nats", "redis"} <= set(services[name]["depends_on"])
    # The web needs its sessions only; the edge's readiness waits for the web, not the reverse.
    assert set(services["web"]["depends_on"]) == {"redis"}
    assert services["web"]["environment"]["PANTHERA_WEB__API_URL"] == "http://gateway:8000"
    behind_the_edge = PLATFORM - {"gateway"} - WORKERS
    assert set(services["gateway"]["depends_on"]) == behind_the_edge | {"redis"}
    upstreams = json.loads(services["gateway"]["environment"]["PANTHERA_GATEWAY__UPSTREAMS"])
    assert upstreams == {s: [f"http://{s}:8000"] for s in behind_the_edge}
    # The catalog and its media worker share the product images (the directory store).
    media = {v for v in services["catalog"]["volumes"] if v.endswith("/media")}
    assert media and media <= set(services["media-worker"]["volumes"])
    assert services["gateway"]["ports"] == ["8080:8000"]
