"""The distributed edge: the route table rendered into an Envoy configuration.

Envoy does the edge's work, configured here rather than reimplemented:
routing to each service's replicas (round robin, active `/readyz` checks,
outlier detection, circuit breakers, per-route timeouts, retries), JWT
verification and admin-only routes, per-client rate limits, the HTTP cache,
body limits, client addresses, request ids, tracing, JSON access logs, CORS,
security headers, TLS, and a problem body (RFC 9457) for each of its own errors.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from limits import parse

from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import EdgeRoute, RouteTable
from panthera.kernel.errors import PROBLEM_JSON
from panthera.kernel.settings import Settings

Config = dict[str, Any]

JWT_FILTER = "envoy.filters.http.jwt_authn"
JWT_PROVIDER = "panthera"
JWT_PAYLOAD = "jwt_payload"
JWT_FAILURE = "jwt_failure"
JWKS_OWNER = "users"  # the service that publishes the keys tokens are signed with
RBAC_FILTER = "envoy.filters.http.rbac"
BUFFER_FILTER = "envoy.filters.http.buffer"
CACHE_FILTER = "envoy.filters.http.cache"
CORS_FILTER = "envoy.filters.http.cors"
PER_CLIENT = "rate_limit_per_client"
PER_SERVICE = "rate_limit_per_service"
ADMIN_CLUSTER = "edge_admin"
OTLP_CLUSTER = "edge_otlp"
REQUIREMENTS = {"anonymous": "optional", "signed-in": "signed_in", "admin": "signed_in"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",  # only where the service said nothing itself
}
UNLIMITED = 1_000_000_000
CORS_HEADERS = "authorization,content-type,idempotency-key,if-match,if-none-match,x-request-id"


def typed(type_name: str, **fields: Any) -> Config:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def seconds(value: float) -> str:
    return f"{value:.3f}s"


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
    listeners = [_edge_listener(table, gateway, platform, host, port)]
    owners = list(dict.fromkeys([*table.owners, JWKS_OWNER]))
    clusters = [_service_cluster(owner, upstreams[owner], gateway) for owner in owners]
    clusters.append(_cluster(ADMIN_CLUSTER, f"http://127.0.0.1:{gateway.admin_port}"))
    if gateway.stats_port:
        listeners.append(_stats_listener(host, gateway.stats_port))
    if platform.otlp_endpoint:
        clusters.append(_cluster(OTLP_CLUSTER, platform.otlp_endpoint))
    return {
        "node": {"id": "panthera-edge", "cluster": "panthera"},
        "admin": {"address": _address("127.0.0.1", gateway.admin_port)},
        "application_log_config": {
            "log_format": {
                "json_format": {
                    "timestamp": "%Y-%m-%dT%T.%eZ",
                    "level": "%l",
                    "logger": "%n",
                    "event": "%j",
                    "service": "gateway",
                }
            }
        },
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


def _address(host: str, port: int) -> Config:
    return {"socket_address": {"address": host, "port_value": port}}


# --- the edge listener -------------------------------------------------------


def _edge_listener(
    table: RouteTable, gateway: GatewaySettings, platform: Settings, host: str, port: int
) -> Config:
    manager: Config = {
        "stat_prefix": "edge",
        "codec_type": "AUTO",  # HTTP/1.1 and HTTP/2 (h2c, or ALPN over TLS)
        # The client is the connection's peer, or the entry `trusted_hops` from the
        # right of X-Forwarded-For when load balancers we trust stand in front.
        "use_remote_address": True,
        "xff_num_trusted_hops": gateway.trusted_hops,
        "server_name": "panthera",
        "preserve_external_request_id": True,
        "always_set_request_id_in_response": True,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "request_headers_timeout": "10s",
        "access_log": [_access_log()],
        "local_reply_config": _local_replies(),
        "http_filters": _http_filters(table, gateway, platform),
        "route_config": _route_config(table, gateway),
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
    return {"name": "edge", "address": _address(host, port), "filter_chains": [chain]}


def _access_log() -> Config:
    """One JSON line per request, with the fields the services' own lines have."""
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": typed(
            "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            log_format={
                "json_format": {
                    "timestamp": "%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%",
                    "level": "info",
                    "event": "request",
                    "service": "gateway",
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
                },
                "formatters": [_without_query()],
            },
        ),
    }


