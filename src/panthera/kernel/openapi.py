"""Each service's OpenAPI document, shaped to the seed's conventions.

Error answers point at shared response components (`UnauthorizedError`, ...)
that use the one `ErrorResponse` schema, and the framework's 422 disappears
because invalid input answers 400 here. What the edge may answer on any route
is documented on each (400 for input, 413 for bodies, 429 where a rate limit
applies, 401/403 by the route's policy), and a route that takes a token but
does not require one says so (`security: [{}, {BearerAuth: []}]`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from panthera.kernel.errors import PROBLEM_JSON
from panthera.kernel.routes import RouteRule, rules_of
from panthera.kernel.schemas import TEXT_PATTERN

ERROR_COMPONENTS = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    409: "ConflictError",
    412: "PreconditionFailedError",
    413: "ContentTooLargeError",
    429: "TooManyRequestsError",
    503: "ServiceUnavailableError",
}


_CONVERTER = re.compile(r"\{(\w+):[^}]+\}")


def _error_response(status: int) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": schema}, "application/json": {"schema": schema}},
    }


def _document_the_edge(operation: dict[str, Any], rule: RouteRule | None) -> None:
    """What every route may answer besides its own errors, and who may call it."""
    responses = operation.setdefault("responses", {})
    for parameter in operation.get("parameters", ()):
        if parameter.get("in") not in ("path", "query"):
            continue
        schema = parameter.get("schema", {})
        for option in [schema, *schema.get("anyOf", ())]:
            if option.get("type") == "string" and not {"pattern", "format", "enum"} & set(option):
                option["pattern"] = TEXT_PATTERN  # kernel.plain_text refuses the others
    if operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault("400", {})  # invalid input
    if operation.get("requestBody"):
        responses.setdefault("413", {})  # over the route's body limit
    if rule is None:
        return
    if rule.rate_limited:
        responses.setdefault("429", {})  # the edge limits every client
    if rule.policy != "anonymous":
        responses.setdefault("401", {})
    if rule.policy == "admin":
        responses.setdefault("403", {})
    if rule.policy == "anonymous" and operation.get("security"):
        # A token is welcome (it may unlock more) but not required.
        operation["security"] = [{}, *operation["security"]]


def shape_openapi(schema: dict[str, Any], rules: Sequence[RouteRule] = ()) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    shared = components.setdefault("responses", {})
    # A rule's path may carry a converter (`/media/{key:path}`); OpenAPI names only `{key}`.
    by_route = {
        (method, _CONVERTER.sub(r"{\1}", rule.path)): rule
        for rule in rules
        for method in rule.methods
    }
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            _document_the_edge(operation, by_route.get((method.upper(), path)))
            responses = operation.get("responses", {})
            responses.pop("422", None)
            for status, name in ERROR_COMPONENTS.items():
                if str(status) in responses:
                    responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
                    shared[name] = _error_response(status)
    schemas = components.get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = shape_openapi(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                ),
                rules_of([(app.router, "")]),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
