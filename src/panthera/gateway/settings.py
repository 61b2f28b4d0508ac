from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """The gateway's own settings (`PANTHERA_GATEWAY__*`)."""

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
    cache_ttl_seconds: int = Field(
        default=5, ge=0, le=300, description="Public catalog GETs cached at the edge; 0 disables."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Allowed browser origins.")
    upstream_timeout_seconds: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    trust_forwarded_for: bool = Field(
        default=False, description="Take the client address from X-Forwarded-For (behind a LB)."
    )
