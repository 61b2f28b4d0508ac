"""The CLI's refusals: each names what is wrong, exits non-zero, and starts nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panthera.cli import cli
from panthera.testing.ports import free_port

pytestmark = pytest.mark.usefixtures("restored_environ")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stderr


def test_serving_an_unknown_service_is_refused(tmp_path: Path) -> None:
    code, err = run("serve", "nosuch", "--data-dir", str(tmp_path), "--port", str(free_port()))
    assert code == 2
    assert "error: unknown service: nosuch" in err


@pytest.mark.parametrize(
    "replicas", ["orders=0", "orders=9", "orders", "orders=two", "nosuch=2", "orders=2,=1"]
)
def test_a_bad_replica_count_is_refused(tmp_path: Path, replicas: str) -> None:
    code, err = run("up", "--distributed", "--replicas", replicas, "--data-dir", str(tmp_path))
    assert code == 2, err
    assert "bad replica count" in err and "use SERVICE=N with N from 1 to 8" in err
    assert not (tmp_path / "processes.json").exists()


def test_distributed_without_its_dependencies_names_each(tmp_path: Path) -> None:
    nothing = [free_port() for _ in range(3)]  # ports nobody listens on
    os.environ["PANTHERA_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{nothing[0]}/x"
    os.environ["PANTHERA_NATS_URL"] = f"nats://127.0.0.1:{nothing[1]}"
    os.environ["PANTHERA_REDIS_URL"] = f"redis://127.0.0.1:{nothing[2]}/0"
    code, err = run("up", "--distributed", "--data-dir", str(tmp_path))
    assert code == 1, err
    assert "error: the distributed topology needs:" in err
    assert f"PostgreSQL at 127.0.0.1:{nothing[0]}" in err
    assert f"NATS at 127.0.0.1:{nothing[1]} is not reachable" in err
    assert f"Redis at 127.0.0.1:{nothing[2]} is not reachable" in err
    assert "set PANTHERA_NATS_URL" in err
    assert not (tmp_path / "processes.json").exists()


def test_distributed_on_sqlite_is_refused(tmp_path: Path) -> None:
    os.environ["PANTHERA_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    os.environ["PANTHERA_NATS_URL"] = f"nats://127.0.0.1:{free_port()}"
    code, err = run("up", "--distributed", "--data-dir", str(tmp_path))
    assert code == 1
    assert "PANTHERA_DATABASE_URL must be a postgresql:// URL" in err


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "", "12:00"])
def test_replay_with_a_bad_since_is_refused(tmp_path: Path, since: str) -> None:
    code, err = run(
        "events",
        "replay",
        "--consumer",
        "notifications",
        "--since",
        since,
        "--data-dir",
        str(tmp_path),
    )
    assert code == 2, err
    assert err.startswith("error: --since:"), err
