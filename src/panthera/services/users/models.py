"""The users service's tables, on its own metadata."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from panthera.kernel.database import UtcDateTime, utcnow
from panthera.kernel.outbox import inbox_table, outbox_table


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(sa.String(50))
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    role: Mapped[str] = mapped_column(sa.String(20), default="customer")
    token_version: Mapped[int] = mapped_column(sa.Integer(), default=0, server_default="0")
    """Carried in its access tokens; raised to void them all (kernel.auth.revocations)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (sa.Index("ix_users_created_at", "created_at"),)


# Usernames are unique regardless of case; emails are stored lower-cased.
sa.Index("uq_users_username_lower", sa.func.lower(User.username), unique=True)


class RefreshToken(Base):
    """A refresh token, stored as its SHA-256; tokens of one login form a family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TokenFloor(Base):
    """A user's revoked token versions, kept while a token issued before may still live,
    so that a restarted process still refuses them (the row outlives a deleted user)."""

    __tablename__ = "token_floors"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True)
    token_version: Mapped[int] = mapped_column(sa.Integer())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
