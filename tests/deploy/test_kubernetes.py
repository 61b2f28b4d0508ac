"""The Kubernetes overlays render, and every workload in them follows the deployment rules.

Rendered with `kubectl kustomize` (no cluster here): the rules are asserted on the objects a
cluster would receive, for the dev and the production overlay alike.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.manifests import (
    ANYWHERE,
    KUBERNETES,
    ROOT,
    Grant,
    Object,
    grants,
    of_kind,
    render,
)

pytestmark = pytest.mark.deploy

PROCESSES = {"users": "users", "catalog": "catalog", "orders": "orders"}
PROCESSES |= {"notifications": "notifications", "edge": "gateway", "web": "web"}
PROCESSES |= {"media-worker": "media-worker"}
SERVICES = {"users", "catalog", "orders", "notifications"}
WORKERS = {"media-worker"}
"""Fed by the queue: reached by nobody but Prometheus."""
HTTP = 8000


@pytest.fixture(scope="module", params=["dev", "production"])
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Object]]:
    name = str(request.param)
    return name, render(KUBERNETES / "overlays" / name)


def pod_labels(deployments: dict[str, Object]) -> dict[str, dict[str, str]]:
    return {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}


def test_every_process_kind_has_a_deployment_service_autoscaler_and_disruption_budget(
    overlay: tuple[str, list[Object]],
) -> None:
    _name, objects = overlay
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == set(PROCESSES)
    services, hpas, pdbs = (
        of_kind(objects, k) for k in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget")
    )
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert services[name]["spec"]["selector"].items() <= labels.items()
        assert services[name]["spec"]["ports"][0]["targetPort"] == "http"
        target = hpas[name]["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert 1 <= hpas[name]["spec"]["minReplicas"] < hpas[name]["spec"]["maxReplicas"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert pdbs[name]["spec"]["maxUnavailable"] == 1


def test_every_process_runs_the_one_image_with_its_own_command_probes_and_resources(
    overlay: tuple[str, list[Object]],
) -> None:
    name, objects = overlay
    images = set()
    for process, deployment in of_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        images.add(container["image"])
        assert container["args"][:2] == ["serve", PROCESSES[process]]
        assert {"name": "http", "containerPort": HTTP, "protocol": "TCP"} in container["ports"]
        probes = (("readinessProbe", "/readyz?exclude=redis"), ("livenessProbe", "/healthz"))
        for probe, path in probes:
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, process
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}, process
    assert len(images) == 1
    if name == "production":
        assert images.pop().startswith("registry.example.com/panthera")


def test_every_process_is_locked_down(overlay: tuple[str, list[Object]]) -> None:
    _name, objects = overlay
    for process, deployment in of_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == process
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] >= 10000
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        }
        # The only writable places: scratch volumes for the data directory and /tmp.
        volumes = {v["name"]: v for v in pod["volumes"]}
        writable = {
            m["mountPath"]: volumes[m["name"]]
            for m in container["volumeMounts"]
            if not m.get("readOnly")
        }
        assert set(writable) == {"/var/lib/panthera", "/tmp"}
        assert all("emptyDir" in volume for volume in writable.values())


def test_production_spreads_every_process_across_zones_and_shares_one_signing_key() -> None:
    objects = render(KUBERNETES / "overlays" / "production")
    for process, deployment in of_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        zone = [
            c
            for c in pod["topologySpreadConstraints"]
            if c["topologyKey"] == "topology.kubernetes.io/zone"
        ]
        assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule", process
        assert zone[0]["matchLabelKeys"] == ["pod-template-hash"]
    users = of_kind(objects, "Deployment")["users"]["spec"]["template"]["spec"]
    assert {
        "name": "signing-key",
        "secret": {"secretName": "panthera-signing-key", "defaultMode": 0o400},
    } in users["volumes"]
    assert of_kind(objects, "Service")["edge"]["spec"]["type"] == "LoadBalancer"
    assert (
        of_kind(objects, "ServiceMonitor")["panthera"]["spec"]["endpoints"][0]["path"] == "/metrics"
    )
    # Notifications on the DynamoDB table Terraform made, in its region.
    notifications = of_kind(objects, "Deployment")["notifications"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in notifications["containers"][0]["env"]}
    assert env["PANTHERA_NOTIFICATIONS__STORE"] == "dynamodb"
    assert env["PANTHERA_NOTIFICATIONS__DYNAMODB_TABLE"] == "panthera-notifications"
    assert env["PANTHERA_NOTIFICATIONS__DYNAMODB_REGION"] == "eu-west-1"
    # Terraform's outputs reached the manifests; its own carrier ConfigMap did not.
    annotations = of_kind(objects, "ServiceAccount")["catalog"]["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert not any(name.startswith("terraform-outputs") for name in of_kind(objects, "ConfigMap"))


def test_network_policies_allow_only_the_architectures_edges(
    overlay: tuple[str, list[Object]],
) -> None:
    name, objects = overlay
    policies = list(of_kind(objects, "NetworkPolicy").values())
    deny = of_kind(objects, "NetworkPolicy")["default-deny"]["spec"]
    everything_of_ours = {"matchLabels": {"app.kubernetes.io/part-of": "panthera"}}
    assert deny == {"podSelector": everything_of_ours, "policyTypes": ["Ingress", "Egress"]}
    workloads = pod_labels(of_kind(objects, "Deployment"))

    def allowed(source: str, target: str) -> bool:
        out = grants(policies, "Egress", workloads[source], workloads)
        into = grants(policies, "Ingress", workloads[target], workloads)
        return any(g.peer == target and g.port in ("http", HTTP) for g in out) and any(
            g.peer in (source, ANYWHERE) and g.port in ("http", HTTP) for g in into
        )

    between = {(a, b) for a in workloads for b in workloads if allowed(a, b)}
    expected = {("edge", service) for service in SERVICES} | {("orders", "catalog")}
    expected |= {("edge", "web"), ("web", "edge")}  # pages, and their calls to the API
    expected |= {(process, "users") for process in workloads}  # JWKS
    assert between == expected

    prometheus = (
        "namespace {'matchLabels': {'kubernetes.io/metadata.name': 'monitoring'}} "
        "pods {'matchLabels': {'app.kubernetes.io/name': 'prometheus'}}"
    )
    for process, labels in workloads.items():
        inbound = {
            g for g in grants(policies, "Ingress", labels, workloads) if g.peer not in workloads
        }
        outside = {Grant(ANYWHERE, "http")} if process == "edge" else set()
        assert inbound == outside | {Grant(prometheus, "http")}, process

        outbound = {
            g for g in grants(policies, "Egress", labels, workloads) if g.peer not in workloads
        }
        ports = {g.port for g in outbound} - {53}
        wide_open = {g.port for g in outbound if g.peer == ANYWHERE}
        stores = {5432, 4222, 6379} if process in SERVICES | WORKERS else set()
        stores |= {6379} if process == "web" else set()  # sessions
        media = {"catalog", "media-worker"}
        storage = {8333 if name == "dev" else 443} if process in media else set()
        providers = {587, 465, 443} if process == "notifications" else set()
        assert ports == stores | storage | providers, process
        # Data stores are reached at their own addresses only; the Internet only for S3 and
        # the mail and SMS providers.
        assert wide_open == (storage - {8333}) | providers, process


def test_the_edge_configuration_is_the_generators_output_and_names_real_services() -> None:
    check = subprocess.run(
        [str(ROOT / "scripts" / "render-edge-config"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for overlay_name in ("dev", "production"):
        objects = render(KUBERNETES / "overlays" / overlay_name)
        edge_config = next(
            c for n, c in of_kind(objects, "ConfigMap").items() if n.startswith("panthera-edge")
        )
        envoy = json.loads(edge_config["data"]["envoy.json"])
        listeners = {x["name"]: x for x in envoy["static_resources"]["listeners"]}
        assert listeners["edge"]["address"]["socket_address"]["port_value"] == HTTP
        upstreams = {
            cluster["name"]: [
                endpoint["endpoint"]["address"]["socket_address"]
                for group in cluster["load_assignment"]["endpoints"]
                for endpoint in group["lb_endpoints"]
            ]
            for cluster in envoy["static_resources"]["clusters"]
            if cluster["name"] != "edge_admin"
        }
        services = of_kind(objects, "Service")
        assert set(upstreams) == SERVICES | {"web"}
        for name, addresses in upstreams.items():
            # The Service's own name and port: kube-proxy spreads connections over its pods.
            assert addresses == [{"address": name, "port_value": HTTP}]
            assert services[name]["spec"]["ports"][0]["port"] == HTTP
        deployment = of_kind(objects, "Deployment")["edge"]["spec"]["template"]["spec"]
        (container,) = deployment["containers"]
        mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        path = {e["name"]: e.get("value") for e in container["env"]}
        assert path["PANTHERA_GATEWAY__ENVOY_CONFIG"] == f"{mounted['edge-config']}/envoy.json"


@pytest.mark.parametrize("component", ["external-secrets", "migrate-job", "backup-cronjob"])
def test_each_optional_component_renders_into_production(component: str, tmp_path: Path) -> None:
    """As docs/deploy.md says to: uncomment the component in the production overlay."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    kustomization = tree / "overlays" / "production" / "kustomization.yaml"
    line = f"  # - ../../components/{component}\n"
    assert line in kustomization.read_text()
    kustomization.write_text(kustomization.read_text().replace(line, line.replace("# ", "")))
    objects = render(tree / "overlays" / "production")
    if component == "migrate-job":
        job = of_kind(objects, "Job")["panthera-migrate"]["spec"]["template"]["spec"]
        assert job["containers"][0]["args"] == ["migrate"]
        assert job["containers"][0]["image"].startswith("registry.example.com/panthera")
        assert job["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    elif component == "backup-cronjob":
        cron = of_kind(objects, "CronJob")["panthera-backup"]["spec"]
        assert cron["concurrencyPolicy"] == "Forbid"
        pod = cron["jobTemplate"]["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert container["args"][:2] == ["backup", "create"]
        assert container["image"].startswith("registry.example.com/panthera")
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        # The key it backs up is the one every users replica signs with.
        key = {e["name"]: e["value"] for e in container["env"]}["PANTHERA_JWT_PRIVATE_KEY_FILE"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert key.startswith(mounts["signing-key"])
        secrets = {v["name"]: v.get("secret", {}).get("secretName") for v in pod["spec"]["volumes"]}
        assert secrets["signing-key"] == "panthera-signing-key"
        # Its network policies: the database and S3, like the services that use them.
        labels = pod["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "service"
        assert labels["panthera.io/object-storage"] == "true"
    else:
        secret = of_kind(objects, "ExternalSecret")["panthera-secrets"]["spec"]
        assert secret["target"]["name"] == "panthera-secrets"
        for item in secret["data"]:
            assert item["remoteRef"]["key"].startswith("arn:aws:secretsmanager:")
