"""The web application's own settings (`PANTHERA_WEB__*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """Storefront and admin console. Shared settings (data dir, Redis) come from
    `PANTHERA_*`; these are the web's own."""

    model_config = SettingsConfigDict(env_prefix="PANTHERA_WEB__", extra="ignore")

    api_url: str | None = Field(
        default=None,
        description="The edge's URL when the web runs in its own process (distributed); "
        "embedded, the web calls the platform in-process.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key of the CSRF tokens, shared by every replica; unset: generated once "
        "into <data dir>/keys/web-secret.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for sessions; unset: PANTHERA_REDIS_URL in its own process, "
        "memory when embedded.",
    )
    session_prefix: str = Field(
        default="web:session:",
        description="Redis key prefix, after the deployment's (`panthera:<deployment>:`).",
    )
    session_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="A session unused this long ends."
    )
    refresh_margin_seconds: int = Field(
        default=60, ge=0, description="Refresh the access token when it expires within this."
    )
    cookie_secure: bool | None = Field(
        default=None, description="Mark cookies Secure; unset: when the request came over HTTPS."
    )
    decision_wait_seconds: float = Field(
        default=8,
        gt=0,
        le=30,
        description="How long one request of the order page waits for the order's decision "
        "(the API's waitFor); keep it under the edge's upstream timeout.",
    )
    api_timeout_seconds: float = Field(default=10, gt=0)
    low_stock_threshold: int = Field(default=5, ge=1, le=1_000_000)
    image_origins: list[str] = Field(
        default_factory=list,
        description="Origins (e.g. https://img.example.com) whose product image URLs are shown; "
        "images from the platform itself always are.",
    )
    payment_provider: Literal["sandbox", "stripe"] = Field(
        default="sandbox",
        description="How checkout takes a card: the sandbox's test numbers, or Stripe's card "
        "element (Stripe.js; the orders service must use the Stripe provider too).",
    )
    stripe_publishable_key: str | None = Field(
        default=None,
        pattern=r"^pk_(test|live)_[A-Za-z0-9_]+$",
        description="Stripe's publishable key (pk_test_... or pk_live_...), required with "
        "payment_provider=stripe; public by design, it is written into the checkout page.",
    )
    shop_name: str = "Panthera Shop"

    @model_validator(mode="after")
    def _stripe_needs_its_key(self) -> WebSettings:
        if self.payment_provider == "stripe" and not self.stripe_publishable_key:
            raise ValueError(
                "PANTHERA_WEB__PAYMENT_PROVIDER=stripe needs PANTHERA_WEB__STRIPE_PUBLISHABLE_KEY"
            )
        return self
