"""FastAPI dependencies that turn the Authorization header into a principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from panthera.kernel.auth.principals import Principal
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.errors import Forbidden, Unauthorized

bearer_scheme = HTTPBearer(
    scheme_name="BearerAuth",
    bearerFormat="JWT",
    description="An access token from POST /v1/auth/login.",
    auto_error=False,
)


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.host.verifier
    return verifier


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    """The caller if a token was sent; a token that was sent but is bad is still 401."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        return None
    return await _verifier(request).authenticate(credentials.credentials)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'")
    return principal


async def admin_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This operation requires the admin role")
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
