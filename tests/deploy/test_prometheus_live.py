"""A real Prometheus scrapes a distributed platform under a short load; every dashboard
panel's query and every rule's expression is evaluated through its HTTP API.

Each must parse, and each panel must return at least one series: every series a panel
reads exists (at zero) from the start of the process that emits it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from panthera.testing.cleanup import remove_run
from panthera.testing.ports import free_port
from panthera.testing.shop import Shopper, wait_for
from tests.deploy.observability import (
    PROMETHEUS,
    dashboards,
    grafana_variables,
    queries,
    rules,
)
from tests.ops.deployment import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@contextmanager
def prometheus(folder: Path, targets: Path) -> Iterator[str]:
    """Debian's Prometheus with the committed configuration and rules, scraping every second."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: scripts/install-prometheus installs it"
    folder.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["scrape_configs"][0]["file_sd_configs"][0]["files"] = [str(targets)]
    config["scrape_configs"][0]["file_sd_configs"][0]["refresh_interval"] = "1s"
    loaded = rules()
    for group in loaded["groups"]:
        group["interval"] = "1s"
    (folder / "rules.yml").write_text(yaml.safe_dump(loaded))
    config["rule_files"] = [str(folder / "rules.yml")]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (folder / "prometheus.log").open("ab")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/-/ready", timeout=2).status_code == 200, 60)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def query(base: str, expression: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": expression}, timeout=30)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expression, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def load(shop: Shopper) -> None:
    """A short, bounded load touching every service: sign-ups, reads, orders, refusals."""
    admin = shop.admin()
    customers = [shop.sign_up(f"load{uuid.uuid4().hex[:6]}") for _ in range(3)]
    product = shop.product(admin, stock=50)
    for index, who in enumerate(customers):
        for _ in range(3):
            shop.http.get(f"/v1/products/{product}")
            shop.http.get("/v1/products", params={"search": "shoe"})
        placed = shop.order(who, product, 1, "tok_chargeDeclined" if index == 0 else "tok_visa")
        shop.settle(who, placed, within=120)
    shop.http.get("/v1/no-such-route")
    for _ in range(12):  # past the login limit of one account: refusals counted
        shop.http.post("/v1/auth/login", json={"email": "load@example.com", "password": "wrong"})


def test_every_panel_and_rule_evaluates_against_a_live_prometheus(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, "distributed")
    try:
        with deployment.up() as base:
            load(Shopper(base))
            targets = deployment.data_dir / "prometheus-targets.json"
            with prometheus(tmp_path / "prometheus", targets) as prom:

                def all_up() -> bool:
                    active = httpx.get(f"{prom}/api/v1/targets", timeout=5).json()["data"]
                    found = active["activeTargets"]
                    return bool(found) and all(t["health"] == "up" for t in found)

                wait_for(all_up, 60)
                time.sleep(20)  # rates over a few scrapes, recording rules evaluated
                load(Shopper(base))
                time.sleep(10)

                empty = []
                for name, dashboard in dashboards().items():
                    for title, expression in queries(dashboard):
                        concrete = grafana_variables(expression, dashboard).replace(
                            "$__range", "5m"
                        )
                        if not query(prom, concrete):
                            empty.append((name, title, concrete))
                for group in rules()["groups"]:
                    for rule in group["rules"]:
                        query(prom, rule["expr"])  # parses and evaluates
                assert empty == [], "panels without data"
    finally:
        remove_run(deployment.run)
