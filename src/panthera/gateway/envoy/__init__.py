"""The distributed edge: the route table rendered into an Envoy configuration.

Envoy does the edge's work, configured here rather than reimplemented:
routing to each service's replicas (round robin, active `/readyz` checks,
outlier detection, circuit breakers, per-route timeouts, retries), JWT
verification and admin-only routes, per-client rate limits, the HTTP cache,
body limits, client addresses, request ids, tracing, JSON access logs, CORS,
security headers, TLS, and a problem body (RFC 9457) for each of its own errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from panthera.gateway.envoy.clusters import cluster, service_cluster
from panthera.gateway.envoy.config import (
    ADMIN_CLUSTER,
    BUFFER_FILTER,
    CACHE_FILTER,
    JWKS_OWNER,
    OTLP_CLUSTER,
    PER_CLIENT,
    PER_SERVICE,
    RBAC_FILTER,
    Config,
    address,
    typed,
)
from panthera.gateway.envoy.filters import token_bucket
from panthera.gateway.envoy.listeners import edge_listener, stats_listener
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import RouteTable
from panthera.kernel.settings import Settings

__all__ = [
    "BUFFER_FILTER",
    "CACHE_FILTER",
    "PER_CLIENT",
    "PER_SERVICE",
    "RBAC_FILTER",
    "Config",
    "render",
    "token_bucket",
]


def render(
    table: RouteTable,
    *,
    upstreams: Mapping[str, Sequence[str]],
    gateway: GatewaySettings,
    platform: Settings,
    host: str,
    port: int,
) -> Config:
    """Envoy's bootstrap configuration for the edge listening on `host:port`."""
    missing = [owner for owner in [*table.owners, JWKS_OWNER] if not upstreams.get(owner)]
    if missing:
        raise ValueError(f"no upstream URL configured for: {', '.join(missing)}")
    listeners = [edge_listener(table, gateway, platform, host, port)]
    owners = list(dict.fromkeys([*table.owners, JWKS_OWNER]))
    clusters = [service_cluster(owner, upstreams[owner], gateway) for owner in owners]
    clusters.append(cluster(ADMIN_CLUSTER, f"http://127.0.0.1:{gateway.admin_port}"))
    if gateway.stats_port:
        listeners.append(stats_listener(host, gateway.stats_port))
    if platform.otlp_endpoint:
        clusters.append(cluster(OTLP_CLUSTER, platform.otlp_endpoint))
    config: Config = {
        "node": {"id": "panthera-edge", "cluster": "panthera"},
        "admin": {"address": address("127.0.0.1", gateway.admin_port)},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": typed(
                        "envoy.extensions.resource_monitors.downstream_connections.v3."
                        "DownstreamConnectionsConfig",
                        max_active_downstream_connections=50_000,
                    ),
                }
            ]
        },
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }
    if platform.log_json:  # else Envoy's own text lines, like the console's
        config["application_log_config"] = {
            "log_format": {
                "json_format": {
                    "timestamp": "%Y-%m-%dT%T.%eZ",
                    "level": "%l",
                    "logger": "%n",
                    "event": "%j",
                    "service": "gateway",
                }
            }
        }
    return config
