from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
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

    payment_provider: Literal["sandbox", "stripe"] = Field(
        default="sandbox", description="Who charges the cards (docs/payments.md)."
    )
    stripe_api_key: SecretStr | None = Field(
        default=None, description="The Stripe secret key (`sk_...`); never logged."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="The webhook endpoint's signing secret (`whsec_...`)."
    )
    stripe_api_base: str | None = Field(
        default=None,
        description="Another Stripe-compatible API (tests: localstripe); unset for Stripe.",
    )
    stripe_webhook_tolerance_seconds: int = Field(default=300, gt=0)
    action_timeout_seconds: float = Field(
        default=1800,
        gt=0,
        description="How long a card waiting for the customer's 3-D Secure may keep the "
        "order pending (counted from placing it) before the order is rejected.",
    )
    reconcile_interval_seconds: float = Field(default=300, gt=0)
    reconcile_after_seconds: float = Field(
        default=30,
        ge=0,
        description="An order whose payment has not moved for this long is asked about.",
    )
    reconcile_window_seconds: float = Field(
        default=86_400,
        gt=0,
        description="How far back reconciliation reads the provider's charges.",
    )
