"""The web application over HTTP, in-process with the whole platform (no browser):
headers, assets, CSRF, sessions and token refresh, the order watcher's endpoint."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from panthera.app import Platform, create_platform
from panthera.kernel.settings import Settings
from panthera.testing.ports import free_port
from panthera.web.site import Site
from tests.conftest import GENEROUS_GATEWAY, STRONG_PASSWORD, eventually, fast_service_settings

ADMIN = ("admin@example.com", "Admin-Passw0rd")
TOKEN = re.compile(r'name="csrfToken" value="([^"]+)"')


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = Settings(
        data_dir=tmp_path / "data",
        log_level="WARNING",
        admin_email=ADMIN[0],
        admin_password=ADMIN[1],
    )
    running = create_platform(
        settings, service_settings=fast_service_settings(), gateway_settings=GENEROUS_GATEWAY
    )
    async with running.running():
        yield running


@pytest.fixture
async def browser(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client, like a browser without JavaScript."""
    transport = httpx.ASGITransport(app=platform.app, client=("198.51.100.4", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:
        yield http


def site_of(platform: Platform) -> Site:
    assert platform.site is not None
    return platform.site


async def token(http: httpx.AsyncClient, path: str = "/signin") -> str:
    page = await http.get(path)
    found = TOKEN.search(page.text)
    assert found, page.text[:500]
    return found[1]


async def sign_up(http: httpx.AsyncClient, name: str) -> str:
    email = f"{name}@example.com"
    answer = await http.post(
        "/signup",
        data={
            "csrfToken": await token(http, "/signup"),
            "username": name,
            "email": email,
            "password": STRONG_PASSWORD,
            "next": "/account",
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account"
    return email


async def test_pages_carry_a_strict_policy_and_assets_are_fingerprinted(
    browser: httpx.AsyncClient,
) -> None:
    home = await browser.get("/")
    assert home.status_code == 200
    csp = home.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert home.headers["x-content-type-options"] == "nosniff"
    assert home.headers["cache-control"] == "no-store"
    cookie = home.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "<script>" not in home.text and " style=" not in home.text
    css = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', home.text)
    assert css, home.text[:800]
    asset = await browser.get(css[1])
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"].startswith("text/css")
    again = await browser.get(css[1], headers={"If-None-Match": asset.headers["etag"]})
    assert again.status_code == 304
    stale = await browser.get("/static/css/site.000000000000.css")
    assert stale.status_code == 404


async def test_https_makes_the_cookies_secure(platform: Platform) -> None:
    transport = httpx.ASGITransport(app=platform.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as http:
        home = await http.get("/")
    assert "Secure" in home.headers["set-cookie"]


async def test_the_gateway_keeps_its_own_paths_and_the_api_its_error_body(
    browser: httpx.AsyncClient,
) -> None:
    assert (await browser.get("/healthz")).json() == {"status": "ok"}
    unknown_api = await browser.get("/v1/no-such-thing")
    assert unknown_api.headers["content-type"] == "application/problem+json"
    missing_page = await browser.get("/no-such-page")
    assert missing_page.status_code == 404
    assert "Page not found" in missing_page.text


async def test_a_form_without_the_right_token_changes_nothing(
    browser: httpx.AsyncClient, platform: Platform
) -> None:
    product = str(uuid.uuid4())
    for data in ({"productId": product}, {"productId": product, "csrfToken": "forged"}):
        refused = await browser.post("/cart/add", data=data)
        assert refused.status_code == 403
        assert "panthera_cart" not in refused.headers.get("set-cookie", "")
    accepted = await browser.post(
        "/cart/add", data={"productId": product, "csrfToken": await token(browser)}
    )
    assert accepted.status_code == 303
    assert "panthera_cart=" in accepted.headers["set-cookie"]
    malformed = await browser.post(
        "/cart/add", content=b"\xff" * 10, headers={"content-type": "multipart/form-data"}
    )
    assert malformed.status_code == 403


async def test_signing_in_follows_only_paths_of_this_site(browser: httpx.AsyncClient) -> None:
    await sign_up(browser, "traveller")
    await browser.post("/signout", data={"csrfToken": await token(browser, "/account")})
    answer = await browser.post(
        "/signin",
        data={
            "csrfToken": await token(browser),
            "email": "traveller@example.com",
            "password": STRONG_PASSWORD,
            "next": "//evil.example/phish",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    await browser.post("/signout", data={"csrfToken": await token(browser, "/account")})
    wrong = await browser.post(
        "/signin",
        data={
            "csrfToken": await token(browser),
            "email": "traveller@example.com",
            "password": "Wrong-Passw0rd",
        },
    )
    assert wrong.status_code == 401
    assert "The email or password is not right." in wrong.text


async def test_tokens_are_refreshed_transparently_even_by_requests_at_once(
    browser: httpx.AsyncClient, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = site_of(platform)
    monkeypatch.setattr(site.settings, "refresh_margin_seconds", 10**9)  # refresh every time
    await sign_up(browser, "refresher")
    session_id = browser.cookies["panthera_session"]
    before = await site.sessions.get(session_id)
    assert before is not None
    pages = await asyncio.gather(*(browser.get("/account") for _ in range(5)))
    assert [p.status_code for p in pages] == [200] * 5
    after = await site.sessions.get(session_id)
    assert after is not None and after.refresh_token != before.refresh_token
    # The rotated token is the one the users service still honours.
    again = await browser.get("/orders")
    assert again.status_code == 200


async def test_an_expired_session_sends_the_visitor_to_sign_in_and_back(
    browser: httpx.AsyncClient, platform: Platform
) -> None:
    await sign_up(browser, "sleeper")
    await site_of(platform).sessions.delete(browser.cookies["panthera_session"])
    answer = await browser.get("/orders?page=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=/orders%3Fpage%3D1"
    sign_in = await browser.get(answer.headers["location"])
    assert "Your session has expired" in sign_in.text


async def test_a_session_store_that_is_down_answers_503_not_a_signed_out_shop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PANTHERA_WEB__REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    running = create_platform(
        Settings(data_dir=tmp_path / "data", log_level="WARNING"),
        service_settings=fast_service_settings(),
        gateway_settings=GENEROUS_GATEWAY,
    )
    async with running.running():
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:
            anonymous = await http.get("/")
            assert anonymous.status_code == 200  # browsing needs no session
            http.cookies.set("panthera_session", "s" + "x" * 43)
            signed_in = await http.get("/account")
    assert signed_in.status_code == 503
    assert "The shop is unavailable" in signed_in.text


async def test_the_order_watcher_gets_the_decided_status_panel(
    browser: httpx.AsyncClient, platform: Platform, capfd: pytest.CaptureFixture[str]
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform.app), base_url="http://api.test"
    ) as api:
        login = await api.post("/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]})
        admin = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        created = await api.post(
            "/v1/products",
            headers=admin,
            json={"sku": "WATCH-1", "name": "Watch", "price": 1000, "currency": "EUR", "stock": 3},
        )
        product = created.json()["id"]
    await sign_up(browser, "watcher")
    await browser.post(
        "/cart/add", data={"productId": product, "csrfToken": await token(browser, "/account")}
    )
    placed = await browser.post(
        "/checkout",
        data={
            "csrfToken": await token(browser, "/checkout"),
            "name": "W. Atcher",
            "line1": "1 Road",
            "city": "Leeds",
            "postalCode": "LS1",
            "country": "gb",
            "cardNumber": "4242 4242 4242 4242",
            "idempotencyKey": "k-1",
        },
    )
    assert placed.status_code == 303, placed.text
    order_path = placed.headers["location"]

    async def decided() -> str | None:
        panel = await browser.get(f"{order_path}/status")
        assert panel.status_code == 200
        assert 'id="order-status"' in panel.text
        status = panel.headers["x-order-status"]
        return None if status == "pending" else status

    assert await eventually(decided, timeout=30) == "confirmed"
    page = await browser.get(order_path)
    assert "data-watch" not in page.text  # nothing left to watch
    assert "4242424242424242" not in capfd.readouterr().err.replace(" ", "")


async def test_an_oversized_form_is_refused_before_it_is_read(browser: httpx.AsyncClient) -> None:
    declared = await browser.post(
        "/signin",
        content=b"a=" + b"x" * 300_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert declared.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 10_000

    streamed = await browser.post(
        "/signin", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert streamed.status_code == 413


async def test_the_profile_is_saved_and_shown(browser: httpx.AsyncClient) -> None:
    await sign_up(browser, "profiled")
    saved = await browser.post(
        "/account",
        data={
            "csrfToken": await token(browser, "/account"),
            "firstName": "Pro",
            "lastName": "Filed",
            "phone": "12",
        },
    )
    assert saved.status_code == 400  # the API's refusal, next to its field
    assert 'id="f-phone-error"' in saved.text
    saved = await browser.post(
        "/account",
        data={
            "csrfToken": await token(browser, "/account"),
            "firstName": "Pro",
            "lastName": "Filed",
            "phone": "+15551234567",
        },
    )
    assert saved.status_code == 303
    assert 'value="Filed"' in (await browser.get("/account")).text


async def test_the_password_is_changed_and_the_new_one_signs_in(
    browser: httpx.AsyncClient,
) -> None:
    """Needs POST /v1/users/me/password (../shared/API.md)."""
    email = await sign_up(browser, "changer")
    wrong = await browser.post(
        "/account/password",
        data={
            "csrfToken": await token(browser, "/account"),
            "currentPassword": "Nope-1234",
            "newPassword": "Another-Passw0rd",
        },
    )
    assert wrong.status_code == 401
    assert "This is not your current password." in wrong.text
    changed = await browser.post(
        "/account/password",
        data={
            "csrfToken": await token(browser, "/account"),
            "currentPassword": STRONG_PASSWORD,
            "newPassword": "Another-Passw0rd",
        },
    )
    assert changed.status_code == 303, changed.text
    assert (await browser.get("/account")).status_code == 200  # still signed in
    await browser.post("/signout", data={"csrfToken": await token(browser, "/account")})
    again = await browser.post(
        "/signin",
        data={"csrfToken": await token(browser), "email": email, "password": "Another-Passw0rd"},
    )
    assert again.status_code == 303


async def test_what_others_wrote_is_shown_as_text_never_run(
    browser: httpx.AsyncClient, platform: Platform
) -> None:
    mark = "<img src=x onerror=alert(1)>"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform.app), base_url="http://api.test"
    ) as api:
        login = await api.post("/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]})
        created = await api.post(
            "/v1/products",
            headers={"Authorization": f"Bearer {login.json()['accessToken']}"},
            json={
                "sku": "XSS-1",
                "name": f"Mug {mark}",
                "description": mark,
                "price": 500,
                "currency": "EUR",
                "stock": 1,
            },
        )
    product = created.json()["id"]
    for path in (f"/products/{product}", f"/search?q={mark}", "/"):
        page = await browser.get(path)
        assert page.status_code == 200
        assert mark not in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
