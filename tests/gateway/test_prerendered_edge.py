"""The edge runs a configuration rendered beforehand (the Kubernetes ConfigMap) as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from panthera.testing.ports import free_port

SERVICES = ("users", "catalog", "orders", "notifications")
UPSTREAMS = json.dumps({name: [f"http://{name}:8000"] for name in SERVICES})


def panthera(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "panthera", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def rendered(tmp_path: Path, port: int) -> tuple[Path, dict[str, str]]:
    # Envoy's admin and stats ports are in the render too: free ones, so runs never collide.
    ports = {
        "PANTHERA_GATEWAY__ADMIN_PORT": str(free_port()),
        "PANTHERA_GATEWAY__STATS_PORT": str(free_port()),
    }
    made = panthera("gateway", "config", "--upstreams", UPSTREAMS, "--port", str(port), env=ports)
    assert made.returncode == 0, made.stderr
    path = tmp_path / "envoy.json"
    path.write_text(made.stdout)
    return path, {"PANTHERA_GATEWAY__ENVOY_CONFIG": str(path), "PANTHERA_DATA_DIR": str(tmp_path)}


def test_the_edge_serves_a_configuration_rendered_beforehand(tmp_path: Path) -> None:
    port = free_port()
    _path, env = rendered(tmp_path, port)
    edge = subprocess.Popen(
        [sys.executable, "-m", "panthera", "serve", "gateway", "--port", str(port)],
        env=os.environ | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and edge.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None, edge.stderr.read() if edge.stderr else "edge exited"
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        # No generated file: Envoy runs the given one.
        assert not (tmp_path / "gateway").exists()
    finally:
        edge.terminate()
        edge.wait(timeout=30)


@pytest.mark.parametrize("content", ["not json", '{"static_resources": {}}', None])
def test_a_configuration_for_another_port_or_none_at_all_is_refused(
    tmp_path: Path, content: str | None
) -> None:
    port = free_port()
    path, env = rendered(tmp_path, port)
    if content is not None:
        path.write_text(content)
    answer = panthera("serve", "gateway", "--port", str(port + 1), env=env)
    assert answer.returncode == 2
    assert str(path) in answer.stderr
    expected = f"not on --port {port + 1}" if content is None else "not an Envoy configuration"
    assert expected in answer.stderr
