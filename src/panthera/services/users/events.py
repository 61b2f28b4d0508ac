"""What the users service publishes (catalogue: docs/events.md); it consumes nothing."""

from __future__ import annotations

from typing import TypeVar, cast

from panthera.contracts.users import UserDeleted, UserProfile, UserRegistered, UserUpdated
from panthera.kernel.auth.principals import Role
from panthera.services.users.models import User

P = TypeVar("P", bound=UserProfile)


def user_event(contract: type[P], user: User) -> P:
    """`UserRegistered` or `UserUpdated` of `user`: contact details and role, never secrets."""
    return contract(
        user_id=user.id,
        username=user.username,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        phone=user.phone,
        role=cast(Role, user.role),  # the contract validates it again
    )


def user_deleted(user: User) -> UserDeleted:
    return UserDeleted(user_id=user.id)


__all__ = ["UserRegistered", "UserUpdated", "user_deleted", "user_event"]
