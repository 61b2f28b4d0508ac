from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from panthera.kernel.service import ServiceSettings


class OrdersSettings(ServiceSettings):
    """The orders service's own settings (`PANTHERA_ORDERS__*`)."""

    model_config = SettingsConfigDict(env_prefix="PANTHERA_ORDERS__", extra="ignore")

    catalog_url: str = Field(
        default="http://127.0.0.1:8082",
        description="The catalog's base URL when it runs as its own process.",
    )
    pending_timeout_seconds: float = Field(default=120, gt=0)
    expiry_interval_seconds: float = Field(default=5, gt=0)
