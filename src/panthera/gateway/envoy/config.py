"""What every part of the edge's Envoy configuration shares: names and small helpers."""

from __future__ import annotations

import re
from typing import Any

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


def typed(type_name: str, **fields: Any) -> Config:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def seconds(value: float) -> str:
    return f"{value:.3f}s"


def address(host: str, port: int) -> Config:
    return {"socket_address": {"address": host, "port_value": port}}


def disabled() -> Config:
    return typed("envoy.config.route.v3.FilterConfig", disabled=True)


def without_query() -> Config:
    return {
        "name": "envoy.formatter.req_without_query",
        "typed_config": typed("envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery"),
    }


def path_is(path: str) -> Config:
    """A header matcher for `path` with any query (`/readyz?exclude=redis`, the probes)."""
    return {
        "name": ":path",
        "string_match": {"safe_regex": {"regex": "^" + re.escape(path) + r"(\?.*)?$"}},
    }
