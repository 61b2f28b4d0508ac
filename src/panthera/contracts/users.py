"""Events of the users service."""

from __future__ import annotations

import uuid
from typing import Literal

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
