"""Every request body bounded while it streams, chunked included, in every process.

The limit of a route is its FastAPI `max_body_size` (see `kernel.routes`), else
the platform's default. A declared `Content-Length` over it is refused before
the service runs at all; a body that grows past it while streaming (chunked,
or lying about its length) is cut off by Starlette's body limit, whose error
the service's handlers answer with the same problem body.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from panthera.kernel.errors import problem
from panthera.kernel.routes import RouteRules


class BodyLimit:
    def __init__(self, app: ASGIApp, *, rules: RouteRules, default: int) -> None:
        self.rules = rules
        self.default = default
        self.streaming = RequestBodyLimitMiddleware(app, max_body_size=default)

    def limit_for(self, method: str, path: str) -> int:
        rule = self.rules.match(method, path)
        return rule.body_limit if rule is not None and rule.body_limit else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.streaming(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            # No body at all: HTTP/1.1 (uvicorn's, and Envoy's to the services) frames one
            # only by these two headers. Nothing to bound; reads skip a layer per message.
            await self.streaming.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem(
                Request(scope), 413, f"Request body over this route's limit of {limit} bytes"
            )
            await response(scope, receive, send)
            return
        await self.streaming(scope, receive, send)
