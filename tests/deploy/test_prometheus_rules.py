"""The alert rules: valid for promtool, unit-tested by promtool, documented, with runbooks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.observability import (
    OPERATIONS,
    PROMETHEUS,
    RULES,
    alerts,
    anchors,
    catalogue,
    metric_names,
    promtool,
    promtool_rules_without_annotations,
    rules,
)

pytestmark = pytest.mark.deploy


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules_and_the_scrape_configuration() -> None:
    checked = run("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = run("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_fires_and_stays_silent_in_the_rule_unit_tests(tmp_path: Path) -> None:
    tested = run("test", "rules", str(promtool_rules_without_annotations(tmp_path)))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load((PROMETHEUS / "tests" / "panthera.rules.test.yml").read_text())
    fired: set[str] = set()
    silent: set[str] = set()
    for case in cases["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else silent).add(check["alertname"])
    names = {alert["alert"] for alert in alerts()}
    assert names - fired == set(), "alerts never seen firing"
    assert names - silent == set(), "alerts never seen silent"


def test_alert_annotations_render_as_written() -> None:
    tested = run("test", "rules", str(PROMETHEUS / "tests" / "annotations.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_severity_and_a_runbook_that_the_docs_hold() -> None:
    documented = anchors(OPERATIONS)
    for alert in alerts():
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        notes = alert["annotations"]
        assert {"summary", "description", "runbook", "runbook_url"} <= set(notes), alert["alert"]
        assert notes["runbook"].count("\n") >= 2, f"{alert['alert']}: a runbook has steps"
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor in documented, notes["runbook_url"]


def test_the_alerts_cover_what_the_issue_lists() -> None:
    names = {alert["alert"] for alert in alerts()}
    assert {
        "PantheraServiceDown",
        "PantheraErrorBudgetBurnFast",
        "PantheraErrorBudgetBurnSlow",
        "PantheraLatencyHigh",
        "PantheraOrdersStuckPending",
        "PantheraSagaDecisionSlowing",
        "PantheraOutboxBacklogGrowing",
        "PantheraConsumerLagGrowing",
        "PantheraEventsDeadLettered",
        "PantheraNotificationsFailing",
        "PantheraRedisUnreachable",
        "PantheraNatsUnreachable",
    } <= names


def test_every_metric_the_rules_read_is_in_the_catalogue() -> None:
    used = set()
    for group in rules()["groups"]:
        for rule in group["rules"]:
            used |= metric_names(rule["expr"])
    assert used - catalogue() == set()
