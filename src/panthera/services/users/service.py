"""Use cases of the users service: sign-up, profiles, roles, sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy.exc import IntegrityError

from panthera.contracts.users import RevocationReason, SessionsRevoked
from panthera.kernel.auth.passwords import PasswordHasher
from panthera.kernel.auth.principals import Principal
from panthera.kernel.auth.revocations import Revocations
from panthera.kernel.auth.tokens import TokenIssuer
from panthera.kernel.database import utcnow
from panthera.kernel.errors import Conflict, Forbidden, NotFound, Unauthorized
from panthera.kernel.ratelimit import RateLimiter
from panthera.services.users.events import UserRegistered, UserUpdated, user_deleted, user_event
from panthera.services.users.models import RefreshToken, User
from panthera.services.users.repository import UsersTx, UsersUoW
from panthera.services.users.schemas import UserCreateRequest, UserUpdateRequest
from panthera.services.users.settings import UsersSettings


@dataclass(frozen=True)
class UsersRuntime:
    """The collaborators the use cases need, built once when the service starts."""

    uow: UsersUoW
    settings: UsersSettings
    hasher: PasswordHasher
    issuer: TokenIssuer
    limiter: RateLimiter
    revocations: Revocations
    """Where revoked token versions take effect at once (the verifier's, in Redis too)."""


@dataclass(frozen=True)
class Session:
    """What a successful login or refresh hands back."""

    access_token: str
    expires_in: int
    refresh_token: str
    user: User


def _conflict(which: str) -> Conflict:
    return Conflict(f"A user with this {which} already exists")


async def create(*, rt: UsersRuntime, data: UserCreateRequest, actor: Principal | None) -> User:
    """Register a user; only an admin may create anything but a customer."""
    role = data.role or "customer"
    if role != "customer" and not (actor and actor.is_admin):
        raise Forbidden("Only an admin may set a role")
    password_hash = await rt.hasher.hash(data.password)
    user = User(
        id=uuid.uuid4(),
        username=data.username,
        email=str(data.email).lower(),
        password_hash=password_hash,
        first_name=data.first_name,
        last_name=data.last_name,
        phone=data.phone,
        role=role,
    )
    try:
        async with rt.uow.write() as tx:
            which = await tx.users.taken(username=user.username, email=user.email)
            if which:
                raise _conflict(which)
            await tx.users.add(user)
            tx.record(user_event(UserRegistered, user))
    except IntegrityError as exc:  # a concurrent sign-up won the race for the name
        raise Conflict("A user with this username or email already exists") from exc
    return user


async def _visible(tx: UsersTx, user_id: uuid.UUID, actor: Principal) -> User:
    # A customer asking about anyone else learns nothing, not even existence.
    if not actor.may_access(user_id):
        raise Forbidden("You may only access your own profile")
    user = await tx.users.get(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def get(*, rt: UsersRuntime, user_id: uuid.UUID, actor: Principal) -> User:
    """One user: self or admin."""
    async with rt.uow.read() as tx:
        return await _visible(tx, user_id, actor)


async def get_all(
    *, rt: UsersRuntime, search: str | None, offset: int, limit: int
) -> tuple[int, list[User]]:
    """A page of users, optionally matching `search` (admin only; checked by the route)."""
    async with rt.uow.read() as tx:
        return await tx.users.list(search=search, offset=offset, limit=limit)


async def update(
    *, rt: UsersRuntime, user_id: uuid.UUID, data: UserUpdateRequest, actor: Principal
) -> User:
    """Change the fields that were sent; only an admin may change a role."""
    changes = data.model_dump(exclude_unset=True)
    if "role" in changes and not actor.is_admin:
        raise Forbidden("Only an admin may change a role")
    if "role" in changes and changes["role"] is None:
        del changes["role"]
    if "email" in changes:
        if changes["email"] is None:
            del changes["email"]
        else:
            changes["email"] = str(changes["email"]).lower()
    try:
        async with rt.uow.write() as tx:
            user = await _visible(tx, user_id, actor)
            if "email" in changes and changes["email"] != user.email:
                which = await tx.users.taken(
                    username=None, email=changes["email"], excluding=user.id
                )
                if which:
                    raise _conflict(which)
            demoted = user.role == "admin" and changes.get("role", "admin") != "admin"
            if demoted:
                await _keep_an_admin(tx, user)
            role_changed = "role" in changes and changes["role"] != user.role
            for name, value in changes.items():
                setattr(user, name, value)
            if changes:
                user.updated_at = utcnow()
                tx.record(user_event(UserUpdated, user))
            if role_changed:
                await _revoke_sessions(rt, tx, user, RevocationReason.ROLE_CHANGED)
    except IntegrityError as exc:
        raise Conflict("A user with this email already exists") from exc
    return user


async def delete(*, rt: UsersRuntime, user_id: uuid.UUID, actor: Principal) -> None:
    """Delete an account and end its sessions, its access tokens included."""
    async with rt.uow.write() as tx:
        user = await _visible(tx, user_id, actor)
        if user.role == "admin":
            await _keep_an_admin(tx, user)
        await _revoke_sessions(rt, tx, user, RevocationReason.DELETED)
        await tx.users.delete(user)
        tx.record(user_deleted(user))


async def _keep_an_admin(tx: UsersTx, leaving: User) -> None:
    """Refuse to lose the last admin: nobody could manage the shop any more."""
    if [admin for admin in await tx.users.admin_ids() if admin != leaving.id] == []:
        raise Conflict("This is the last admin: make another admin first")


async def _revoke_sessions(
    rt: UsersRuntime,
    tx: UsersTx,
    user: User,
    reason: RevocationReason,
    *,
    keep: uuid.UUID | None = None,
) -> None:
    """Void every access token issued to `user` so far and end their sessions (but `keep`).

    The new version is published (every service's verifier hears it) and, once
    committed, written where this platform's verifiers look at once.
    """
    now = utcnow()
    user.token_version += 1
    ttl = rt.revocations.ttl_seconds
    await tx.users.keep_floor(user.id, user.token_version, now + timedelta(seconds=ttl))
    await tx.tokens.revoke_all(user.id, now, keep=keep)
    tx.record(SessionsRevoked(user_id=user.id, token_version=user.token_version, reason=reason))
    tx.after_commit(partial(rt.revocations.revoke_below, user.id, user.token_version))


async def change_password(
    *, rt: UsersRuntime, actor: Principal, current: str, new: str, client: str
) -> None:
    """Change the caller's password; every other session ends.

    The caller's own refresh token stays valid: its access token is void like
    the others, and a refresh gets one that carries the new version.
    """
    async with rt.uow.read() as tx:
        user = await tx.users.get(actor.user_id)
    if user is None:
        raise Unauthorized("Access token revoked: sign in again")
    # Guessing the current password is guessing a login: the same limits apply.
    await rt.limiter.hit(rt.settings.login_limit_per_address, "login-address", client)
    await rt.limiter.hit(rt.settings.login_limit_per_account, "login-account", user.email)
    if not await rt.hasher.verify(current, user.password_hash):
        raise Unauthorized("The current password is not right")
    password_hash = await rt.hasher.hash(new)
    async with rt.uow.write() as tx:
        user = await tx.users.get_locked(actor.user_id)
        if user is None:
            raise Unauthorized("Access token revoked: sign in again")
        user.password_hash = password_hash
        user.updated_at = utcnow()
        await _revoke_sessions(
            rt, tx, user, RevocationReason.PASSWORD_CHANGED, keep=actor.session_id
        )


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_refresh_token(
    rt: UsersRuntime, user: User, family_id: uuid.UUID
) -> tuple[str, RefreshToken]:
    token = secrets.token_urlsafe(32)
    row = RefreshToken(
        id=uuid.uuid4(),
        family_id=family_id,
        user_id=user.id,
        token_hash=_hash_token(token),
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(days=rt.settings.refresh_token_ttl_days),
    )
    return token, row


def _session(rt: UsersRuntime, user: User, refresh_token: str, family: uuid.UUID) -> Session:
    return Session(
        access_token=rt.issuer.issue(
            subject=str(user.id), role=user.role, version=user.token_version, session=family
        ),
        expires_in=rt.issuer.ttl_seconds,
        refresh_token=refresh_token,
        user=user,
    )


async def login(*, rt: UsersRuntime, email: str, password: str, client: str) -> Session:
    """Exchange credentials for tokens; the same answer for unknown email and wrong password."""
    email = email.lower()
    await rt.limiter.hit(rt.settings.login_limit_per_address, "login-address", client)
    await rt.limiter.hit(rt.settings.login_limit_per_account, "login-account", email)
    async with rt.uow.read() as tx:
        user = await tx.users.get_by_email(email)
    valid = await rt.hasher.verify(password, user.password_hash if user else None)
    if user is None or not valid:
        raise Unauthorized("Invalid email or password")
    async with rt.uow.write() as tx:
        # Read again in the transaction: a revocation may have raised the version since.
        current = await tx.users.get_locked(user.id)
        if current is None:
            raise Unauthorized("Invalid email or password")
        token, row = _new_refresh_token(rt, current, family_id=uuid.uuid4())
        tx.tokens.add(row)
    return _session(rt, current, token, row.family_id)


async def refresh(*, rt: UsersRuntime, refresh_token: str) -> Session:
    """Rotate a refresh token; presenting a spent one revokes its whole family."""
    now = utcnow()
    issued: tuple[User, str, uuid.UUID] | None = None
    async with rt.uow.write() as tx:
        row = await tx.tokens.get_by_hash(_hash_token(refresh_token))
        if row is None or row.expires_at <= now:
            raise Unauthorized("Invalid or expired refresh token")
        if row.revoked_at is None and await tx.tokens.spend(row.id, now):
            user = await tx.users.get_locked(row.user_id)
            if user is None:
                raise Unauthorized("Invalid or expired refresh token")
            token, new_row = _new_refresh_token(rt, user, family_id=row.family_id)
            tx.tokens.add(new_row)
            issued = (user, token, row.family_id)
        else:
            # Someone holds a copy of a token already used: end every session of this login.
            await tx.tokens.revoke_family(row.family_id, now)
    # Raised after the commit, so that the family's revocation is kept.
    if issued is None:
        raise Unauthorized("Refresh token already used; this session has been revoked")
    return _session(rt, *issued)


async def logout(*, rt: UsersRuntime, refresh_token: str, everywhere: bool = False) -> None:
    """End the session (the token's whole family); `everywhere`: every session of the
    user, and every access token issued to them so far."""
    async with rt.uow.write() as tx:
        row = await tx.tokens.get_by_hash(_hash_token(refresh_token))
        if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
            raise Unauthorized("Invalid or expired refresh token")
        await tx.tokens.revoke_family(row.family_id, utcnow())
        user = await tx.users.get(row.user_id) if everywhere else None
        if user is not None:
            await _revoke_sessions(rt, tx, user, RevocationReason.SIGNED_OUT_EVERYWHERE)


async def remember_revocations(*, rt: UsersRuntime) -> int:
    """At start: the floors still in force, back where verifiers look (a restarted
    process would otherwise accept tokens revoked before it stopped)."""
    now = utcnow()
    async with rt.uow.write() as tx:
        floors = await tx.users.live_floors(now)
    for user_id, version, until in floors:
        ttl = (until - now).total_seconds()
        await rt.revocations.revoke_below(user_id, version, ttl_seconds=ttl)
    return len(floors)


def _username_from(email: str) -> str:
    """A valid username from an email's local part: `a@x` becomes `a-admin`."""
    local = re.sub(r"[^A-Za-z0-9._-]", "", email.split("@", 1)[0]).lstrip("._-")
    return (local if len(local) >= 3 else f"{local or 'site'}-admin")[:50]


async def ensure_admin(
    *, rt: UsersRuntime, email: str, password: str, username: str | None = None
) -> tuple[User, bool]:
    """Create an admin account, or report the existing account with that email.

    Returns the user and whether it was created.
    """
    async with rt.uow.read() as tx:
        existing = await tx.users.get_by_email(email)
    if existing is not None:
        return existing, False
    data = UserCreateRequest(
        username=username or _username_from(email),
        email=email,
        password=password,
        role="admin",
    )
    admin = Principal(user_id=uuid.uuid4(), role="admin")
    return await create(rt=rt, data=data, actor=admin), True
