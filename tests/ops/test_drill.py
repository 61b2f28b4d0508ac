"""The disaster-recovery drill, in both topologies, through the public API and the CLI.

A shop is filled (customers, products, orders in every state), backed up while
it runs, stopped and destroyed (its data directory deleted; in the distributed
topology its schemas dropped and its JetStream streams deleted too: JetStream
is not backed up), restored with `panthera backup restore` and started again.
Then every customer logs in, every order has its state and total, the stock
adds up, and nothing is sent or applied twice: the restored outboxes are
marked unpublished before the restart (as if the relays had not published
them at the backup's instant), so the relays publish every event once more
and every consumer's inbox drops it.
"""

from __future__ import annotations

import json
import mailbox
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from panthera.testing.cleanup import remove_run
from panthera.testing.shop import PASSWORD, Shopper, wait_for
from tests.ops.deployment import Deployment, backlog, published_total

pytestmark = pytest.mark.e2e


@dataclass
class Shop:
    customers: dict[str, dict[str, str]]
    products: dict[str, int]  # product id -> stock it was created with
    orders: dict[str, str]  # order id -> customer name


def fill(shop: Shopper) -> Shop:
    """Customers, products and orders in every state, each decided and notified."""
    admin = shop.admin()
    customers = {name: shop.sign_up(name) for name in ("ada", "bea", "cyd")}
    shoe = shop.product(admin, stock=10)
    last = shop.product(admin, stock=1, name="Last pair")
    orders: dict[str, str] = {}

    def order(who: str, product: str, quantity: int, token: str = "tok_visa") -> str:
        placed = shop.order(customers[who], product, quantity, token)
        orders[placed] = who
        shop.settle(customers[who], placed, within=120)
        return placed

    order("ada", shoe, 2)  # confirmed
    shipped = order("bea", shoe, 1)
    shop.http.post(f"/v1/orders/{shipped}/ship", headers=admin).raise_for_status()
    delivered = order("cyd", shoe, 3)
    shop.http.post(f"/v1/orders/{delivered}/ship", headers=admin).raise_for_status()
    shop.http.post(f"/v1/orders/{delivered}/deliver", headers=admin).raise_for_status()
    cancelled = order("ada", shoe, 1)
    shop.http.post(f"/v1/orders/{cancelled}/cancel", headers=customers["ada"]).raise_for_status()
    order("bea", last, 2)  # rejected: out of stock
    order("cyd", shoe, 1, token="tok_chargeDeclined")  # rejected: payment declined
    return Shop(customers, {shoe: 10, last: 1}, orders)


def picture(shop: Shopper, state: Shop) -> dict[str, Any]:
    """What the API says about everything the shop holds."""
    admin = shop.admin()
    users = shop.http.get("/v1/users", headers=admin, params={"limit": 100}).json()
    orders = shop.http.get("/v1/orders", headers=admin, params={"limit": 100}).json()["orders"]
    return {
        "users": sorted((u["email"], u["role"]) for u in users["users"]),
        "orders": sorted((o["id"], o["status"], o["reason"], o["total"]) for o in orders),
        "stock": {
            p: shop.http.get(f"/v1/products/{p}/stock").json()["available"] for p in state.products
        },
        "notifications": sorted(
            (n["template"], n["event"], n["status"])
            for n in shop.http.get(
                "/v1/notifications", headers=admin, params={"limit": 100}
            ).json()["notifications"]
        ),
    }


def settled(shop: Shopper, state: Shop) -> dict[str, Any]:
    """The picture once every notification is sent and nothing changes any more."""

    def quiet() -> dict[str, Any] | None:
        now = picture(shop, state)
        if not now["notifications"] or any(n[2] == "queued" for n in now["notifications"]):
            return None
        time.sleep(1)
        return now if picture(shop, state) == now else None

    result: dict[str, Any] = wait_for(quiet, within=120, every=0.5)
    return result


@pytest.mark.parametrize(
    "topology", ["embedded", pytest.param("distributed", marks=pytest.mark.integration)]
)
def test_disaster_recovery_drill(tmp_path: Path, topology: str) -> None:
    deployment = Deployment(tmp_path, topology)
    backups = tmp_path / "backups"  # off the data directory, which the disaster takes
    try:
        with deployment.up() as base:
            if topology == "distributed":  # Prometheus finds every process (deploy/prometheus)
                targets = json.loads((deployment.data_dir / "prometheus-targets.json").read_text())
                processes = json.loads((deployment.data_dir / "processes.json").read_text())
                assert {t["labels"]["process"] for t in targets} == set(processes)
            shop = Shopper(base)
            state = fill(shop)
            before = settled(shop, state)
            made = deployment.panthera("backup", "create", "--to", str(backups))
            assert made.returncode == 0, made.stderr
            ref = made.stdout.strip()
            shop.sign_up("too-late")  # after the backup: lost with the disaster

        listed = deployment.panthera("backup", "list", "--from", str(backups))
        assert listed.returncode == 0, listed.stderr
        assert ref in listed.stdout

        deployment.destroy()
        restored = deployment.panthera("backup", "restore", "--from", ref)
        assert restored.returncode == 0, restored.stderr
        again = deployment.panthera("backup", "restore", "--from", ref)
        assert again.returncode == 1
        assert "not empty" in again.stderr
        republished = deployment.mark_outboxes_unpublished()
        assert republished > 0

        with deployment.up() as base:
            shop = Shopper(base)
            for name in state.customers:
                shop.login(f"{name}@example.com", PASSWORD)
            urls = deployment.metrics_urls(base)
            wait_for(lambda: backlog(urls) == 0 and published_total(urls) >= republished, 120)
            after = settled(shop, state)
            assert after == before
            # Every event was published once more, and every consumer dropped it.
            assert published_total(urls) == republished
            # Nothing was sent again: the restored data directory's mail and SMS are empty.
            time.sleep(2)  # a send, had one been started, writes within this
            assert len(mailbox.Maildir(deployment.data_dir / "mail", create=True)) == 0
            assert not (deployment.data_dir / "sms.log").exists()
            # The stock adds up: what was created, less what confirmed orders took.
            sold = {"confirmed", "shipped", "delivered"}
            orders = shop.http.get("/v1/orders", headers=shop.admin(), params={"limit": 100})
            taken: dict[str, int] = dict.fromkeys(state.products, 0)
            for order in orders.json()["orders"]:
                if order["status"] in sold:
                    for item in order["items"]:
                        taken[item["productId"]] += item["quantity"]
            assert after["stock"] == {p: state.products[p] - taken[p] for p in state.products}
            late = shop.http.post(
                "/v1/auth/login", json={"email": "too-late@example.com", "password": PASSWORD}
            )
            assert late.status_code == 401
    finally:
        if topology == "distributed":
            remove_run(deployment.run)
