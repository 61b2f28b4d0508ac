"""The route table as Envoy routes: each with its service, timeout, retries and the
per-route settings of the filters (token requirement, admin role, body limit, cache)."""

from __future__ import annotations

from panthera.gateway.envoy.config import (
    BUFFER_FILTER,
    CACHE_FILTER,
    CORS_FILTER,
    JWT_FILTER,
    JWT_PAYLOAD,
    PER_CLIENT,
    PER_SERVICE,
    RBAC_FILTER,
    Config,
    disabled,
    seconds,
    typed,
)
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import EdgeRoute, RouteTable, is_site
from panthera.kernel.service import API_PREFIX

REQUIREMENTS = {"anonymous": "optional", "signed-in": "signed_in", "admin": "signed_in"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",  # only where the service said nothing itself
}


CORS_HEADERS = "authorization,content-type,idempotency-key,if-match,if-none-match,x-request-id"


def route_config(table: RouteTable, gateway: GatewaySettings) -> Config:
    response_headers = dict(SECURITY_HEADERS)
    if gateway.tls_cert_file:
        response_headers["strict-transport-security"] = "max-age=31536000"
    host: Config = {
        "name": "platform",
        "domains": ["*"],
        "routes": [*_routes(table, gateway), _no_route()],
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


def _routes(table: RouteTable, gateway: GatewaySettings) -> list[Config]:
    rendered = []
    for route in table.routes:
        if is_site(route):
            # An unknown API path is the API's 404 (a problem body), never a web page.
            rendered.append(_no_route(API_PREFIX))
        rendered.append(_route(route, gateway))
    return rendered


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
        per_filter[PER_CLIENT] = disabled()
        per_filter[PER_SERVICE] = disabled()
    if rule.cache_control is None or "GET" not in rule.methods:
        # Lookups bypass the route's timeout and retries: only for reads worth caching.
        per_filter[CACHE_FILTER] = disabled()
    methods_name = ",".join(sorted(rule.methods)) or "*"
    return {
        "name": f"{route.owner} {methods_name} {rule.path}{'/*' if rule.prefix else ''}",
        "match": match,
        "route": action,
        "typed_per_filter_config": per_filter,
    }


def _no_route(prefix: str = "/") -> Config:
    """Anything else: 404, answered here (with the virtual host's headers) as a problem."""
    return {
        "name": f"no route {prefix}",
        "match": {"path_separated_prefix": prefix} if prefix != "/" else {"prefix": "/"},
        "direct_response": {"status": 404},
        "typed_per_filter_config": {CACHE_FILTER: disabled()},
    }


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
