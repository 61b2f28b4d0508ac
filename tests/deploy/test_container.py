"""The image: built offline, safe to run, and the whole platform passing the journey in it.

The journey is the very test that runs against `panthera up` and `panthera up
--distributed` (tests/e2e/test_journey.py); here its `running_platform` is the distributed
topology with every process a container of the image.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from panthera.testing.shop import Platform
from tests.deploy.containers import build_image, containerised_platform, podman, run_in_image

# Collected here too, with this module's `running_platform`: the same journey, in containers.
from tests.e2e.test_journey import test_sign_up_browse_search_order_ship_and_be_told  # noqa: F401

pytestmark = [pytest.mark.container, pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def image() -> str:
    return build_image()


@pytest.fixture
def running_platform(image: str, tmp_path: Path) -> Iterator[Platform]:
    with containerised_platform(image, tmp_path) as platform:
        yield platform


def test_the_image_runs_as_a_non_root_user_and_says_what_it_is(image: str) -> None:
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "10001:0"
    assert config["Entrypoint"] == ["panthera"]
    labels = config["Labels"]
    for key in ("title", "version", "revision", "licenses", "description"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert run_in_image(image, "-c", "id -u").strip() == "10001"


def test_the_image_has_no_compiler_and_its_venv_no_installer(image: str) -> None:
    tools = "gcc cc c++ clang make /opt/panthera/bin/pip"
    found = run_in_image(image, "-c", f"for t in {tools}; do command -v $t; done; true")
    assert found.strip() == ""


def test_the_image_writes_nothing_outside_its_data_directory_and_tmp(image: str) -> None:
    """Read-only root: the process can still write where the manifests mount volumes."""
    probe = "touch /var/lib/panthera/probe /tmp/probe && ! touch /opt/panthera/probe 2>/dev/null"
    assert run_in_image(image, "-c", probe) == ""


def test_the_image_dumps_the_machines_postgresql_for_backups(image: str) -> None:
    """`panthera backup` (and the backup CronJob) needs pg_dump no older than the server."""
    dump = podman(
        "run", "--rm", "--read-only", "--network", "host", "--entrypoint", "pg_dump", image,
        "--schema-only", "--dbname", "postgresql://postgres@127.0.0.1:5432/postgres",
    )  # fmt: skip
    assert dump.returncode == 0, dump.stderr
    assert "PostgreSQL database dump complete" in dump.stdout
