"""The edge listener (clients) and the stats listener (Prometheus)."""

from __future__ import annotations

import ipaddress

from panthera.gateway.envoy.config import (
    ADMIN_CLUSTER,
    OTLP_CLUSTER,
    Config,
    address,
    typed,
    without_query,
)
from panthera.gateway.envoy.filters import http_filters
from panthera.gateway.envoy.replies import local_replies
from panthera.gateway.envoy.routes import route_config
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import RouteTable
from panthera.kernel.settings import Settings


def edge_listener(
    table: RouteTable, gateway: GatewaySettings, platform: Settings, host: str, port: int
) -> Config:
    manager: Config = {
        "stat_prefix": "edge",
        "codec_type": "AUTO",  # HTTP/1.1 and HTTP/2 (h2c, or ALPN over TLS)
        **client_address(gateway),
        "server_name": "panthera",
        "preserve_external_request_id": True,
        "always_set_request_id_in_response": True,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "request_headers_timeout": "10s",
        "access_log": [access_log(json_logs=platform.log_json)],
        "local_reply_config": local_replies(),
        "http_filters": http_filters(table, gateway, platform),
        "route_config": route_config(table, gateway),
    }
    if platform.otlp_endpoint:
        manager["tracing"] = {
            "random_sampling": {"value": 100},
            "provider": {
                "name": "envoy.tracers.opentelemetry",
                "typed_config": typed(
                    "envoy.config.trace.v3.OpenTelemetryConfig",
                    http_service={
                        "http_uri": {
                            "uri": platform.otlp_endpoint.rstrip("/") + "/v1/traces",
                            "cluster": OTLP_CLUSTER,
                            "timeout": "2s",
                        }
                    },
                    service_name="panthera-gateway",
                ),
            },
        }
    chain: Config = {
        "filters": [
            {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": typed(
                    "envoy.extensions.filters.network.http_connection_manager.v3."
                    "HttpConnectionManager",
                    **manager,
                ),
            }
        ]
    }
    if gateway.tls_cert_file and gateway.tls_key_file:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": typed(
                "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                common_tls_context={
                    "tls_certificates": [
                        {
                            "certificate_chain": {"filename": str(gateway.tls_cert_file)},
                            "private_key": {"filename": str(gateway.tls_key_file)},
                        }
                    ],
                    "alpn_protocols": ["h2", "http/1.1"],
                },
            ),
        }
    return {"name": "edge", "address": address(host, port), "filter_chains": [chain]}


def client_address(gateway: GatewaySettings) -> Config:
    """How Envoy tells the client's address, which the per-client limits count by.

    With trusted proxy CIDRs (the web, which calls the API for its visitors), Envoy's
    XFF detection believes X-Forwarded-For only on a connection from those addresses,
    taking its rightmost entry that is not itself trusted; from anyone else the header
    changes nothing and the peer is the client. Either way the services receive that one
    address (the route configuration overwrites X-Forwarded-For).
    """
    if not gateway.trusted_proxy_cidrs:
        # The connection's peer, or the entry `trusted_hops` from the right of
        # X-Forwarded-For when load balancers we trust stand in front.
        return {"use_remote_address": True, "xff_num_trusted_hops": gateway.trusted_hops}
    cidrs = [ipaddress.ip_network(cidr) for cidr in gateway.trusted_proxy_cidrs]
    return {
        "original_ip_detection_extensions": [
            {
                "name": "envoy.http.original_ip_detection.xff",
                "typed_config": typed(
                    "envoy.extensions.http.original_ip_detection.xff.v3.XffConfig",
                    xff_trusted_cidrs={
                        "cidrs": [
                            {"address_prefix": str(c.network_address), "prefix_len": c.prefixlen}
                            for c in cidrs
                        ]
                    },
                ),
            }
        ]
    }


ACCESS_LOG_FIELDS = {
    "method": "%REQ(:METHOD)%",
    "path": "%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "route": "%ROUTE_NAME%",
    "status": "%RESPONSE_CODE%",
    "duration_ms": "%DURATION%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "trace_id": "%TRACE_ID%",
    "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "upstream": "%UPSTREAM_HOST%",
    "flags": "%RESPONSE_FLAGS%",
    "details": "%RESPONSE_CODE_DETAILS%",
}
_TIME = "%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%"


def access_log(*, json_logs: bool = True) -> Config:
    """One line per request, with the fields the services' own lines have, in their
    format (PANTHERA_LOG_JSON): JSON, or the console's `key=value` text."""
    log_format: Config
    if json_logs:
        log_format = {
            "json_format": {
                "timestamp": _TIME,
                "level": "info",
                "event": "request",
                "service": "gateway",
                **ACCESS_LOG_FIELDS,
            }
        }
    else:
        pairs = " ".join(f"{key}={value}" for key, value in ACCESS_LOG_FIELDS.items())
        line = f"{_TIME} [info     ] request service=gateway {pairs}\n"
        log_format = {"text_format_source": {"inline_string": line}}
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": typed(
            "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            log_format={**log_format, "formatters": [without_query()]},
        ),
    }


def stats_listener(host: str, port: int) -> Config:
    """Prometheus scrapes `/stats/prometheus` (or `/metrics`) here; nothing else of the
    admin interface, which listens on loopback only, is reachable."""
    routes = [
        {"match": {"path": "/stats/prometheus"}, "route": {"cluster": ADMIN_CLUSTER}},
        {
            "match": {"path": "/metrics"},
            "route": {"cluster": ADMIN_CLUSTER, "prefix_rewrite": "/stats/prometheus"},
        },
    ]
    manager = typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="stats",
        http_filters=[
            {
                "name": "envoy.filters.http.router",
                "typed_config": typed("envoy.extensions.filters.http.router.v3.Router"),
            }
        ],
        route_config={
            "virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": routes}],
        },
    )
    return {
        "name": "stats",
        "address": address(host, port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }
