"""A router's routes added to an app at their full paths, not as a nested router.

FastAPI (0.16x) keeps an included router nested and finds a request's route by
walking each level twice, once to learn that the branch matches and once to
pick the route in it: a catalog product read walked its pattern list about
three times, 22 patterns, which was a third of what the service spent on the
request. Added flat, the routes are found in one walk of the app's own list.

Each route is added with what FastAPI itself computed for it as included (its
full path, the tags, dependencies, responses and defaults of every router it
sits in), so the routes behave, and document themselves, as they would nested:
`tests/kernel/test_flat_routes.py` compares both.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

# What `APIRouter.add_api_route` takes, read from each route as FastAPI resolved it.
_RESOLVED = (
    "response_model",
    "status_code",
    "tags",
    "dependencies",
    "summary",
    "description",
    "response_description",
    "responses",
    "deprecated",
    "methods",
    "operation_id",
    "response_model_include",
    "response_model_exclude",
    "response_model_by_alias",
    "response_model_exclude_unset",
    "response_model_exclude_defaults",
    "response_model_exclude_none",
    "include_in_schema",
    "response_class",
    "name",
    "callbacks",
    "openapi_extra",
    "generate_unique_id_function",
    "strict_content_type",
    "max_body_size",
)


def include_flat(app: FastAPI, router: APIRouter, *, prefix: str = "") -> None:
    """Add every API route of `router` (and of the routers it includes) to `app` itself."""
    staged = APIRouter()
    staged.include_router(router, prefix=prefix)
    for route in iter_route_contexts(staged.routes):
        if not isinstance(route.original_route, APIRoute):
            raise TypeError(f"{route.path}: only API routes can be added flat")
        app.router.add_api_route(str(route.path), _endpoint(route), **_resolved(route))


def _endpoint(route: RouteContext) -> Any:
    endpoint = route.endpoint
    if endpoint is None:
        raise TypeError(f"{route.path}: an API route without an endpoint")
    return endpoint


def _resolved(route: RouteContext) -> dict[str, Any]:
    return {name: getattr(route, name) for name in _RESOLVED}
