from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from panthera.kernel.service import ServiceSettings


class NotificationsSettings(ServiceSettings):
    """The notification service's own settings (`PANTHERA_NOTIFICATIONS__*`)."""

    model_config = SettingsConfigDict(env_prefix="PANTHERA_NOTIFICATIONS__", extra="ignore")

    smtp_url: str | None = Field(
        default=None,
        description="smtp://[user:password@]host:port (smtps:// for TLS); falls back to "
        "PANTHERA_SMTP_URL; neither set means a Maildir under the data directory.",
    )
    mail_from: str = "PantheraConnect <no-reply@panthera.local>"
    sms_provider_url: str | None = Field(
        default=None, description="HTTP endpoint taking {to, body}; unset means a local log file."
    )
    sms_provider_token: str | None = None
    sender_enabled: bool = Field(
        default=True,
        description="Send queued notifications from this process; off for consumer-only "
        "replicas (the queue is shared, so any replica with a sender delivers).",
    )
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    send_timeout_seconds: float = Field(default=15.0, gt=0)
    lease_seconds: float = Field(
        default=60.0, gt=0, description="A claimed send not finished by then is tried again."
    )
    batch_size: int = Field(default=20, ge=1, le=500)
    poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often an idle sender looks for due sends. New notifications wake it "
        "at commit; the poll only picks up retries coming due (up to this late) and sends "
        "left by another replica.",
    )

    store: Literal["sql", "dynamodb"] = Field(
        default="sql",
        description="Where notifications live: the service's SQL database, or a DynamoDB "
        "table (docs/notifications.md); recipients and the inbox stay in SQL either way.",
    )
    dynamodb_table: str = Field(
        default="panthera-notifications", min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    dynamodb_endpoint_url: str | None = Field(
        default=None,
        description="A DynamoDB that is not AWS's (DynamoDB Local); unset for AWS, where the "
        "standard AWS variables (credentials, AWS_ENDPOINT_URL_DYNAMODB) apply.",
    )
    dynamodb_region: str | None = Field(
        default=None, description="Unset: the standard AWS configuration (AWS_REGION, ...)."
    )
    dynamodb_create_table: bool = Field(
        default=False,
        description="Create the table (and its indexes) at start when it is missing, as "
        "`panthera notifications create-table` does.",
    )

    def retry_delay(self, attempts: int) -> float:
        """Exponential backoff after the `attempts`-th failure."""
        delay: float = self.retry_base_seconds * 2 ** max(attempts - 1, 0)
        return min(delay, self.retry_max_seconds)
