"""The Kubernetes overlays as `kubectl kustomize` renders them, and what their policies allow."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
Object = dict[str, Any]


def render(directory: Path) -> list[Object]:
    """Every object `kubectl kustomize` makes of `directory` (no cluster needed)."""
    done = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels, and matchExpressions with `In`: all the manifests use)
    against labels."""
    assert set(selector) <= {"matchLabels", "matchExpressions"}, f"unsupported {selector}"
    wanted: Mapping[str, str] = selector.get("matchLabels", {})
    expressions: list[dict[str, Any]] = selector.get("matchExpressions", [])
    assert all(e["operator"] == "In" for e in expressions), f"unsupported {selector}"
    return all(labels.get(key) == value for key, value in wanted.items()) and all(
        labels.get(e["key"]) in e["values"] for e in expressions
    )


@dataclass(frozen=True)
class Grant:
    """One (peer, port) a policy allows; `peer` is a workload's name or a description."""

    peer: str
    port: int | str


ANYWHERE = "anywhere"


def _peers(rule: Object, workloads: Mapping[str, Mapping[str, str]]) -> Iterator[str]:
    peers = rule.get("to", rule.get("from"))
    if not peers:
        yield ANYWHERE
        return
    for peer in peers:
        if "ipBlock" in peer:
            yield f"ipBlock {peer['ipBlock']['cidr']}"
        elif "namespaceSelector" in peer:
            yield f"namespace {peer['namespaceSelector']} pods {peer.get('podSelector', {})}"
        else:
            names = [n for n, labels in workloads.items() if matches(peer["podSelector"], labels)]
            yield from names or [f"pods {peer['podSelector']}"]


def grants(
    policies: list[Object],
    direction: str,
    pod: Mapping[str, str],
    workloads: Mapping[str, Mapping[str, str]],
) -> set[Grant]:
    """What the policies selecting `pod` allow it in `direction` ("Ingress" or "Egress")."""
    found: set[Grant] = set()
    key = direction.lower()
    for policy in policies:
        spec = policy["spec"]
        if direction not in spec["policyTypes"] or not matches(spec["podSelector"], pod):
            continue
        for rule in spec.get(key, []):
            assert rule.get("ports"), f"{policy['metadata']['name']}: a rule without ports"
            for peer in _peers(rule, workloads):
                found |= {Grant(peer, port["port"]) for port in rule["ports"]}
    return found
