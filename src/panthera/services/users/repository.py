"""Data access for users and refresh tokens, and the users service's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.outbox import Outbox
from panthera.kernel.uow import Transaction, UnitOfWork
from panthera.services.users.models import RefreshToken, TokenFloor, User


class Users(Protocol):
    """The accounts, as the use cases see them (SQL here, in-memory in unit tests)."""

    async def get(self, user_id: uuid.UUID) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None: ...

    async def get_locked(self, user_id: uuid.UUID) -> User | None:
        """The account, locked until the transaction ends (on PostgreSQL): a session
        issued meanwhile sees the token version a concurrent revocation leaves."""
        ...

    async def taken(
        self, *, username: str | None, email: str | None, excluding: uuid.UUID | None = None
    ) -> str | None:
        """Which of username or email another account already uses, if any."""
        ...

    async def list(self, *, search: str | None, offset: int, limit: int) -> tuple[int, list[User]]:
        """A page in sign-up order, optionally matching `search`, and the total matching."""
        ...

    async def add(self, user: User) -> None:
        """Store a new account; a concurrent duplicate surfaces as `IntegrityError`."""
        ...

    async def delete(self, user: User) -> None:
        """Remove the account and every refresh token issued to it."""
        ...

    async def admin_ids(self) -> Sequence[uuid.UUID]:
        """The admins, locked until the transaction ends (on PostgreSQL), so that two
        admins removing each other cannot both see the other remain."""
        ...

    async def keep_floor(self, user_id: uuid.UUID, version: int, until: datetime) -> None:
        """Remember that tokens of `user_id` below `version` are void until `until`."""
        ...

    async def live_floors(self, now: datetime) -> Sequence[tuple[uuid.UUID, int, datetime]]:
        """The floors still in force (and forget the others)."""
        ...


class RefreshTokens(Protocol):
    def add(self, token: RefreshToken) -> None: ...

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None: ...

    async def spend(self, token_id: uuid.UUID, when: datetime) -> bool:
        """Mark a live token used; False if another request spent it first."""
        ...

    async def revoke_family(self, family_id: uuid.UUID, when: datetime) -> None: ...

    async def revoke_all(
        self, user_id: uuid.UUID, when: datetime, *, keep: uuid.UUID | None = None
    ) -> None:
        """End every session of the user, except the family `keep`."""
        ...


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        found = await self.session.execute(sa.select(User).where(User.email == email.lower()))
        return found.scalar_one_or_none()

    async def get_locked(self, user_id: uuid.UUID) -> User | None:
        found = await self.session.execute(
            sa.select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return found.scalar_one_or_none()

    async def taken(
        self, *, username: str | None, email: str | None, excluding: uuid.UUID | None = None
    ) -> str | None:
        checks = []
        if username is not None:
            checks.append(sa.func.lower(User.username) == username.lower())
        if email is not None:
            checks.append(User.email == email.lower())
        if not checks:
            return None
        query = sa.select(User.username, User.email).where(sa.or_(*checks))
        if excluding is not None:
            query = query.where(User.id != excluding)
        for row in await self.session.execute(query.limit(2)):
            if email is not None and row.email == email.lower():
                return "email"
            return "username"
        return None

    async def list(self, *, search: str | None, offset: int, limit: int) -> tuple[int, list[User]]:
        query = sa.select(User)
        if search:
            term = search.lower()
            query = query.where(
                sa.or_(
                    *(
                        sa.func.lower(sa.func.coalesce(column, "")).contains(term, autoescape=True)
                        for column in (User.username, User.email, User.first_name, User.last_name)
                    )
                )
            )
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(User.created_at, User.id).offset(offset).limit(limit)
        )
        return int(total or 0), list(rows)

    async def add(self, user: User) -> None:
        self.session.add(user)
        # Now rather than at commit, so that the unique indexes speak while the
        # use case can still tell the caller which name was taken.
        await self.session.flush()

    async def delete(self, user: User) -> None:
        await self.session.execute(sa.delete(RefreshToken).where(RefreshToken.user_id == user.id))
        await self.session.delete(user)

    async def admin_ids(self) -> Sequence[uuid.UUID]:
        # FOR UPDATE on PostgreSQL; SQLite's writers already take turns (BEGIN IMMEDIATE).
        rows = await self.session.scalars(
            sa.select(User.id).where(User.role == "admin").with_for_update()
        )
        return list(rows)

    async def keep_floor(self, user_id: uuid.UUID, version: int, until: datetime) -> None:
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(TokenFloor).values(
            user_id=user_id, token_version=version, expires_at=until
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[TokenFloor.user_id],
                set_={"token_version": version, "expires_at": until},
            )
        )

    async def live_floors(self, now: datetime) -> Sequence[tuple[uuid.UUID, int, datetime]]:
        await self.session.execute(sa.delete(TokenFloor).where(TokenFloor.expires_at <= now))
        rows = await self.session.execute(
            sa.select(TokenFloor.user_id, TokenFloor.token_version, TokenFloor.expires_at)
        )
        return [(row.user_id, row.token_version, row.expires_at) for row in rows]


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, token: RefreshToken) -> None:
        self.session.add(token)

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        found = await self.session.execute(
            sa.select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        return found.scalar_one_or_none()

    async def spend(self, token_id: uuid.UUID, when: datetime) -> bool:
        # One conditional UPDATE: of two requests presenting the same token at
        # once, exactly one sees a row change.
        result = await self.session.execute(
            sa.update(RefreshToken)
            .where(
                RefreshToken.id == token_id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=when)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def revoke_family(self, family_id: uuid.UUID, when: datetime) -> None:
        await self.session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )

    async def revoke_all(
        self, user_id: uuid.UUID, when: datetime, *, keep: uuid.UUID | None = None
    ) -> None:
        statement = sa.update(RefreshToken).where(
            RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
        )
        if keep is not None:
            statement = statement.where(RefreshToken.family_id != keep)
        await self.session.execute(statement.values(revoked_at=when))


class UsersTx(Transaction):
    """One unit of work of the users service: its accounts and refresh tokens."""

    def __init__(self, session: AsyncSession, outbox: Outbox | None, *, writable: bool) -> None:
        super().__init__(session, outbox, writable=writable)
        self.users: Users = UserRepository(session)
        self.tokens: RefreshTokens = RefreshTokenRepository(session)


UsersUoW = UnitOfWork[UsersTx]