def _without_query() -> Config:
    return {
        "name": "envoy.formatter.req_without_query",
        "typed_config": typed("envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery"),
    }


# --- Envoy's own answers, in the platform's error body -------------------------

_DETAILS = {
    400: "%LOCAL_REPLY_BODY%",
    401: "Access token refused: %LOCAL_REPLY_BODY%",
    403: "This operation requires the admin role",
    404: "Nothing is served at this path",
    405: "%LOCAL_REPLY_BODY%",
    408: "The request took too long to arrive",
    413: "Request body over this route's limit in bytes",
    429: "Too many requests from this address; retry after the seconds in Retry-After",
    431: "Request headers too large",
    500: "%LOCAL_REPLY_BODY%",
    502: "The %UPSTREAM_CLUSTER% service answered with an invalid response",
    503: "The %UPSTREAM_CLUSTER% service is unavailable; try again shortly",
    504: "The %UPSTREAM_CLUSTER% service did not answer in time",
}
_UPSTREAM_FLAGS = ["UH", "UF", "UO", "URX", "UC", "UMSDR", "NR"]


def _status_is(status: int) -> Config:
    return {
        "status_code_filter": {
            "comparison": {
                "op": "EQ",
                "value": {"default_value": status, "runtime_key": f"panthera.reply_{status}"},
            }
        }
    }


def _problem_mapper(
    status: int, detail: str, *, extra_filter: Config | None = None, answer: int | None = None
) -> Config:
    """Envoy's own `status` answers as a problem body; `answer`: with that status instead."""
    shown = answer or status
    body = {
        "type": "about:blank",
        "title": HTTPStatus(shown).phrase,
        "status": shown,
        "detail": detail,
        "instance": "%REQ_WITHOUT_QUERY(:PATH)%",
        "requestId": "%REQ(X-REQUEST-ID)%",
    }
    matcher = _status_is(status)
    if extra_filter is not None:
        matcher = {"and_filter": {"filters": [matcher, extra_filter]}}
    mapper: Config = {
        "filter": matcher,
        "body_format_override": {
            "json_format": body,
            "content_type": PROBLEM_JSON,
            "formatters": [_without_query()],
        },
    }
    if answer is not None:
        mapper["status_code"] = answer
    if shown == 503:
        mapper["headers_to_add"] = [
            {"header": {"key": "retry-after", "value": "1"}, "append_action": "ADD_IF_ABSENT"}
        ]
    return mapper


def _local_replies() -> Config:
    health = [
        {
            "filter": {
                "and_filter": {
                    "filters": [
                        _status_is(200),
                        {
                            "header_filter": {
                                "header": {"name": ":path", "string_match": {"exact": path}}
                            }
                        },
                    ]
                }
            },
            "body_format_override": {
                "json_format": {"status": state},
                "content_type": "application/json",
            },
        }
        for path, state in (("/healthz", "ok"), ("/readyz", "ready"))
    ]
    unavailable = _problem_mapper(
        503, _DETAILS[503], extra_filter={"response_flag_filter": {"flags": _UPSTREAM_FLAGS}}
    )
    not_ready = _problem_mapper(503, "Some services have no ready replica")
    # jwt_authn answers a token for another audience with 403; it is as invalid as any.
    wrong_audience = _problem_mapper(
        403,
        _DETAILS[401],
        extra_filter={
            "metadata_filter": {
                "matcher": {
                    "filter": JWT_FILTER,
                    "path": [{"key": JWT_FAILURE}, {"key": "message"}],
                    "value": {"string_match": {"exact": "Audiences in Jwt are not allowed"}},
                },
                "match_if_key_not_found": False,
            }
        },
        answer=401,
    )
    others = [_problem_mapper(s, d) for s, d in _DETAILS.items() if s != 503]
    return {"mappers": [*health, unavailable, not_ready, wrong_audience, *others]}


