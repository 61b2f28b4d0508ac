"""One error body for every failure, compatible with RFC 9457 problem details.

Use cases raise the `AppError` subclasses below; the handlers turn them, and
the framework's own validation and HTTP errors, into the same JSON shape. A
request that fails validation answers 400, as the seed's contract says.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("panthera.errors")


class FieldError(BaseModel):
    """One field at fault in a request."""

    field: str = Field(description="Where the fault is, e.g. `body.email` or `query.limit`.")
    message: str
    type: str = Field(description="A machine-readable kind, e.g. `missing`, `string_too_long`.")


class ErrorResponse(BaseModel):
    """The error body of every 4xx and 5xx answer (RFC 9457 problem details)."""

    type: str = Field(default="about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong with this request.")
    instance: str | None = Field(default=None, description="The path of the request.")
    requestId: str | None = Field(default=None, description="Quote it when asking for help.")
    errors: list[FieldError] | None = Field(
        default=None, description="For invalid input: each field at fault."
    )


class AppError(Exception):
    """An expected failure of a use case, carrying its HTTP status."""

    status: int = 400
    headers: Mapping[str, str] | None = None

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class BadRequest(AppError):
    status = 400

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors


class Unauthorized(AppError):
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status = 403


class NotFound(AppError):
    status = 404


class Conflict(AppError):
    status = 409


class PreconditionFailed(AppError):
    status = 412


class PayloadTooLarge(AppError):
    status = 413


class TooManyRequests(AppError):
    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, retry_after))}


class ServiceUnavailable(AppError):
    status = 503


def problem(
    request: Request | None,
    status: int,
    detail: str | None = None,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Build the error response; the single place that shapes it."""
    body = ErrorResponse(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        requestId=_request_id(request),
        errors=errors,
    ).model_dump(exclude_none=True)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _request_id(request: Request | None) -> str | None:
    if request is None:
        return None
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def validation_errors(
    exc: RequestValidationError, content_type: str = "application/json"
) -> list[FieldError]:
    """Each fault, worded for the client: the framework's wording about the body as a
    whole (a parser's offset shown as a field, "a valid dictionary or object to extract
    fields from") becomes a plain sentence about the body."""
    found = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        kind = str(err.get("type", "invalid"))
        if kind == "json_invalid":
            found.append(_malformed_json(err))
        elif loc == ("body",):
            found.append(_whole_body(kind, content_type, str(err.get("msg", ""))))
        else:
            where = ".".join(str(part) for part in loc)
            found.append(FieldError(field=where, message=str(err.get("msg", "")), type=kind))
    return found


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _malformed_json(err: Mapping[str, Any]) -> FieldError:
    loc = tuple(err.get("loc", ()))
    reason = str((err.get("ctx") or {}).get("error", "")).strip()
    where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
    why = f": {reason[0].lower()}{reason[1:]}" if reason else ""
    return FieldError(
        field="body", message=f"The body is not valid JSON{why}{where}", type="json_invalid"
    )


def _whole_body(kind: str, content_type: str, message: str) -> FieldError:
    if not _is_json(content_type):
        shown = content_type.split(";", 1)[0].strip() or "none"
        return FieldError(
            field="body",
            message=f"Send the body as JSON with Content-Type: application/json (got: {shown})",
            type="content_type",
        )
    if kind == "missing":
        return FieldError(field="body", message="A JSON body is required", type="missing")
    if kind in {"model_attributes_type", "dict_type", "model_type"}:
        return FieldError(field="body", message="The body must be a JSON object", type=kind)
    return FieldError(field="body", message=message, type=kind)


async def _on_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    errors = exc.errors if isinstance(exc, BadRequest) else None
    return problem(
        request, exc.status, exc.detail, errors=errors, headers=exc.headers, extra=exc.extra
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc, request.headers.get("content-type", ""))
    summary = "; ".join(
        e.message if e.field == "body" else f"{e.field}: {e.message}" for e in errors[:5]
    )
    return problem(request, 400, f"Invalid request: {summary}", errors=errors)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(request, exc.status_code, str(exc.detail), headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return problem(request, 500, "An unexpected error occurred; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 409, 412, 413, 429, 503)
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for a route's documented errors."""
    return {status: ERROR_RESPONSES[status] for status in statuses}
