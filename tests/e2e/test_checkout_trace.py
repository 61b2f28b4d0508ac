"""One checkout is one trace, across processes, in the distributed topology.

Every process exports its spans by OTLP/HTTP to a receiver this test runs; the
checkout's trace must hold the edge's span, the orders service's request, the
catalog's price read and reservation, the payment worker's charge and the
notification's send, linked parent to child through requests, the relays,
JetStream and the loops that pick the work up later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from panthera.testing.cleanup import remove_run
from panthera.testing.shop import Shopper, wait_for
from tests.e2e.otlp import ReceivedSpan, Receiver, receiving
from tests.ops.deployment import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@dataclass
class TracedDeployment(Deployment):
    otlp_endpoint: str = field(default="")

    @property
    def env(self) -> dict[str, str]:
        # Export every 200 ms rather than every 5 s, so the test waits less.
        return super().env | {
            "PANTHERA_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }


def checkout_trace(receiver: Receiver) -> list[ReceivedSpan]:
    """The spans of the trace whose orders request placed the order."""
    placing = [
        s
        for s in receiver.received()
        if s.service == "panthera-orders" and s.name == "POST /v1/orders"
    ]
    assert len({s.trace_id for s in placing}) <= 1, "one checkout only"
    if not placing:
        return []
    return [s for s in receiver.received() if s.trace_id == placing[0].trace_id]


def test_a_checkout_is_one_trace_across_the_services(tmp_path: Path) -> None:
    with receiving() as receiver:
        deployment = TracedDeployment(tmp_path, "distributed", otlp_endpoint=receiver.endpoint)
        try:
            with deployment.up() as base:
                shop = Shopper(base)
                admin = shop.admin()
                customer = shop.sign_up("tracy")
                product = shop.product(admin, stock=3)
                order = shop.order(customer, product)
                assert shop.settle(customer, order) == "confirmed"

                def sent() -> list[ReceivedSpan] | None:
                    spans = checkout_trace(receiver)
                    names = {(s.service, s.name) for s in spans}
                    services = {service for service, _ in names}
                    done = ("panthera-notifications", "send email") in names
                    return spans if done and "panthera-gateway" in services else None

                spans = wait_for(sent, 60)
        finally:
            remove_run(deployment.run)

    services = {s.service for s in spans}
    assert {"panthera-orders", "panthera-catalog", "panthera-notifications"} <= services
    assert "panthera-gateway" in services  # the edge: Envoy's own span
    assert len(services) >= 4, services
    names = {(s.service, s.name) for s in spans}
    for expected in [
        ("panthera-gateway", "ingress"),  # the edge
        ("panthera-orders", "POST /v1/orders"),
        ("panthera-orders", "GET catalog"),  # the price read, and the catalog answering it:
        ("panthera-catalog", "GET /v1/products/{productId}"),
        ("panthera-orders", "publish orders.order.placed"),  # the orders relay
        ("panthera-catalog", "consume orders.order.placed"),  # the reservation
        ("panthera-orders", "consume catalog.stock.reserved"),
        ("panthera-orders", "orders.charge"),  # the payment worker
        ("panthera-orders", "publish orders.order.confirmed"),
        ("panthera-notifications", "consume orders.order.confirmed"),
        ("panthera-notifications", "send email"),  # the sender's loop
    ]:
        assert expected in names, (expected, sorted(names))
    # Linked: every span but the trace's root has its parent in the trace.
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id not in ids]
    assert len(roots) == 1, roots
