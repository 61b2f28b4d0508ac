"""The monitoring files in deploy/: the alert rules, the dashboards, the metric catalogue."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "panthera.rules.yml"
GRAFANA = ROOT / "deploy" / "grafana"
OPERATIONS = ROOT / "docs" / "operations.md"

_METRIC = re.compile(r"\b(panthera_[a-z0-9_]+)")
_SUFFIXES = ("_bucket", "_count", "_sum")


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: scripts/install-prometheus installs it"
    return found


def rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return loaded


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rules()["groups"] for rule in group["rules"] if "alert" in rule]


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(GRAFANA.glob("dashboards/*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return [p for p in found if p.get("type") != "row"]


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) of every target of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def metric_names(expression: str) -> set[str]:
    """The PantheraConnect metrics an expression reads (histogram suffixes removed)."""
    names = set()
    for name in _METRIC.findall(expression):
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        names.add(name)
    return names


def catalogue() -> set[str]:
    """The metric names docs/operations.md's catalogue lists."""
    return set(re.findall(r"^\| `(panthera_[a-z0-9_]+)`", OPERATIONS.read_text(), re.M))


def grafana_variables(expression: str, dashboard: dict[str, Any]) -> str:
    """The expression with the dashboard's variables replaced as Grafana would ("all")."""
    for variable in dashboard.get("templating", {}).get("list", []):
        expression = expression.replace(f"${variable['name']}", ".*")
    return expression.replace("$__rate_interval", "1m").replace("$__interval", "1m")


def anchors(markdown: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def promtool_rules_without_annotations(folder: Path) -> Path:
    """A copy of the rules without annotations, beside a copy of the unit tests."""
    loaded = rules()
    for group in loaded["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (folder / "rules").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "rules" / RULES.name).write_text(yaml.safe_dump(loaded))
    test = PROMETHEUS / "tests" / "panthera.rules.test.yml"
    (folder / "tests" / test.name).write_text(test.read_text())
    return folder / "tests" / test.name
