"""`panthera up --distributed` tells Prometheus where every process is."""

from __future__ import annotations

import json
from pathlib import Path

from panthera import supervisor
from panthera.testing.ports import free_port


def test_every_process_replicas_included_is_a_target_with_its_service(tmp_path: Path) -> None:
    children = supervisor.plan(
        gateway_port=free_port(),
        replicas={"orders": 2, "notifications": 2},
        host="127.0.0.1",
        base_env={},
    )
    state = tmp_path / "processes.json"
    supervisor.Supervisor(children, state_file=state)._write_state()

    entries = json.loads((tmp_path / "prometheus-targets.json").read_text())
    by_process = {entry["labels"]["process"]: entry for entry in entries}
    assert set(by_process) == {child.name for child in children}
    assert {"orders-1", "orders-2", "notifications-2", "gateway"} <= set(by_process)
    for child in children:
        entry = by_process[child.name]
        assert entry["labels"] == {
            "service": child.service,
            "process": child.name,
            "topology": "distributed",
        }
        # The edge (Envoy) serves its metrics on its stats listener, the others on their port.
        port = child.env.get("PANTHERA_GATEWAY__STATS_PORT", str(child.port))
        assert entry["targets"] == [f"127.0.0.1:{port}"]
    assert len({entry["targets"][0] for entry in entries}) == len(entries)
