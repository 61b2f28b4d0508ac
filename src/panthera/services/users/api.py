"""HTTP routes of the users service: parse, call a use case, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from panthera.kernel.auth.dependencies import (
    AdminPrincipal,
    CurrentPrincipal,
    OptionalPrincipal,
)
from panthera.kernel.errors import problem, responses
from panthera.kernel.pagination import PageParams
from panthera.kernel.service import runtime_of
from panthera.services.users import service
from panthera.services.users.schemas import (
    LoginRequest,
    LogoutRequest,
    PasswordChangeRequest,
    RefreshRequest,
    TokenResponse,
    User,
    UserCreateRequest,
    UserList,
    UserUpdateRequest,
)
from panthera.services.users.service import UsersRuntime

Runtime = Annotated[UsersRuntime, Depends(runtime_of)]
UserId = Annotated[uuid.UUID, Path(alias="userId", description="ID of the user")]

router = APIRouter()
users = APIRouter(prefix="/users", tags=["Users"])
auth = APIRouter(prefix="/auth", tags=["Auth"])
well_known = APIRouter(tags=["Auth"])


@users.get(
    "", response_model=UserList, summary="Get a list of all users", responses=responses(401, 403)
)
async def list_users(
    rt: Runtime,
    _admin: AdminPrincipal,
    page: PageParams,
    search: Annotated[
        str, Query(max_length=100, description="Search term for user names or emails")
    ] = "",
) -> UserList:
    """List users (admin): matches username, email, first and last name."""
    total, found = await service.get_all(
        rt=rt, search=search or None, offset=page.offset, limit=page.limit
    )
    return UserList(
        total=total,
        page=page.page,
        limit=page.limit,
        users=[User.model_validate(u) for u in found],
    )


@users.post(
    "",
    response_model=User,
    status_code=status.HTTP_201_CREATED,
    summary="Create a new user",
    responses=responses(400, 401, 403, 409),
)
async def create_user(rt: Runtime, body: UserCreateRequest, actor: OptionalPrincipal) -> User:
    """Sign up as a customer; an admin may also create admins."""
    return User.model_validate(await service.create(rt=rt, data=body, actor=actor))


@users.get("/me", response_model=User, summary="Get the signed-in user", responses=responses(401))
async def get_me(rt: Runtime, actor: CurrentPrincipal) -> User:
    """The caller's own profile."""
    return User.model_validate(await service.get(rt=rt, user_id=actor.user_id, actor=actor))


@users.api_route("/me", methods=["PUT", "DELETE"], include_in_schema=False)
async def me_is_read_only(request: Request) -> Response:
    """`/me` is not an id: without this, `PUT /v1/users/me` would be parsed as one (400)."""
    return problem(request, 405, "Method Not Allowed", headers={"Allow": "GET"})


@users.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change the signed-in user's password",
    responses=responses(400, 401, 429),
)
async def change_password(
    rt: Runtime, body: PasswordChangeRequest, actor: CurrentPrincipal, request: Request
) -> Response:
    """Change the caller's password; every other session ends (401: wrong current one)."""
    await service.change_password(
        rt=rt,
        actor=actor,
        current=body.current_password,
        new=body.new_password,
        client=request.client.host if request.client else "unknown",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users.get(
    "/{userId}",
    response_model=User,
    summary="Get user by ID",
    responses=responses(400, 401, 403, 404),
)
async def get_user(rt: Runtime, user_id: UserId, actor: CurrentPrincipal) -> User:
    """One user: self or admin."""
    return User.model_validate(await service.get(rt=rt, user_id=user_id, actor=actor))


@users.put(
    "/{userId}",
    response_model=User,
    summary="Update an existing user by ID",
    responses=responses(400, 401, 403, 404, 409),  # 409: email taken, or the last admin
)
async def update_user(
    rt: Runtime,
    user_id: UserId,
    body: UserUpdateRequest,
    actor: CurrentPrincipal,
) -> User:
    """Update a profile: self or admin; only an admin may change `role`."""
    return User.model_validate(await service.update(rt=rt, user_id=user_id, data=body, actor=actor))


@users.delete(
    "/{userId}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user by ID",
    responses=responses(400, 401, 403, 404, 409),  # 409: the last admin
)
async def delete_user(rt: Runtime, user_id: UserId, actor: CurrentPrincipal) -> Response:
    """Delete an account: self or admin."""
    await service.delete(rt=rt, user_id=user_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _session_response(session: service.Session) -> TokenResponse:
    return TokenResponse(
        access_token=session.access_token,
        expires_in=session.expires_in,
        refresh_token=session.refresh_token,
        user=User.model_validate(session.user),
    )


@auth.post(
    "/login",
    response_model=TokenResponse,
    summary="Authenticate user and get JWT token",
    responses=responses(400, 401, 429),
)
async def login(rt: Runtime, body: LoginRequest, request: Request) -> TokenResponse:
    """Exchange email and password for an access token and a refresh token."""
    client = request.client.host if request.client else "unknown"
    session = await service.login(
        rt=rt, email=str(body.email), password=body.password, client=client
    )
    return _session_response(session)


@auth.post(
    "/refresh",
    response_model=TokenResponse,
    summary="Rotate a refresh token",
    responses=responses(400, 401),
)
async def refresh(rt: Runtime, body: RefreshRequest) -> TokenResponse:
    """A new token pair; the refresh token sent is spent."""
    return _session_response(await service.refresh(rt=rt, refresh_token=body.refresh_token))


@auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End a session",
    responses=responses(400, 401),
)
async def logout(rt: Runtime, body: LogoutRequest) -> Response:
    """Revoke the refresh token and every token rotated from the same login; with
    `allSessions`, every session of the user and every access token issued so far."""
    await service.logout(rt=rt, refresh_token=body.refresh_token, everywhere=body.all_sessions)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@well_known.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(rt: Runtime) -> dict[str, list[dict[str, str]]]:
    """The JWKS other services and the gateway use to verify tokens."""
    return {"keys": [rt.issuer.key.jwk()]}


router.include_router(users)
router.include_router(auth)
