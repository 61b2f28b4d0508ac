from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from panthera.kernel.service import ServiceSettings


class UsersSettings(ServiceSettings):
    """The users service's own settings (`PANTHERA_USERS__*`)."""

    model_config = SettingsConfigDict(env_prefix="PANTHERA_USERS__", extra="ignore")

    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    login_limit_per_account: str = "10/minute"
    login_limit_per_address: str = "100/minute"
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=2, ge=1)
