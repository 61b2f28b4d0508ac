"""What a shared cache may do with a route's answers, said by the service itself.

A route declared with `edge(cache_control=...)` answers anonymous `GET`s with
that `Cache-Control` (any cache, Envoy's included, may keep them that long)
and signed-in ones with `private, no-cache`; every such answer carries an
`ETag` (the service's own, or a weak one from the body), and a request whose
`If-None-Match` names the current one gets `304 Not Modified` without a body.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from panthera.kernel.routes import RouteRules

PRIVATE = "private, no-cache"
_KEPT_ON_304 = ("cache-control", "etag", "vary", "date", "x-request-id")


class PublicReads:
    def __init__(self, app: ASGIApp, *, rules: RouteRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = (
            self.rules.match("GET", scope["path"])
            if scope["type"] == "http" and scope["method"] == "GET"
            else None
        )
        if rule is None or rule.cache_control is None:
            await self.app(scope, receive, send)
            return
        request = Headers(scope=scope)
        policy = PRIVATE if "authorization" in request else rule.cache_control
        conditional = _Conditional(send, policy, request.get("if-none-match"))
        await self.app(scope, receive, conditional.send)


class _Conditional:
    """One answer: `Cache-Control` added, an `ETag` made if missing, 304 when it matches."""

    def __init__(self, send: Send, cache_control: str, if_none_match: str | None) -> None:
        self.downstream = send
        self.cache_control = cache_control
        self.if_none_match = if_none_match
        self.start: Message | None = None
        self.passing = False  # not a 200, or already answered: relay what follows as is
        self.swallowing = False  # answered 304: drop the body
        self.body: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                self.passing = True
                await self.downstream(message)
                return
            headers = MutableHeaders(scope=message)
            headers.setdefault("cache-control", self.cache_control)
            self.start = message
            if "etag" in headers:
                await self._answer(headers["etag"])
            return
        if self.swallowing:
            return
        if self.passing or message["type"] != "http.response.body":
            await self.downstream(message)
            return
        self.body.append(message.get("body", b""))  # no ETag yet: it comes from the body
        if not message.get("more_body", False):
            body = b"".join(self.body)
            etag = f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
            assert self.start is not None
            MutableHeaders(scope=self.start)["etag"] = etag
            await self._answer(etag, body=body)

    async def _answer(self, etag: str, *, body: bytes | None = None) -> None:
        assert self.start is not None
        if self.if_none_match is not None and _matches(self.if_none_match, etag):
            self.start["status"] = 304
            self.start["headers"] = [
                (k, v) for k, v in self.start["headers"] if k.decode("latin-1") in _KEPT_ON_304
            ]
            await self.downstream(self.start)
            await self.downstream({"type": "http.response.body", "body": b""})
            self.swallowing = True
            return
        await self.downstream(self.start)
        self.passing = True
        if body is not None:
            await self.downstream({"type": "http.response.body", "body": body})


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def _matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110, 13.1.2), as `If-None-Match` asks for."""
    if if_none_match.strip() == "*":
        return True
    return _opaque(etag) in {_opaque(tag) for tag in if_none_match.split(",")}
