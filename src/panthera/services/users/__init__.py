"""The users service: sign-up, profiles, roles, JWT sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog

from panthera.kernel.auth.keys import load_or_create_signing_key
from panthera.kernel.auth.passwords import PasswordHasher
from panthera.kernel.auth.tokens import TokenIssuer
from panthera.kernel.ratelimit import RateLimiter
from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.users import service
from panthera.services.users.api import router, well_known
from panthera.services.users.models import outbox
from panthera.services.users.settings import UsersSettings

log = structlog.get_logger("panthera.users")


def build_runtime(host: ServiceHost[Any]) -> service.UsersRuntime:
    settings = host.service_settings
    assert isinstance(settings, UsersSettings)
    platform = host.settings
    key = load_or_create_signing_key(platform.signing_key_path)
    return service.UsersRuntime(
        db=host.db,
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
        limiter=RateLimiter(platform.redis_url),
        outbox=host.outbox,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def lifespan(host: ServiceHost[Any]) -> AsyncIterator[None]:
    runtime = build_runtime(host)
    host.runtime = runtime
    platform = host.settings
    if platform.admin_email and platform.admin_password:
        user, created = await service.ensure_admin(
            rt=runtime, email=platform.admin_email, password=platform.admin_password
        )
        if created:
            log.info("admin_created", email=user.email)
    yield


spec: ServiceSpec[Any] = ServiceSpec(
    name="users",
    title="User Service API",
    description="API for managing user profiles, authentication, and authorization.",
    router=router,
    root_router=well_known,
    migrations=Path(__file__).parent / "migrations",
    settings_type=UsersSettings,
    route_prefixes=("/v1/users", "/v1/auth", "/.well-known/jwks.json"),
    lifespan=lifespan,
    outbox=outbox,
    tags=(
        {"name": "Users", "description": "User management operations"},
        {"name": "Auth", "description": "Authentication and authorization operations"},
    ),
)