# --- the filter chain --------------------------------------------------------


def _http_filters(table: RouteTable, gateway: GatewaySettings, platform: Settings) -> list[Config]:
    return [
        _health_check("healthz", "/healthz", []),
        _health_check("readyz", "/readyz", table.owners),
        {"name": CORS_FILTER, "typed_config": typed("envoy.extensions.filters.http.cors.v3.Cors")},
        _rate_limit(PER_CLIENT, gateway.rate_limit_per_client, [{"remote_address": {}}]),
        _rate_limit(
            PER_SERVICE,
            gateway.rate_limit_per_route,
            [{"destination_cluster": {}}, {"remote_address": {}}],
        ),
        {"name": JWT_FILTER, "typed_config": _jwt_authn(table, platform)},
        # Only admin routes carry rules (per route); elsewhere the filter lets all pass.
        {"name": RBAC_FILTER, "typed_config": typed("envoy.extensions.filters.http.rbac.v3.RBAC")},
        {
            "name": BUFFER_FILTER,
            "typed_config": typed(
                "envoy.extensions.filters.http.buffer.v3.Buffer",
                max_request_bytes=gateway.max_body_bytes,
            ),
        },
        {
            "name": CACHE_FILTER,
            "typed_config": typed(
                "envoy.extensions.filters.http.cache.v3.CacheConfig",
                typed_config=typed(
                    "envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig"
                ),
            ),
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": typed(
                "envoy.extensions.filters.http.router.v3.Router", suppress_envoy_headers=True
            ),
        },
    ]


def _health_check(name: str, path: str, clusters: Sequence[str]) -> Config:
    """The edge answers `path` itself: alive, or (with clusters) ready when each of them
    has a healthy replica."""
    config = typed(
        "envoy.extensions.filters.http.health_check.v3.HealthCheck",
        pass_through_mode=False,
        headers=[{"name": ":path", "string_match": {"exact": path}}],
    )
    if clusters:
        config["cluster_min_healthy_percentages"] = {c: {"value": 1.0} for c in clusters}
    return {"name": name, "typed_config": config}


def token_bucket(rate: str) -> tuple[Config, int]:
    """A rate such as `600/minute` as a token bucket (burst of the whole allowance,
    refilled evenly) and the seconds a refused client should wait."""
    item = parse(rate)
    period = item.get_expiry()
    per_fill = max(1, math.ceil(item.amount * 0.05 / period))  # Envoy refills at most every 50 ms
    interval = period * per_fill / item.amount
    bucket = {
        "max_tokens": item.amount,
        "tokens_per_fill": per_fill,
        "fill_interval": seconds(interval),
    }
    return bucket, max(1, math.ceil(interval))


