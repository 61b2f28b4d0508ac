"""In-memory repositories of the users service, for unit tests of its use cases.

The real guarantees (unique indexes, the conditional UPDATE that spends a refresh
token once under concurrency, rollback) are tested on SQLite and PostgreSQL in
test_api.py and test_security.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from panthera.kernel.auth.keys import load_or_create_signing_key
from panthera.kernel.auth.passwords import PasswordHasher
from panthera.kernel.auth.revocations import Revocations
from panthera.kernel.auth.tokens import TokenIssuer
from panthera.kernel.database import utcnow
from panthera.kernel.fakes import FakeUnitOfWork
from panthera.kernel.outbox import Outbox
from panthera.kernel.ratelimit import RateLimiter
from panthera.kernel.uow import Transaction
from panthera.services.users.models import RefreshToken, User
from panthera.services.users.repository import UsersTx
from panthera.services.users.service import UsersRuntime
from panthera.services.users.settings import UsersSettings


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, User] = {}
        self.floors: dict[uuid.UUID, tuple[int, datetime]] = {}

    async def get(self, user_id: uuid.UUID) -> User | None:
        return self.rows.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self.rows.values() if u.email == email.lower()), None)

    async def get_locked(self, user_id: uuid.UUID) -> User | None:
        return self.rows.get(user_id)

    async def taken(
        self, *, username: str | None, email: str | None, excluding: uuid.UUID | None = None
    ) -> str | None:
        for user in self.rows.values():
            if user.id == excluding:
                continue
            if email is not None and user.email == email.lower():
                return "email"
            if username is not None and user.username.lower() == username.lower():
                return "username"
        return None

    async def list(self, *, search: str | None, offset: int, limit: int) -> tuple[int, list[User]]:
        term = (search or "").lower()
        found = [
            u
            for u in self.rows.values()
            if any(
                term in (v or "").lower() for v in (u.username, u.email, u.first_name, u.last_name)
            )
        ]
        return len(found), found[offset : offset + limit]

    async def add(self, user: User) -> None:
        user.created_at = user.updated_at = utcnow()
        user.token_version = 0
        self.rows[user.id] = user

    async def delete(self, user: User) -> None:
        del self.rows[user.id]

    async def admin_ids(self) -> Sequence[uuid.UUID]:
        return [u.id for u in self.rows.values() if u.role == "admin"]

    async def keep_floor(self, user_id: uuid.UUID, version: int, until: datetime) -> None:
        self.floors[user_id] = (version, until)

    async def live_floors(self, now: datetime) -> Sequence[tuple[uuid.UUID, int, datetime]]:
        self.floors = {u: f for u, f in self.floors.items() if f[1] > now}
        return [(u, v, until) for u, (v, until) in self.floors.items()]


class FakeRefreshTokens:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, RefreshToken] = {}

    def add(self, token: RefreshToken) -> None:
        token.used_at = token.revoked_at = None
        self.rows[token.id] = token

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return next((t for t in self.rows.values() if t.token_hash == token_hash), None)

    async def spend(self, token_id: uuid.UUID, when: datetime) -> bool:
        token = self.rows[token_id]
        if token.used_at is not None or token.revoked_at is not None:
            return False
        token.used_at = when
        return True

    async def revoke_family(self, family_id: uuid.UUID, when: datetime) -> None:
        for token in self.rows.values():
            if token.family_id == family_id and token.revoked_at is None:
                token.revoked_at = when

    async def revoke_all(
        self, user_id: uuid.UUID, when: datetime, *, keep: uuid.UUID | None = None
    ) -> None:
        for token in self.of(user_id):
            if token.family_id != keep and token.revoked_at is None:
                token.revoked_at = when

    def of(self, user_id: uuid.UUID) -> list[RefreshToken]:
        return [t for t in self.rows.values() if t.user_id == user_id]


class FakeUsersTx(UsersTx):
    def __init__(
        self,
        session: Any,
        outbox: Outbox | None,
        *,
        writable: bool,
        users: FakeUsers,
        tokens: FakeRefreshTokens,
    ) -> None:
        # The base class would build the SQL repositories on the (absent) session.
        Transaction.__init__(self, session, outbox, writable=writable)
        self.users = users
        self.tokens = tokens


def runtime(
    key_dir: Path, users: FakeUsers, tokens: FakeRefreshTokens
) -> tuple[UsersRuntime, FakeUnitOfWork[UsersTx]]:
    uow: FakeUnitOfWork[UsersTx] = FakeUnitOfWork(partial(FakeUsersTx, users=users, tokens=tokens))
    rt = UsersRuntime(
        uow=uow,
        settings=UsersSettings(),
        # Argon2id for real, at its cheapest: unit tests spend their time on behaviour.
        hasher=PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1),
        issuer=TokenIssuer(
            load_or_create_signing_key(key_dir / "signing.key"),
            issuer="panthera-test",
            audience="panthera-test",
            ttl_seconds=300,
        ),
        limiter=RateLimiter(None),
        revocations=Revocations(ttl_seconds=300),
    )
    return rt, uow
