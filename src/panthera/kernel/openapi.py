"""Each service's OpenAPI document, shaped to the seed's conventions.

Error answers point at shared response components (`UnauthorizedError`, ...)
that use the one `ErrorResponse` schema, and the framework's 422 disappears
because invalid input answers 400 here.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from panthera.kernel.errors import PROBLEM_JSON

ERROR_COMPONENTS = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    409: "ConflictError",
    412: "PreconditionFailedError",
    429: "TooManyRequestsError",
    503: "ServiceUnavailableError",
}


def _error_response(status: int) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": schema}, "application/json": {"schema": schema}},
    }


def shape_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    shared = components.setdefault("responses", {})
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
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
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
