"""Cookies and headers every answer of the web application carries.

A pure ASGI middleware: it reads the visitor's cookies into a `Visit` before
the handler runs, and writes back what changed (session id, cart, notice)
with the response, along with the Content-Security-Policy and friends.
"""

from __future__ import annotations

from collections.abc import Sequence
from http.cookies import SimpleCookie

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from panthera.web import cart as carts
from panthera.web import sessions
from panthera.web.pages import NOTICE_COOKIE, BodyTooLarge, Visit

CART_MAX_AGE = 30 * 24 * 3600
STATIC_PREFIX = "/static/"
MAX_FORM_BYTES = 256 * 1024
MAX_UPLOAD_BYTES = 12 * 1024 * 1024
"""A product image upload (multipart) may be larger than any other form."""


def content_security_policy(
    *,
    script_origins: Sequence[str] = (),
    frame_origins: Sequence[str] = (),
    connect_origins: Sequence[str] = (),
    image_origins: Sequence[str] = (),
) -> str:
    """No inline script or style, nothing from elsewhere unless named (in Stripe mode,
    Stripe's own origins, each only in the directive that needs it)."""
    scripts = " ".join(["'self'", *script_origins])
    images = " ".join(["'self'", "data:", *image_origins])
    frames = " ".join(frame_origins) or "'none'"
    connect = " ".join(["'self'", *connect_origins])
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src {images}; "
        f"font-src 'self'; connect-src {connect}; frame-src {frames}; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


class VisitMiddleware:
    def __init__(
        self, app: ASGIApp, *, csp: str, cookie_secure: bool | None, session_ttl_seconds: int
    ) -> None:
        self.app = app
        self.csp = csp.encode()
        self.cookie_secure = cookie_secure
        self.session_ttl_seconds = session_ttl_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(STATIC_PREFIX):
            await self.app(scope, receive, send)  # assets carry no cookies
            return
        headers = dict(scope["headers"])
        jar = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
        secure = (
            self.cookie_secure if self.cookie_secure is not None else scope["scheme"] == "https"
        )
        offered = jar.get(sessions.COOKIE)
        client = scope.get("client")
        visit = Visit(
            session_id=offered if sessions.valid_id(offered) else sessions.new_id(signed_in=False),
            cart=carts.Cart.from_cookie(jar.get(carts.COOKIE)),
            notice=jar.get(NOTICE_COOKIE),
            client=str(client[0]) if client else "unknown",
            secure=secure,
            request_id=scope.get("state", {}).get("request_id"),
        )
        visit.session_id_changed = visit.session_id != offered
        scope.setdefault("state", {})["visit"] = visit
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = MAX_UPLOAD_BYTES if multipart else MAX_FORM_BYTES
        declared = headers.get(b"content-length", b"")
        started = False

        async def send_with_cookies(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *self._headers(visit, message)]
            await send(message)

        if declared.isdigit() and int(declared) > limit:
            await _too_large(send_with_cookies)
            return
        received = 0

        async def bounded_receive() -> Message:
            # Chunked bodies declare no length: count what arrives.
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, bounded_receive, send_with_cookies)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(send_with_cookies)

    def _headers(self, visit: Visit, message: Message) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in message.get("headers", [])}
        added: list[tuple[bytes, bytes]] = []

        def cookie(name: str, value: str, max_age: int) -> None:
            jar: SimpleCookie = SimpleCookie()
            jar[name] = value
            morsel = jar[name]
            morsel["path"] = "/"
            morsel["httponly"] = True
            morsel["samesite"] = "Lax"
            morsel["max-age"] = max_age
            if visit.secure:
                morsel["secure"] = True
            added.append((b"set-cookie", morsel.OutputString().encode("latin-1")))

        if visit.session_id_changed:
            cookie(sessions.COOKIE, visit.session_id, self.session_ttl_seconds)
        if visit.cart.changed:
            cookie(carts.COOKIE, visit.cart.to_cookie(), CART_MAX_AGE)
        if visit.new_notice:
            cookie(NOTICE_COOKIE, visit.new_notice, 120)
        elif visit.notice_shown:
            cookie(NOTICE_COOKIE, "", 0)
        defaults = [
            (b"content-security-policy", self.csp),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cache-control", b"no-store"),
        ]
        added += [(name, value) for name, value in defaults if name not in present]
        return added


async def _too_large(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": b"This form is too large."})
