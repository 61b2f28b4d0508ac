"""Configuration from the environment.

Every process reads `PANTHERA_*`; a service's own settings read
`PANTHERA_<SERVICE>__*` and fall back to the shared values, so one variable
switches the whole platform (for example to PostgreSQL) while a single service
can still be pointed elsewhere.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Topology = Literal["embedded", "distributed"]


class Settings(BaseSettings):
    """Settings shared by every process of the platform."""

    model_config = SettingsConfigDict(env_prefix="PANTHERA_", extra="ignore")

    topology: Topology = "embedded"
    data_dir: Path = Path(".panthera")
    database_url: str | None = Field(
        default=None,
        description="None means one SQLite file per service under data_dir; a "
        "postgresql URL puts every service in its own schema of that database.",
    )
    schema_prefix: str = Field(
        default="",
        description="Prepended to each service's schema name (isolates test runs).",
    )
    redis_url: str | None = None
    deployment: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Names this deployment in its Redis keys (`panthera:<deployment>:...`), so "
        "that deployments sharing one Redis share no counter or cache entry; unset: derived "
        "from where its data lives (database and schema prefix, or data directory).",
    )
    nats_url: str | None = None
    smtp_url: str | None = None
    otlp_endpoint: str | None = None
    gateway_addresses: str = Field(
        default="127.0.0.1",
        description="Comma-separated addresses of the gateway: a service in its own process "
        "takes the client's address from their X-Forwarded-For.",
    )
    startup_wait_seconds: float = Field(
        default=120, ge=0, description="How long a process waits for its database and bus."
    )
    log_level: str = "INFO"
    log_json: bool = True

    jwt_private_key_file: Path | None = Field(
        default=None, description="PEM Ed25519 key; generated under data_dir when unset."
    )
    jwt_issuer: str = "panthera"
    jwt_audience: str = "panthera"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)

    users_url: str | None = Field(
        default=None,
        description="Where other processes fetch the users service's JWKS; unset means "
        "they trust this installation's own signing key file.",
    )

    admin_email: str | None = None
    admin_password: str | None = None

    @property
    def signing_key_path(self) -> Path:
        return self.jwt_private_key_file or self.data_dir / "keys" / "jwt-ed25519.pem"

    def database_url_for(self, service: str, override: str | None = None) -> str:
        """The SQLAlchemy URL a service uses: its override, the shared one, or SQLite."""
        url = override or self.database_url
        if url is None:
            return f"sqlite+aiosqlite:///{self.data_dir / f'{service}.db'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url

    @property
    def redis_prefix(self) -> str:
        """The start of every Redis key this deployment writes."""
        return f"panthera:{self.deployment or self._deployment_from_stores()}:"

    def _deployment_from_stores(self) -> str:
        # Two processes of one deployment see the same stores, two deployments never do.
        if self.database_url:
            url = urlsplit(self.database_url)
            where = f"{url.hostname}:{url.port or 5432}{url.path}|{self.schema_prefix}"
        else:
            where = str(self.data_dir.resolve())
        return hashlib.sha256(where.encode()).hexdigest()[:12]

    def schema_for(self, service: str) -> str:
        return f"{self.schema_prefix}{service}"
