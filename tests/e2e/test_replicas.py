"""Two replicas of a service: the gateway balances between them, consumers share the
work through queue groups, and no effect happens twice.

The suite's one test of replicas without double sends (a consumer killed mid-batch is
tests/e2e/test_events_nats.py's; the same event handled by two replicas at the same
moment, which real processes cannot be made to do on cue, is
tests/services/notifications/test_service.py's)."""

from __future__ import annotations

import mailbox
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from panthera.testing.shop import Shopper, platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def handled(url: str, metric: str, pattern: str) -> float:
    """Sum a Prometheus counter's samples whose labels match `pattern`."""
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(value)
        for labels, value in re.findall(rf"^{metric}\{{(.*?)\}} ([\d.e+]+)$", text, re.MULTILINE)
        if re.search(pattern, labels)
    )


def test_orders_and_notifications_with_two_replicas_each(tmp_path: Path, report: Any) -> None:
    with platform(
        tmp_path, "distributed", extra_args=["--replicas", "orders=2,notifications=2"]
    ) as running:
        processes = running.processes()
        assert {"orders-1", "orders-2", "notifications-1", "notifications-2"} <= set(processes)
        shop = Shopper(running.base)
        admin = shop.admin()
        product = shop.product(admin, stock=100)
        customers = [shop.sign_up(f"rep{i:02d}") for i in range(16)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            orders = list(pool.map(lambda who: shop.order(who, product), customers))
        outcomes = [shop.settle(who, order) for who, order in zip(customers, orders, strict=True)]

        def every_confirmation() -> list[dict[str, Any]] | None:
            found = [
                n
                for n in shop.notifications(admin)
                if n["template"] == "order_confirmed"
                and n["channel"] == "email"
                and n["status"] == "sent"
            ]
            return found if len(found) >= len(orders) else None

        confirmations = wait_for(every_confirmation, within=60)
        per_event = Counter(n["event"] for n in confirmations)
        served = {
            name: handled(
                processes[name]["url"], "panthera_http_requests_total", r'route="/v1/orders'
            )
            for name in ("orders-1", "orders-2")
        }
        consumed = {
            name: handled(
                processes[name]["url"],
                "panthera_events_handled_total",
                r'outcome="(handled|applied)"',
            )
            for name in ("notifications-1", "notifications-2")
        }

        # What left the platform: the Maildir both replicas write to (no SMTP configured),
        # once every customer's welcome and confirmation is out.
        def delivered_and_sent() -> tuple[Counter[str], set[str]] | None:
            mails = mailbox.Maildir(running.data_dir / "mail", create=False)
            delivered = Counter(str(m["X-Panthera-Notification"]) for m in mails)
            sent = {
                n["id"]
                for n in shop.notifications(admin)
                if n["channel"] == "email" and n["status"] == "sent"
            }
            settled = len(sent) >= 2 * len(customers) and set(delivered) == sent
            return (delivered, sent) if settled else None

        delivered, sent_emails = wait_for(delivered_and_sent, within=60)
        report(
            orders_placed=len(orders),
            emails_delivered=sum(delivered.values()),
            emails_sent_per_store=len(sent_emails),
            confirmed=outcomes.count("confirmed"),
            confirmation_emails=len(confirmations),
            duplicate_notifications=sum(c - 1 for c in per_event.values()),
            requests_per_orders_replica=served,
            events_per_notifications_replica=consumed,
        )
        assert outcomes.count("confirmed") == len(orders)
        assert len(confirmations) == len(orders) and max(per_event.values()) == 1
        # Every email the store says was sent was delivered, and none twice.
        assert set(delivered) == sent_emails, delivered
        assert set(delivered.values()) == {1}, {k: v for k, v in delivered.items() if v > 1}
        assert all(count > 0 for count in served.values()), served
        assert all(count > 0 for count in consumed.values()), consumed
