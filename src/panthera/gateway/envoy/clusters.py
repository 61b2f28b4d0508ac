"""Each service's replicas as an Envoy cluster, and the edge's own clusters."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from panthera.gateway.envoy.config import Config, address, seconds, typed
from panthera.gateway.settings import GatewaySettings

READINESS_PATH = "/readyz?exclude=redis"
"""What decides traffic to a replica: every dependency but the fail-soft one."""


def cluster(name: str, url: str, *more_urls: str) -> Config:
    urls = [url, *more_urls]
    endpoints = []
    kinds = set()
    for each in urls:
        parts = urlsplit(each)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name}: not an http(s) URL: {each!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        endpoints.append({"endpoint": {"address": address(parts.hostname, port)}})
        kinds.add(_is_ip(parts.hostname))
    cluster: Config = {
        "name": name,
        # Names (Compose services, Kubernetes headless services) are resolved again and
        # again, and every address they return is a replica.
        "type": "STATIC" if kinds == {True} else "STRICT_DNS",
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
    }
    if urlsplit(url).scheme == "https":
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": typed(
                "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                sni=urlsplit(url).hostname,
            ),
        }
    return cluster


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def service_cluster(name: str, urls: Sequence[str], gateway: GatewaySettings) -> Config:
    config = cluster(name, *urls)
    interval = seconds(gateway.health_check_seconds)
    config.update(
        {
            "health_checks": [
                {
                    "timeout": "1s",
                    "interval": interval,
                    "no_traffic_interval": interval,
                    "unhealthy_threshold": 2,
                    "healthy_threshold": 1,
                    # Redis fails soft, and every replica shares it: its loss says nothing
                    # about one replica (docs/operations.md, "Readiness and Redis").
                    "http_health_check": {"path": READINESS_PATH},
                }
            ],
            # The default, said out loud: below half the replicas healthy, spread over all
            # of them rather than refuse everything (a shared outage marks them all).
            "common_lb_config": {"healthy_panic_threshold": {"value": 50.0}},
            "outlier_detection": {
                "split_external_local_origin_errors": True,
                "consecutive_local_origin_failure": 2,
                "consecutive_gateway_failure": 3,
                "consecutive_5xx": 5,
                "interval": "1s",
                "base_ejection_time": "10s",
                "max_ejection_percent": 50,
            },
            "circuit_breakers": {
                "thresholds": [
                    {
                        "max_connections": 1024,
                        "max_pending_requests": 1024,
                        "max_requests": 1024,
                        "max_retries": 32,
                    }
                ]
            },
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    # Below uvicorn's keep-alive (5 s): Envoy closes idle connections
                    # first, so it never sends a request on one the service is closing.
                    common_http_protocol_options={"idle_timeout": "3s"},
                    explicit_http_config={"http_protocol_options": {}},
                )
            },
        }
    )
    return config
