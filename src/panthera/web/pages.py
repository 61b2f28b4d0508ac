"""What every page handler works with: the visit (cookies), the signed-in session,
API calls on the visitor's behalf with transparent token refresh, and rendering.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from panthera.web import sessions
from panthera.web.api import ApiError, error_of
from panthera.web.cart import Cart
from panthera.web.sessions import Session

if TYPE_CHECKING:
    from panthera.web.site import Site

NOTICE_COOKIE = "panthera_notice"
NOTICES = {
    "added_to_cart": "Added to your cart.",
    "cart_updated": "Your cart was updated.",
    "signed_in": "Welcome back! You are signed in.",
    "signed_up": "Your account is ready and you are signed in.",
    "signed_out": "You are signed out.",
    "sign_in_to_checkout": "Sign in, or create an account, to check out.",
    "sign_in_needed": "Please sign in to continue.",
    "session_expired": "Your session has expired. Please sign in again.",
    "password_changed": "Your password was changed.",
    "profile_saved": "Your profile was saved.",
    "order_cancelled": "The order was cancelled.",
    "product_created": "The product was created.",
    "product_saved": "The product was saved.",
    "product_deleted": "The product was deleted.",
    "stock_saved": "The stock was updated.",
    "category_saved": "The category was saved.",
    "category_deleted": "The category was deleted.",
    "order_updated": "The order was updated.",
    "user_saved": "The user was updated.",
    "user_deleted": "The user was deleted.",
    "image_uploaded": "The image was uploaded.",
}


class SignInRequired(Exception):
    def __init__(self, next_url: str, *, expired: bool = False, notice: str | None = None) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.expired = expired
        self.notice = notice


class CsrfRejected(Exception):
    pass


class BodyTooLarge(Exception):
    """A form over its size limit (answered 413 by the visit middleware)."""


class PageForbidden(Exception):
    pass


class PageNotFound(Exception):
    pass


@dataclass
class Visit:
    """One request's cookies, and what the response must set."""

    session_id: str
    cart: Cart
    notice: str | None
    client: str
    secure: bool
    request_id: str | None
    session_id_changed: bool = False
    new_notice: str | None = None
    notice_shown: bool = False
    loaded: dict[str, Any] = field(default_factory=dict)


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a path on this site: `https://evil.example` or `//evil` would be an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    return value


