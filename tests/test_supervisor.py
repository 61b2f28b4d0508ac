"""The supervisor of `panthera up --distributed`: ports held for the platform's life, and a
child that keeps failing the same way reported instead of restarted forever."""

from __future__ import annotations

import contextlib
import json
import socket
from functools import partial
from pathlib import Path

import httpx
import pytest

from panthera import supervisor
from panthera.testing.ports import free_port
from panthera.testing.shop import platform, wait_for


def test_a_planned_service_port_is_bound_and_held_and_a_taken_one_skipped() -> None:
    edge = free_port()
    # An outgoing connection's local port looks like this to a later bind: taken, not listening.
    squatter = socket.socket()
    with contextlib.suppress(OSError):  # taken already: skipped all the same
        squatter.bind(("127.0.0.1", edge + 1))
    try:
        children = supervisor.plan(
            gateway_port=edge, replicas={}, host="127.0.0.1", base_env={}, bind=True
        )
    finally:
        squatter.close()
    services = [c for c in children if c.service != "gateway"]
    try:
        assert all(c.listener is not None for c in services)
        assert edge + 1 not in {c.port for c in services}
        for child in services:
            assert child.listener is not None
            assert child.listener.getsockname()[1] == child.port
            with socket.create_connection(("127.0.0.1", child.port), timeout=2):
                pass  # listening already: a client waits in its backlog, never gets refused
        gateway = children[-1]
        assert gateway.service == "gateway" and gateway.listener is None  # Envoy binds its own
    finally:
        for child in services:
            assert child.listener is not None
            child.listener.close()


def test_up_distributed_runs_the_media_worker_beside_the_services_not_behind_the_edge() -> None:
    children = supervisor.plan(
        gateway_port=free_port(), replicas={"media-worker": 2}, host="127.0.0.1", base_env={}
    )
    workers = [child for child in children if child.service == "media-worker"]
    assert [child.name for child in workers] == ["media-worker-1", "media-worker-2"]
    gateway = next(child for child in children if child.service == "gateway")
    upstreams = json.loads(gateway.env["PANTHERA_GATEWAY__UPSTREAMS"])
    assert "media-worker" not in upstreams and "catalog" in upstreams


@pytest.mark.e2e
async def test_a_child_failing_the_same_way_is_reported_not_restarted_forever(
    tmp_path: Path,
) -> None:
    # A misconfiguration that fails at once, every time: the edge is Envoy, which cannot
    # serve a socket handed over.
    listener = supervisor.listen_from(free_port())
    child = supervisor.Child("edge-1", "gateway", listener.getsockname()[1], {}, listener=listener)
    # "At once" on a loaded 2-core CI machine: starting Python there has taken 7 to 18 s,
    # past the default window of 10 s, so the streak kept being reset.
    watched = supervisor.Supervisor(
        [child],
        state_file=tmp_path / "processes.json",
        json_logs=False,
        backoff=0.05,
        quick_exit_seconds=120,
    )
    with pytest.raises(supervisor.ChildFailing) as failing:
        await watched.run()
    report = str(failing.value)
    assert report.startswith(
        f"edge-1 exited {supervisor.GIVE_UP_AFTER} times in a row within 120 s of starting"
    )
    assert "exit code 2" in report
    assert "the gateway is Envoy, which binds its own port" in report  # its own last words
    assert child.restarts == supervisor.GIVE_UP_AFTER
    assert listener.fileno() == -1  # the supervisor let its port go


@pytest.mark.e2e
@pytest.mark.integration
def test_distributed_starts_on_ephemeral_ports_come_up_every_time(tmp_path: Path) -> None:
    for attempt, json_logs in enumerate([True, True, False]):
        run = tmp_path / f"run{attempt}"
        run.mkdir()
        env = {"PANTHERA_LOG_JSON": str(json_logs).lower()}
        with platform(run, "distributed", env=env) as shop:
            processes = shop.processes()
            # No service crash-looped on a port taken in between: none was restarted. (The
            # edge's own port is this test's pick, free when picked: only that could be taken
            # before Envoy binds it; a restart would then be its one retry.)
            restarts = {name: p["restarts"] for name, p in processes.items()}
            assert restarts.pop("gateway") <= 1
            assert restarts == {name: 0 for name in restarts}
            gateway_port = int(shop.base.rsplit(":", 1)[1])
            assert gateway_port >= 32768  # free_port's: the kernel's ephemeral range
            for name, process in processes.items():
                answer = httpx.get(f"{process['url']}/readyz", timeout=10)
                assert answer.status_code == 200, (name, answer.text)
            # The supervisor announces readiness after its own poll (every 0.5 s), which can
            # come after ours on a quiet machine: wait for it before stopping the platform.
            wait_for(partial(_announced_ready, run / "platform.log"))
        # One stream, one format (PANTHERA_LOG_JSON): the supervisor's lines, the services'
        # and Envoy's (its access log included) alike.
        lines = (run / "platform.log").read_text().splitlines()
        assert_one_format(lines, json_logs=json_logs)


def _announced_ready(log: Path) -> bool:
    text = log.read_text()
    return "platform_ready" in text or "PantheraConnect (distributed) is ready" in text


def assert_one_format(lines: list[str], *, json_logs: bool) -> None:
    lines = [line for line in lines if line.strip()]
    parsed = [_json(line) for line in lines]
    if json_logs:
        strays = [line for line, entry in zip(lines, parsed, strict=True) if entry is None]
        assert strays == []
        services = {entry.get("service") for entry in parsed if entry}
        events = {entry.get("event") for entry in parsed if entry}
        assert {"users", "catalog", "gateway"} <= services
        assert {"process_started", "platform_ready", "request"} <= events
    else:
        assert [line for line, entry in zip(lines, parsed, strict=True) if entry] == []
        assert any("process_started" in line for line in lines)
        assert any("is ready" in line for line in lines)
        assert any(" request service=gateway " in line for line in lines)  # Envoy's


def _json(line: str) -> dict[str, object] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
