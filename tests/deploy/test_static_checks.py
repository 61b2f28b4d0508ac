"""checkov on the Dockerfile, the rendered Kubernetes overlays and the Terraform; Terraform's
formatting. Every check passes or is skipped in place with its reason."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import KUBERNETES
from tests.deploy.tools import ROOT, checkov

pytestmark = pytest.mark.deploy


def assert_clean(reports: list[dict[str, Any]]) -> None:
    for report in reports:
        summary = report["summary"]
        failed = [
            f"{c['check_id']} {c['resource']} ({c['file_path']})"
            for c in report["results"]["failed_checks"]
        ]
        assert summary["failed"] == 0, f"{report['check_type']}: " + "; ".join(failed)
        assert summary["parsing_errors"] == 0, report["check_type"]
        assert summary["passed"] > 0, report["check_type"]
        for skipped in report["results"]["skipped_checks"]:
            reason = skipped["check_result"].get("suppress_comment", "")
            assert len(reason) > 20, f"{skipped['check_id']}: skipped without a reason"


def test_checkov_passes_the_dockerfile_and_every_rendered_overlay(tmp_path: Path) -> None:
    rendered = []
    # Production also with every optional component, as docs/deploy.md enables them.
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    full = tree / "overlays" / "production" / "kustomization.yaml"
    full.write_text(full.read_text().replace("  # - ../../components/", "  - ../../components/"))
    for name, directory in (
        ("dev", tree / "overlays" / "dev"),
        ("production", KUBERNETES / "overlays" / "production"),
        ("production-all", tree / "overlays" / "production"),
    ):
        output = subprocess.run(
            ["kubectl", "kustomize", str(directory)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        assert list(yaml.safe_load_all(output))
        target = tmp_path / f"{name}.yaml"
        target.write_text(output)
        rendered += ["--file", str(target)]
    reports = checkov(
        "--framework", "dockerfile", "kubernetes", "--file", str(ROOT / "Dockerfile"), *rendered
    )
    assert {r["check_type"] for r in reports} == {"dockerfile", "kubernetes"}
    assert_clean(reports)


def test_checkov_passes_the_terraform() -> None:
    reports = checkov("--framework", "terraform", "--directory", str(ROOT / "deploy" / "terraform"))
    assert [r["check_type"] for r in reports] == ["terraform"]
    assert_clean(reports)


def test_terraform_is_formatted() -> None:
    done = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", "deploy/terraform"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout
