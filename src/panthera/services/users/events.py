"""Events the users service publishes (catalogue: docs/events.md); it consumes none."""

from __future__ import annotations

from typing import Any

from panthera.services.users.models import User

USER_REGISTERED = "users.user.registered"
USER_UPDATED = "users.user.updated"
USER_DELETED = "users.user.deleted"

HANDLERS: dict[str, Any] = {}


def user_data(user: User) -> dict[str, Any]:
    """What other services may keep of a user: contact details and role."""
    return {
        "userId": str(user.id),
        "username": user.username,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "phone": user.phone,
        "role": user.role,
    }
