"""The project's image, built offline, and the distributed topology run as its containers.

The topology is the supervisor's own plan (the same processes, ports and configuration as
`panthera up --distributed`); each process becomes a container on the host network, with a
read-only root filesystem, against the machine's PostgreSQL, NATS and Redis.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from panthera import supervisor
from panthera.testing.cleanup import remove_run
from panthera.testing.ports import unheld_port
from panthera.testing.shop import ADMIN_EMAIL, ADMIN_PASSWORD, Platform

ROOT = Path(__file__).resolve().parents[2]


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def build_image() -> str:
    """The image's name; built by scripts/container-image only when its inputs changed."""
    built = subprocess.run(
        [str(ROOT / "scripts" / "container-image")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert built.returncode == 0, f"image build failed:\n{built.stderr[-4000:]}"
    return built.stdout.strip().splitlines()[-1]


def run_in_image(image: str, *command: str, entrypoint: str = "sh") -> str:
    """A one-off command in a fresh, read-only container of `image`; its output."""
    done = podman("run", "--rm", "--read-only", "--entrypoint", entrypoint, image, *command)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _running(name: str) -> bool:
    state = podman("inspect", "--format", "{{.State.Running}}", name)
    return state.stdout.strip() == "true"


def _wait_ready(names_urls: Sequence[tuple[str, str]], within: float) -> None:
    """Every container's /readyz answers 200; fail at once if a container has exited."""
    deadline = time.monotonic() + within
    pending = list(names_urls)
    while pending:
        for name, url in list(pending):
            if not _running(name):
                raise AssertionError(f"container {name} exited:\n{podman('logs', name).stderr}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    pending.remove((name, url))
            except httpx.TransportError:
                pass
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"not ready within {within}s: {[n for n, _ in pending]}")
        time.sleep(0.5)


@contextmanager
def containerised_platform(image: str, logs: Path) -> Iterator[Platform]:
    """`panthera up --distributed`, but every process a container of `image`.

    Each container writes only to its data directory (the image's anonymous volume, removed
    with the container), the media volume and the /tmp podman mounts for --read-only.
    """
    run = f"c{uuid.uuid4().hex[:8]}"
    base_env = {
        "PANTHERA_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
        "PANTHERA_NATS_URL": "nats://127.0.0.1:4222",
        "PANTHERA_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PANTHERA_SCHEMA_PREFIX": f"{run}_",
        "PANTHERA_EVENTS__STREAM_PREFIX": run.upper(),
        "PANTHERA_EVENTS__SUBJECT_PREFIX": run,
        "PANTHERA_ADMIN_EMAIL": ADMIN_EMAIL,
        "PANTHERA_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    # Containers bind their ports only once started: ports below the ephemeral range, which
    # an outgoing connection of this busy machine cannot take meanwhile.
    children = supervisor.plan(
        gateway_port=unheld_port(), replicas={}, host="127.0.0.1", base_env=base_env
    )
    names = [f"panthera-{run}-{child.name}" for child in children]
    # Product media in a directory shared by the catalog and the media worker, as a volume is
    # on one host (Compose does the same; beyond one host it is S3): owned by the image's
    # user (`:U`), removed with the run.
    media = f"panthera-{run}-media"
    assert podman("volume", "create", media).returncode == 0
    try:
        for name, child in zip(names, children, strict=True):
            environment = [f"--env={key}={value}" for key, value in sorted(child.env.items())]
            started = podman(
                "run",
                "--detach",
                f"--name={name}",
                f"--label=panthera-test-run={run}",
                "--network=host",
                "--read-only",
                f"--volume={media}:/var/lib/panthera-media:U",
                "--env=PANTHERA_CATALOG__MEDIA_DIR=/var/lib/panthera-media",
                *environment,
                image,
                *["serve", child.service, "--port", str(child.port), "--host", child.bind_host],
            )
            assert started.returncode == 0, started.stderr
        _wait_ready([(n, c.url) for n, c in zip(names, children, strict=True)], within=180)
        gateway = children[-1]
        assert gateway.service == "gateway"
        yield Platform(gateway.url, logs, "containers")
    finally:
        for name in names:
            # Keep each process's log for a failing run.
            output = podman("logs", name)
            (logs / f"{name}.log").write_text(output.stdout + output.stderr)
        podman("stop", "--ignore", "--time=15", *names, timeout=60)
        # With its anonymous data volume: nothing of the run stays on the machine.
        removed = podman("rm", "--force", "--ignore", "--volumes", *names)
        assert removed.returncode == 0, removed.stderr
        assert podman("volume", "rm", "--force", media).returncode == 0
        remove_run(run)
