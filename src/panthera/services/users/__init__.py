"""The users service: sign-up, profiles, roles, JWT sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog

from panthera.kernel.auth.keys import load_or_create_signing_key
from panthera.kernel.auth.passwords import PasswordHasher
from panthera.kernel.auth.tokens import TokenIssuer
from panthera.kernel.ratelimit import RateLimiter
from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.users import service
from panthera.services.users.api import router, well_known
from panthera.services.users.models import outbox
from panthera.services.users.repository import UsersTx
from panthera.services.users.service import UsersRuntime
from panthera.services.users.settings import UsersSettings

log = structlog.get_logger("panthera.users")


@asynccontextmanager
async def runtime(host: ServiceHost[UsersRuntime]) -> AsyncIterator[UsersRuntime]:
    """The users service's collaborators; the configured admin exists before requests come."""
    settings = host.service_settings
    assert isinstance(settings, UsersSettings)
    platform = host.settings
    key = load_or_create_signing_key(platform.signing_key_path)
    rt = UsersRuntime(
        uow=host.uow,
        settings=settings,
        hasher=PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        issuer=TokenIssuer(
            key,
            issuer=platform.jwt_issuer,
            audience=platform.jwt_audience,
            ttl_seconds=platform.access_token_ttl_seconds,
        ),
        limiter=RateLimiter(platform.redis_url, prefix=platform.redis_prefix),
        revocations=host.verifier.revocations,
    )
    await service.remember_revocations(rt=rt)
    if platform.admin_email and platform.admin_password:
        user, created = await service.ensure_admin(
            rt=rt, email=platform.admin_email, password=platform.admin_password
        )
        if created:
            log.info("admin_created", email=user.email)
    yield rt


spec: ServiceSpec[UsersRuntime] = ServiceSpec(
    name="users",
    title="User Service API",
    description="API for managing user profiles, authentication, and authorization.",
    router=router,
    root_router=well_known,
    migrations=Path(__file__).parent / "migrations",
    settings_type=UsersSettings,
    route_prefixes=("/v1/users", "/v1/auth", "/.well-known/jwks.json"),
    runtime=runtime,
    transaction=UsersTx,
    outbox=outbox,
    tags=(
        {"name": "Users", "description": "User management operations"},
        {"name": "Auth", "description": "Authentication and authorization operations"},
    ),
)
