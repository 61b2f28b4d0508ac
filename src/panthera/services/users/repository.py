"""Data access for users and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.services.users.models import RefreshToken, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        found = await self.session.execute(sa.select(User).where(User.email == email.lower()))
        return found.scalar_one_or_none()

    async def taken(
        self, *, username: str | None, email: str | None, excluding: uuid.UUID | None = None
    ) -> str | None:
        """Which of username or email another account already uses, if any."""
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

    def add(self, user: User) -> None:
        self.session.add(user)

    async def delete(self, user: User) -> None:
        await self.session.execute(sa.delete(RefreshToken).where(RefreshToken.user_id == user.id))
        await self.session.delete(user)


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
        """Mark a live token used; False if another request spent it first."""
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