class Page:
    """The handler's view of one request."""

    def __init__(self, request: Request, site: Site, form: dict[str, str]) -> None:
        self.request = request
        self.site = site
        self.visit: Visit = request.state.visit
        self.form = form
        self.files: dict[str, UploadFile] = {}

    # -- who is visiting

    async def session(self) -> Session | None:
        if "session" not in self.visit.loaded:
            found = None
            if sessions.is_signed_in_id(self.visit.session_id):
                found = await self.site.sessions.get(self.visit.session_id)
            self.visit.loaded["session"] = found
        value: Session | None = self.visit.loaded["session"]
        return value

    async def require_user(self) -> Session:
        current = await self.session()
        if current is None:
            raise SignInRequired(
                self.here(), expired=sessions.is_signed_in_id(self.visit.session_id)
            )
        return current

    async def require_admin(self) -> Session:
        current = await self.require_user()
        if not current.is_admin:
            raise PageForbidden
        return current

    def here(self) -> str:
        """Where to come back after signing in: this page, or for a form the page it was on."""
        if self.request.method == "GET":
            query = self.request.url.query
            return self.request.url.path + (f"?{query}" if query else "")
        # Only the path is kept, so another site's address cannot become a redirect; the
        # host is not compared, as behind the edge this process may not see the public one.
        referer = urlsplit(self.request.headers.get("referer", ""))
        return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))

    async def sign_in(self, tokens: dict[str, Any]) -> Session:
        """Start a signed-in session under a new id (the old one may have been seen)."""
        old = self.visit.session_id
        session = Session(
            access_token=str(tokens["accessToken"]),
            refresh_token=str(tokens["refreshToken"]),
            expires_at=time.time() + int(tokens.get("expiresIn", 900)),
            user=_user_summary(tokens["user"]),
        )
        self.visit.session_id = sessions.new_id(signed_in=True)
        self.visit.session_id_changed = True
        await self.site.sessions.put(
            self.visit.session_id, session, ttl_seconds=self.site.settings.session_ttl_seconds
        )
        if sessions.is_signed_in_id(old):
            await self.site.sessions.delete(old)
        self.visit.loaded["session"] = session
        return session

    async def end_session(self) -> None:
        if sessions.is_signed_in_id(self.visit.session_id):
            await self.site.sessions.delete(self.visit.session_id)
        self.visit.session_id = sessions.new_id(signed_in=False)
        self.visit.session_id_changed = True
        self.visit.loaded["session"] = None

    async def update_user(self, user: dict[str, Any]) -> None:
        current = await self.require_user()
        current.user = _user_summary(user)
        await self._save(current)

    async def _save(self, current: Session) -> None:
        await self.site.sessions.put(
            self.visit.session_id, current, ttl_seconds=self.site.settings.session_ttl_seconds
        )

    # -- the API on the visitor's behalf

    async def api(
        self,
        method: str,
        path: str,
        *,
        auth: bool = False,
        expect: tuple[int, ...] = (),
        retry_unauthorized: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Call the API; the JSON answer (None for 204), or `ApiError` for a 4xx.

        With `auth`, the visitor's access token goes along, refreshed first if it is about
        to expire, and once more if the API refuses it; a session that cannot be
        refreshed has expired, and the visitor is asked to sign in again.
        """
        token = None
        if auth:
            token = await self._fresh_token()
        response = await self._send(method, path, token, **kwargs)
        if response.status_code == 401 and auth and retry_unauthorized:
            # A refresh that fails ends the session (SignInRequired); one that succeeds
            # proves the session alive, so a second refusal is the API's to explain.
            token = await self._fresh_token(force=True)
            response = await self._send(method, path, token, **kwargs)
        if response.status_code >= 400 and response.status_code not in expect:
            raise error_of(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def api_response(
        self, method: str, path: str, *, auth: bool = False, **kwargs: Any
    ) -> Any:
        """As `api`, but the raw response (for headers such as `ETag`)."""
        token = await self._fresh_token() if auth else None
        response = await self._send(method, path, token, **kwargs)
        if response.status_code == 401 and auth:
            token = await self._fresh_token(force=True)
            response = await self._send(method, path, token, **kwargs)
        return response

    async def _send(self, method: str, path: str, token: str | None, **kwargs: Any) -> Any:
        return await self.site.api.request(
            method,
            path,
            token=token,
            client_address=self.visit.client,
            request_id=self.visit.request_id,
            **kwargs,
        )

    async def _fresh_token(self, *, force: bool = False) -> str:
        current = await self.require_user()
        margin = self.site.settings.refresh_margin_seconds
        if not force and current.expires_at - time.time() > margin:
            return current.access_token
        used = current.refresh_token
        async with self.site.sessions.lock(self.visit.session_id):
            # Another request (or replica) may have refreshed while this one waited.
            stored = await self.site.sessions.get(self.visit.session_id)
            if stored is None:
                await self.end_session()
                raise SignInRequired(self.here(), expired=True)
            if stored.refresh_token != used:
                self.visit.loaded["session"] = stored
                return stored.access_token
            response = await self.site.api.request(
                "POST",
                "/v1/auth/refresh",
                json={"refreshToken": used},
                client_address=self.visit.client,
                request_id=self.visit.request_id,
            )
            if response.status_code != 200:
                await self.end_session()
                raise SignInRequired(self.here(), expired=True)
            tokens = response.json()
            stored.access_token = tokens["accessToken"]
            stored.refresh_token = tokens["refreshToken"]
            stored.expires_at = time.time() + int(tokens.get("expiresIn", 900))
            stored.user = _user_summary(tokens.get("user") or stored.user)
            await self._save(stored)
        self.visit.loaded["session"] = stored
        return stored.access_token

    # -- answering

    @property
    def csrf_token(self) -> str:
        return self.site.csrf.token(self.visit.session_id)

    def notify(self, code: str) -> None:
        self.visit.new_notice = code

    def redirect(self, url: str, *, notice: str | None = None) -> Response:
        if notice:
            self.notify(notice)
        return RedirectResponse(url, status_code=303)

    async def render(self, template: str, *, status: int = 200, **context: Any) -> Response:
        current = await self.session()
        notice = None
        if self.visit.notice in NOTICES:
            notice = NOTICES[self.visit.notice]
            self.visit.notice_shown = True
        return self.site.templates.TemplateResponse(
            self.request,
            template,
            {
                "page": self,
                "user": current.user if current else None,
                "is_admin": bool(current and current.is_admin),
                "cart_count": self.visit.cart.count,
                "csrf_token": self.csrf_token,
                "notice": notice,
                "shop_name": self.site.settings.shop_name,
                "path": self.request.url.path,
                **context,
            },
            status_code=status,
        )


def _user_summary(user: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "username", "email", "firstName", "lastName", "role")
    return {key: user.get(key) for key in keys}


def sign_in_url(next_url: str) -> str:
    return "/signin?next=" + quote(next_url, safe="/")


async def page_of(request: Request) -> Page:
    """The `Page` of a request; for a form post, its fields once the CSRF token checks out."""
    site: Site = request.app.state.site
    form: dict[str, str] = {}
    files: dict[str, UploadFile] = {}
    if request.method == "POST":
        try:
            parsed = await request.form(max_files=1, max_fields=200)
        except BodyTooLarge:
            raise
        except Exception as exc:  # a malformed body is the sender's fault, not a 500
            raise CsrfRejected from exc
        for key, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                files[key] = value
            elif key not in form:
                form[key] = value
        visit: Visit = request.state.visit
        if not site.csrf.valid(visit.session_id, form.get("csrfToken")):
            raise CsrfRejected
    page = Page(request, site, form)
    page.files = files
    return page


PageDep = Annotated[Page, Depends(page_of)]


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageNotFound from None


def api_field_errors(error: ApiError) -> tuple[dict[str, str], str | None]:
    """Errors for the form's fields, and what is left for the form as a whole."""
    fields = error.field_errors()
    general = None if fields else error.detail
    return fields, general
