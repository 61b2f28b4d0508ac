"""Events of the users service."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal

from pydantic import Field

from panthera.contracts.base import EventContract


class UserEvent(EventContract):
    user_id: uuid.UUID

    @property
    def subject(self) -> str:
        return str(self.user_id)


class UserProfile(UserEvent):
    """What other services may keep of a user: contact details and role."""

    username: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    role: Literal["customer", "admin"]


class UserRegistered(UserProfile):
    TYPE = "users.user.registered"


class UserUpdated(UserProfile):
    """The values after the change."""

    TYPE = "users.user.updated"


class UserDeleted(UserEvent):
    TYPE = "users.user.deleted"


class RevocationReason(StrEnum):
    """Why a user's tokens stopped counting."""

    DELETED = "deleted"
    ROLE_CHANGED = "role_changed"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason code, not a secret)
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"


class SessionsRevoked(UserEvent):
    """Every access token of the user with a lower `tokenVersion` is void from now on.

    Every service's verifier remembers it for an access token's lifetime (Redis
    holds it too when the platform has one), so the change holds everywhere at once.
    """

    TYPE = "users.sessions.revoked"

    token_version: int = Field(ge=1, description="The lowest token version still accepted.")
    reason: RevocationReason
