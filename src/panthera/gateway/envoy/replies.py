"""Envoy's own answers (401, 404, 413, 429, 503, 504, ...) in the platform's problem body."""

from __future__ import annotations

from http import HTTPStatus

from panthera.gateway.envoy.config import (
    JWT_FAILURE,
    JWT_FILTER,
    Config,
    path_is,
    without_query,
)
from panthera.kernel.errors import PROBLEM_JSON

_DETAILS = {
    400: "%LOCAL_REPLY_BODY%",
    401: "Access token refused: %LOCAL_REPLY_BODY%",
    403: "This operation requires the admin role",
    404: "Nothing is served at this path",
    405: "%LOCAL_REPLY_BODY%",
    408: "The request took too long to arrive",
    413: "Request body over this route's limit in bytes",
    429: "Too many requests from this address; retry after the seconds in Retry-After",
    431: "Request headers too large",
    500: "%LOCAL_REPLY_BODY%",
    502: "The %UPSTREAM_CLUSTER% service answered with an invalid response",
    503: "The %UPSTREAM_CLUSTER% service is unavailable; try again shortly",
    504: "The %UPSTREAM_CLUSTER% service did not answer in time",
}


_UPSTREAM_FLAGS = ["UH", "UF", "UO", "URX", "UC", "UMSDR", "NR"]


def _status_is(status: int) -> Config:
    return {
        "status_code_filter": {
            "comparison": {
                "op": "EQ",
                "value": {"default_value": status, "runtime_key": f"panthera.reply_{status}"},
            }
        }
    }


def _problem_mapper(
    status: int, detail: str, *, extra_filter: Config | None = None, answer: int | None = None
) -> Config:
    """Envoy's own `status` answers as a problem body; `answer`: with that status instead."""
    shown = answer or status
    body = {
        "type": "about:blank",
        "title": HTTPStatus(shown).phrase,
        "status": shown,
        "detail": detail,
        "instance": "%REQ_WITHOUT_QUERY(:PATH)%",
        "requestId": "%REQ(X-REQUEST-ID)%",
    }
    matcher = _status_is(status)
    if extra_filter is not None:
        matcher = {"and_filter": {"filters": [matcher, extra_filter]}}
    mapper: Config = {
        "filter": matcher,
        "body_format_override": {
            "json_format": body,
            "content_type": PROBLEM_JSON,
            "formatters": [without_query()],
        },
    }
    if answer is not None:
        mapper["status_code"] = answer
    if shown == 503:
        mapper["headers_to_add"] = [
            {"header": {"key": "retry-after", "value": "1"}, "append_action": "ADD_IF_ABSENT"}
        ]
    return mapper


def local_replies() -> Config:
    health = [
        {
            "filter": {
                "and_filter": {
                    "filters": [
                        _status_is(200),
                        {"header_filter": {"header": path_is(path)}},
                    ]
                }
            },
            "body_format_override": {
                "json_format": {"status": state},
                "content_type": "application/json",
            },
        }
        for path, state in (("/healthz", "ok"), ("/readyz", "ready"))
    ]
    unavailable = _problem_mapper(
        503, _DETAILS[503], extra_filter={"response_flag_filter": {"flags": _UPSTREAM_FLAGS}}
    )
    not_ready = _problem_mapper(503, "Some services have no ready replica")
    # jwt_authn answers a token for another audience with 403; it is as invalid as any.
    wrong_audience = _problem_mapper(
        403,
        _DETAILS[401],
        extra_filter={
            "metadata_filter": {
                "matcher": {
                    "filter": JWT_FILTER,
                    "path": [{"key": JWT_FAILURE}, {"key": "message"}],
                    "value": {"string_match": {"exact": "Audiences in Jwt are not allowed"}},
                },
                "match_if_key_not_found": False,
            }
        },
        answer=401,
    )
    others = [_problem_mapper(s, d) for s, d in _DETAILS.items() if s != 503]
    return {"mappers": [*health, unavailable, not_ready, wrong_audience, *others]}
