"""The web application: storefront at `/`, admin console at `/admin`.

`Site` holds what every handler shares (the API client, the session store,
CSRF keys, templates, assets) and builds the ASGI app. Nothing here imports a
service: the platform is reached only through its public API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from panthera.kernel.settings import Settings
from panthera.web import accounts, admin, checkout, storefront
from panthera.web.api import Api, ApiError, ApiUnavailable
from panthera.web.assets import Assets
from panthera.web.money import format_money, to_major
from panthera.web.pages import (
    BodyTooLarge,
    CsrfRejected,
    PageForbidden,
    PageNotFound,
    SignInRequired,
    sign_in_url,
)
from panthera.web.payments import checkout_payment
from panthera.web.security import VisitMiddleware, content_security_policy
from panthera.web.sessions import (
    Csrf,
    MemorySessions,
    RedisSessions,
    SessionStore,
    SessionsUnavailable,
    load_or_create_secret,
)
from panthera.web.settings import WebSettings

HERE = Path(__file__).parent
log = structlog.get_logger("panthera.web")


class Site:
    def __init__(
        self,
        settings: Settings,
        web: WebSettings,
        *,
        api: Api,
        sessions: SessionStore,
    ) -> None:
        self.settings = web
        self.api = api
        self.sessions = sessions
        secret = web.secret_key.encode() if web.secret_key else None
        self.csrf = Csrf(secret or load_or_create_secret(settings.data_dir / "keys" / "web-secret"))
        self.payment = checkout_payment(
            web.payment_provider, stripe_publishable_key=web.stripe_publishable_key
        )
        self.assets = Assets(HERE / "static")
        self.templates = Jinja2Templates(directory=HERE / "templates")
        env = self.templates.env
        env.globals["static"] = self.assets.url
        env.globals["page_url"] = page_url
        env.globals["payment"] = self.payment
        env.filters["money"] = format_money
        env.filters["major"] = to_major
        env.policies["json.dumps_kwargs"] = {"sort_keys": True}
        self.app = self._build()

    def _build(self) -> ASGIApp:
        app = FastAPI(
            openapi_url=None, docs_url=None, redoc_url=None, lifespan=lambda _app: self.running()
        )
        app.state.site = self
        self.fastapi = app
        app.router.routes.append(Route("/static/{name:path}", self.assets.serve))
        for module in (storefront, accounts, checkout, admin):
            app.include_router(module.router)
        self._handle_errors(app)
        return VisitMiddleware(
            app,
            csp=content_security_policy(
                script_origins=self.payment.script_origins,
                frame_origins=self.payment.frame_origins,
                connect_origins=self.payment.connect_origins,
                image_origins=self.settings.image_origins,
            ),
            cookie_secure=self.settings.cookie_secure,
            session_ttl_seconds=self.settings.session_ttl_seconds,
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.api.aclose()
            await self.sessions.close()

    async def ready(self) -> None:
        """Sessions reachable. Not the edge: the edge's own readiness waits for the web's
        (it routes the pages), so a web waiting for the edge would leave both unready for
        ever in Kubernetes and Compose. An edge that is down shows as an error page."""
        await self.sessions.ping()

    def _handle_errors(self, app: FastAPI) -> None:
        async def error_page(request: Request, status: int, title: str, text: str) -> Response:
            return self.templates.TemplateResponse(
                request,
                "error.html",
                {
                    "title": title,
                    "text": text,
                    "user": None,
                    "cart_count": request.state.visit.cart.count,
                    "shop_name": self.settings.shop_name,
                    "path": request.url.path,
                    "is_admin": False,
                    "csrf_token": self.csrf.token(request.state.visit.session_id),
                },
                status_code=status,
            )

        async def on_sign_in(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, SignInRequired)
            visit = request.state.visit
            visit.new_notice = exc.notice or (
                "session_expired" if exc.expired else "sign_in_needed"
            )
            return RedirectResponse(sign_in_url(exc.next_url), status_code=303)

        async def on_csrf(request: Request, exc: Exception) -> Response:
            log.warning("csrf_rejected", path=request.url.path)
            return await error_page(
                request,
                403,
                "This form could not be accepted",
                "It has expired or it was not sent from this site. Go back, reload the page "
                "and try again.",
            )

        async def on_too_large(request: Request, exc: Exception) -> Response:
            return await error_page(
                request, 413, "This form is too large", "Go back and send less, please."
            )

        async def on_forbidden(request: Request, exc: Exception) -> Response:
            return await error_page(
                request, 403, "Not allowed", "Your account may not open this page."
            )

        async def on_not_found(request: Request, exc: Exception) -> Response:
            return await error_page(
                request, 404, "Page not found", "There is nothing at this address."
            )

        async def on_api_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, ApiError)
            if exc.status == 404:
                return await on_not_found(request, exc)
            if exc.status == 403:
                return await on_forbidden(request, exc)
            return await error_page(request, exc.status, "Something is not right", exc.detail)

        async def on_unavailable(request: Request, exc: Exception) -> Response:
            log.warning("web_dependency_unavailable", error=str(exc), path=request.url.path)
            return await error_page(
                request,
                503,
                "The shop is unavailable",
                "Part of the shop is not answering right now. Please try again in a moment.",
            )

        async def on_http(request: Request, exc: Exception) -> Response:
            status = int(getattr(exc, "status_code", 500))
            if status == 404:
                return await on_not_found(request, exc)
            return await error_page(request, status, "Something is not right", str(exc))

        handlers: dict[Any, Callable[[Request, Exception], Any]] = {
            SignInRequired: on_sign_in,
            CsrfRejected: on_csrf,
            BodyTooLarge: on_too_large,
            PageForbidden: on_forbidden,
            PageNotFound: on_not_found,
            ApiError: on_api_error,
            ApiUnavailable: on_unavailable,
            SessionsUnavailable: on_unavailable,
            404: on_not_found,
            405: on_http,
        }
        for kind, handler in handlers.items():
            app.add_exception_handler(kind, handler)


def page_url(request: Request, number: int) -> str:
    """This listing's URL, filters kept, at page `number`."""
    url = request.url.include_query_params(page=number)
    return f"{url.path}?{url.query}"


def create_site(
    settings: Settings,
    web: WebSettings | None = None,
    *,
    platform: Callable[[], ASGIApp] | None = None,
) -> Site:
    """Embedded: pass `platform`, the app to call in-process; otherwise the edge's URL
    (`PANTHERA_WEB__API_URL`) is called over HTTP and sessions go to Redis."""
    web = web or WebSettings()
    if platform is not None:
        api = Api.in_process(platform, timeout=web.api_timeout_seconds + web.decision_wait_seconds)
        redis_url = web.redis_url
    else:
        if not web.api_url:
            raise ValueError("the web needs the edge's URL (PANTHERA_WEB__API_URL)")
        api = Api.over_http(
            web.api_url, timeout=web.api_timeout_seconds + web.decision_wait_seconds
        )
        redis_url = web.redis_url or settings.redis_url
    store: SessionStore = (
        RedisSessions(redis_url, prefix=settings.redis_prefix + web.session_prefix)
        if redis_url
        else MemorySessions()
    )
    return Site(settings, web, api=api, sessions=store)