def _rate_limit(name: str, rate: str, actions: list[Config]) -> Config:
    """A token bucket per distinct value of `actions` (e.g. per client address), in this
    Envoy's memory: the limit holds per edge replica."""
    bucket, retry_after = token_bucket(rate)
    always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    return {
        "name": name,
        "typed_config": typed(
            "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            stat_prefix=name,
            # The bucket for requests no descriptor describes: never empty.
            token_bucket={
                "max_tokens": 1_000_000_000,
                "tokens_per_fill": 1_000_000_000,
                "fill_interval": "1s",
            },
            filter_enabled={**always, "runtime_key": f"panthera.{name}.enabled"},
            filter_enforced={**always, "runtime_key": f"panthera.{name}.enforced"},
            rate_limits=[{"actions": actions}],
            descriptors=[
                {
                    "entries": [{"key": next(iter(a))} for a in actions],
                    "token_bucket": bucket,
                }
            ],
            max_dynamic_descriptors=100_000,
            response_headers_to_add=[
                {
                    "header": {"key": "retry-after", "value": str(retry_after)},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
        ),
    }


def _jwt_authn(table: RouteTable, platform: Settings) -> Config:
    """Tokens are checked against the users service's published keys: signature, issuer,
    audience, expiry. Revocation (a deleted user, a changed role) stays with the services."""
    return typed(
        "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        providers={
            JWT_PROVIDER: {
                "issuer": platform.jwt_issuer,
                "audiences": [platform.jwt_audience],
                "remote_jwks": {
                    "http_uri": {
                        "uri": f"http://{JWKS_OWNER}/.well-known/jwks.json",
                        "cluster": JWKS_OWNER,
                        "timeout": "2s",
                    },
                    "cache_duration": "300s",
                    "async_fetch": {"failed_refetch_duration": "1s"},
                },
                "forward": True,  # services verify again
                "payload_in_metadata": JWT_PAYLOAD,
                "failed_status_in_metadata": JWT_FAILURE,
                "clock_skew_seconds": 5,
                # A token seen recently is not verified again (its expiry still is).
                "jwt_cache_config": {"jwt_cache_size": 10_000},
            }
        },
        requirement_map={
            # A missing token passes; a present one must be valid, even on anonymous routes.
            "optional": {
                "requires_any": {
                    "requirements": [{"provider_name": JWT_PROVIDER}, {"allow_missing": {}}]
                }
            },
            "signed_in": {"provider_name": JWT_PROVIDER},
        },
    )


# --- routes ------------------------------------------------------------------


def _route_config(table: RouteTable, gateway: GatewaySettings) -> Config:
    response_headers = dict(SECURITY_HEADERS)
    if gateway.tls_cert_file:
        response_headers["strict-transport-security"] = "max-age=31536000"
    host: Config = {
        "name": "platform",
        "domains": ["*"],
        "routes": [*(_route(route, gateway) for route in table.routes), _no_route()],
        # Services see exactly one address, the client's (as the edge determined it):
        # whatever the client wrote in X-Forwarded-For does not reach them.
        "request_headers_to_add": [
            {
                "header": {
                    "key": "x-forwarded-for",
                    "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                },
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
        "response_headers_to_add": [
            {"header": {"key": key, "value": value}, "append_action": "ADD_IF_ABSENT"}
            for key, value in response_headers.items()
        ],
        "response_headers_to_remove": ["x-envoy-upstream-service-time"],
    }
    if gateway.cors_origins:
        host["typed_per_filter_config"] = {
            CORS_FILTER: typed(
                "envoy.extensions.filters.http.cors.v3.CorsPolicy",
                allow_origin_string_match=[{"exact": o} for o in gateway.cors_origins],
                allow_methods="GET,POST,PUT,DELETE,OPTIONS",
                allow_headers=CORS_HEADERS,
                expose_headers="x-request-id,etag,retry-after",
                max_age="600",
            )
        }
    return {"name": "platform", "virtual_hosts": [host]}


def _route(route: EdgeRoute, gateway: GatewaySettings) -> Config:
    rule = route.rule
    match: Config
    if rule.prefix:
        path = rule.path.rstrip("/")
        match = {"path_separated_prefix": path} if path else {"prefix": "/"}
    else:
        match = {"safe_regex": {"regex": rule.regex}}
    if rule.methods:
        methods = sorted(rule.methods)
        match["headers"] = [
            {
                "name": ":method",
                "string_match": (
                    {"exact": methods[0]}
                    if len(methods) == 1
                    else {"safe_regex": {"regex": f"^({'|'.join(methods)})$"}}
                ),
            }
        ]
    action: Config = {
        "cluster": route.owner,
        "timeout": seconds(rule.timeout or gateway.upstream_timeout_seconds),
        "retry_policy": _retry_policy(idempotent=rule.idempotent),
    }
    if route.upstream_path is not None:
        action["regex_rewrite"] = {
            "pattern": {"regex": rule.regex},
            "substitution": route.upstream_path,
        }
    per_filter: Config = {
        JWT_FILTER: typed(
            "envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig",
            requirement_name=REQUIREMENTS[rule.policy],
        )
    }
    if rule.policy == "admin":
        per_filter[RBAC_FILTER] = _admin_only()
    if rule.body_limit is not None and rule.body_limit != gateway.max_body_bytes:
        per_filter[BUFFER_FILTER] = typed(
            "envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
            buffer={"max_request_bytes": rule.body_limit},
        )
    if not rule.rate_limited:
        per_filter[PER_CLIENT] = _disabled()
        per_filter[PER_SERVICE] = _disabled()
    if rule.cache_control is None or "GET" not in rule.methods:
        # Lookups bypass the route's timeout and retries: only for reads worth caching.
        per_filter[CACHE_FILTER] = _disabled()
    methods_name = ",".join(sorted(rule.methods)) or "*"
    return {
        "name": f"{route.owner} {methods_name} {rule.path}{'/*' if rule.prefix else ''}",
        "match": match,
        "route": action,
        "typed_per_filter_config": per_filter,
    }


def _no_route() -> Config:
    """Anything else: 404, answered here (with the virtual host's headers) as a problem."""
    return {
        "name": "no route",
        "match": {"prefix": "/"},
        "direct_response": {"status": 404},
        "typed_per_filter_config": {CACHE_FILTER: _disabled()},
    }


def _disabled() -> Config:
    return typed("envoy.config.route.v3.FilterConfig", disabled=True)


def _admin_only() -> Config:
    role = {
        "sourced_metadata": {
            "metadata_matcher": {
                "filter": JWT_FILTER,
                "path": [{"key": JWT_PAYLOAD}, {"key": "role"}],
                "value": {"string_match": {"exact": "admin"}},
            },
            "metadata_source": "DYNAMIC",
        }
    }
    return typed(
        "envoy.extensions.filters.http.rbac.v3.RBACPerRoute",
        rbac={
            "rules": {
                "action": "ALLOW",
                "policies": {"admin-role": {"permissions": [{"any": True}], "principals": [role]}},
            }
        },
    )


def _retry_policy(*, idempotent: bool) -> Config:
    """Any request that never reached a service may go to another replica; one that may
    have reached it is retried only if its method is idempotent."""
    retry_on = "connect-failure,refused-stream," + (
        "reset" if idempotent else "reset-before-request"
    )
    return {
        "retry_on": retry_on,
        "num_retries": 2,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": typed(
                    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                ),
            }
        ],
        "host_selection_retry_max_attempts": 3,
    }


# --- clusters ----------------------------------------------------------------


def _cluster(name: str, url: str, *more_urls: str) -> Config:
    urls = [url, *more_urls]
    endpoints = []
    kinds = set()
    for each in urls:
        parts = urlsplit(each)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name}: not an http(s) URL: {each!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        endpoints.append({"endpoint": {"address": _address(parts.hostname, port)}})
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


def _service_cluster(name: str, urls: Sequence[str], gateway: GatewaySettings) -> Config:
    cluster = _cluster(name, *urls)
    interval = seconds(gateway.health_check_seconds)
    cluster.update(
        {
            "health_checks": [
                {
                    "timeout": "1s",
                    "interval": interval,
                    "no_traffic_interval": interval,
                    "unhealthy_threshold": 2,
                    "healthy_threshold": 1,
                    "http_health_check": {"path": "/readyz"},
                }
            ],
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
    return cluster


# --- the stats listener --------------------------------------------------------


def _stats_listener(host: str, port: int) -> Config:
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
        "address": _address(host, port),
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
