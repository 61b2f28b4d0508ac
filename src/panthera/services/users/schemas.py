"""Request and response bodies of the users API, named as in the seed's contract."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StrictBool, StringConstraints, field_validator

from panthera.kernel.auth.principals import Role
from panthera.kernel.schemas import ApiInput, ApiModel

Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
Email = Annotated[EmailStr, Field(max_length=254)]
Password = Annotated[str, Field(min_length=8, max_length=128)]

_COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password123",
        "12345678",
        "123456789",
        "qwerty123",
        "letmein1",
        "iloveyou",
        "admin123",
        "welcome1",
        "passw0rd",
        "abc12345",
    }
)


def check_password_strength(password: str) -> str:
    """At least 8 characters with a lower-case letter, an upper-case letter and a digit."""
    if password.lower() in _COMMON_PASSWORDS:
        raise ValueError("password is too common")
    missing = [
        what
        for what, pattern in (
            ("a lower-case letter", r"[a-z]"),
            ("an upper-case letter", r"[A-Z]"),
            ("a digit", r"[0-9]"),
        )
        if not re.search(pattern, password)
    ]
    if missing:
        raise ValueError("password is too weak: it needs " + ", ".join(missing))
    return password


class UserCreateRequest(ApiInput):
    """Sign-up. Only an admin may set `role`."""

    username: Username = Field(examples=["john.doe"])
    email: Email = Field(examples=["john.doe@example.com"])
    password: Password = Field(examples=["StrongPassword123!"])
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = Field(default=None, description="E.164, e.g. +15551234567")
    role: Role | None = None

    _strong = field_validator("password")(check_password_strength)


class UserUpdateRequest(ApiInput):
    """Partial update: only the fields sent change; `null` clears an optional field."""

    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    role: Role | None = Field(default=None, description="Admin only.")


class User(ApiModel):
    """A user as every client sees it: never a password or its hash."""

    id: uuid.UUID
    username: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    role: Role
    created_at: datetime
    updated_at: datetime


class UserList(ApiModel):
    total: int
    page: int
    limit: int
    users: list[User]


class LoginRequest(ApiInput):
    # Any text: an address no account has is a wrong login (401), however it is spelled,
    # and the rules of a new address (reserved domains, ...) are sign-up's business.
    email: Annotated[str, StringConstraints(min_length=1, max_length=254)] = Field(
        examples=["user@example.com"]
    )
    password: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        examples=["MyStrongPassword123!"]
    )


class RefreshRequest(ApiInput):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class LogoutRequest(RefreshRequest):
    all_sessions: StrictBool = Field(
        default=False,
        description="End every session of the user and void every access token issued so far.",
    )


class PasswordChangeRequest(ApiInput):
    current_password: Annotated[str, Field(min_length=1, max_length=128)]
    new_password: Password

    _strong = field_validator("new_password")(check_password_strength)


class TokenResponse(ApiModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str
    user: User
