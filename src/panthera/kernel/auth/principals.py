"""Who is calling: the principal carried by a verified access token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

Role = Literal["customer", "admin"]
ROLES: tuple[Role, ...] = ("customer", "admin")


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    role: str
    token_version: int = 0
    """The user's token version when the token was issued (see `auth.revocations`)."""
    session_id: uuid.UUID | None = None
    """The refresh token family (one login) the token came from, if any."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def owns(self, user_id: uuid.UUID) -> bool:
        return self.user_id == user_id

    def may_access(self, user_id: uuid.UUID) -> bool:
        """Self or admin: the rule for every per-user resource."""
        return self.is_admin or self.owns(user_id)
