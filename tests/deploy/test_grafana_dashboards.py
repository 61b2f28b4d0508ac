"""The Grafana dashboards, by their JSON's structure (Grafana cannot be installed here).

Their queries are evaluated against a live Prometheus in test_prometheus_live.py.
"""

from __future__ import annotations

import pytest
import yaml

from tests.deploy.observability import GRAFANA, catalogue, dashboards, metric_names, panels, queries

pytestmark = pytest.mark.deploy

DATASOURCE = "panthera-prometheus"


def test_the_five_dashboards_are_there_with_unique_ids() -> None:
    found = dashboards()
    assert set(found) == {
        "platform-overview.json",
        "checkout.json",
        "event-pipeline.json",
        "notifications.json",
        "infrastructure.json",
    }
    uids = [d["uid"] for d in found.values()]
    assert len(set(uids)) == len(uids)
    assert all(d["title"].startswith("PantheraConnect: ") for d in found.values())


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_panel_is_placed_titled_and_queries_the_provisioned_prometheus(name: str) -> None:
    dashboard = dashboards()[name]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(set(ids)) == len(ids), "panel ids are unique"
    occupied: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        assert panel["title"] and panel["type"]
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24 and box["h"] > 0
        cells = {
            (x, y)
            for x in range(box["x"], box["x"] + box["w"])
            for y in range(box["y"], box["y"] + box["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        assert panel["targets"], f"{panel['title']} has no query"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(set(refs)) == len(refs)
        for source in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
            assert source == {"type": "prometheus", "uid": DATASOURCE}
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == DATASOURCE


def test_every_metric_the_dashboards_read_is_in_the_catalogue() -> None:
    used = set()
    for dashboard in dashboards().values():
        for _title, expression in queries(dashboard):
            used |= metric_names(expression)
    assert used
    assert used - catalogue() == set()


def test_provisioning_names_the_datasource_and_the_dashboards_folder() -> None:
    sources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert [s["uid"] for s in sources["datasources"]] == [DATASOURCE]
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "panthera.yml").read_text()
    )
    assert providers["providers"][0]["type"] == "file"
