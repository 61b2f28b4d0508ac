"""Two replicas of a service: the gateway balances between them, consumers share the
work through queue groups, and no effect happens twice."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.shop import Shopper, platform, wait_for

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
        report(
            orders_placed=len(orders),
            confirmed=outcomes.count("confirmed"),
            confirmation_emails=len(confirmations),
            duplicate_notifications=sum(c - 1 for c in per_event.values()),
            requests_per_orders_replica=served,
            events_per_notifications_replica=consumed,
        )
        assert outcomes.count("confirmed") == len(orders)
        assert len(confirmations) == len(orders) and max(per_event.values()) == 1
        assert all(count > 0 for count in served.values()), served
        assert all(count > 0 for count in consumed.values()), consumed
