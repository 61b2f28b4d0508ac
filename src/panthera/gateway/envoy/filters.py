"""The edge's HTTP filter chain, in the order a request meets it."""

from __future__ import annotations

import math
from collections.abc import Sequence

from limits import parse

from panthera.gateway.envoy.config import (
    BUFFER_FILTER,
    CACHE_FILTER,
    CORS_FILTER,
    JWKS_OWNER,
    JWT_FAILURE,
    JWT_FILTER,
    JWT_PAYLOAD,
    JWT_PROVIDER,
    PER_CLIENT,
    PER_SERVICE,
    RBAC_FILTER,
    Config,
    path_is,
    seconds,
    typed,
)
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import RouteTable
from panthera.kernel.settings import Settings

UNLIMITED = 1_000_000_000


def http_filters(table: RouteTable, gateway: GatewaySettings, platform: Settings) -> list[Config]:
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
        headers=[path_is(path)],
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
