"""Signing up, in and out; the profile, the password, the customer's notifications."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from panthera.web.api import ApiError
from panthera.web.pages import PageDep, api_field_errors, safe_next

router = APIRouter()


@router.get("/signin")
async def sign_in_form(page: PageDep) -> Response:
    """The sign-in form."""
    next_url = safe_next(page.request.query_params.get("next"))
    if await page.session():
        return page.redirect(next_url)
    return await page.render("signin.html", next_url=next_url, values={}, errors={}, general=None)


@router.post("/signin")
async def sign_in(page: PageDep) -> Response:
    """Exchange email and password for a session."""
    next_url = safe_next(page.form.get("next"))
    values = {"email": page.form.get("email", "").strip()}
    try:
        tokens = await page.api(
            "POST",
            "/v1/auth/login",
            json={"email": values["email"], "password": page.form.get("password", "")},
        )
    except ApiError as exc:
        errors, general = api_field_errors(exc)
        if exc.status == 401:
            general = "The email or password is not right."
        elif exc.status == 429:
            general = "Too many sign-in attempts. Please wait a minute and try again."
        return await page.render(
            "signin.html",
            status=exc.status if exc.status < 500 else 400,
            next_url=next_url,
            values=values,
            errors=errors,
            general=general,
        )
    await page.sign_in(tokens)
    return page.redirect(next_url, notice="signed_in")


@router.get("/signup")
async def sign_up_form(page: PageDep) -> Response:
    """The sign-up form."""
    next_url = safe_next(page.request.query_params.get("next"))
    return await page.render("signup.html", next_url=next_url, values={}, errors={}, general=None)


@router.post("/signup")
async def sign_up(page: PageDep) -> Response:
    """Create a customer account, then sign in with it."""
    next_url = safe_next(page.form.get("next"))
    fields = ("username", "email", "firstName", "lastName")
    values = {name: page.form.get(name, "").strip() for name in fields}
    body: dict[str, Any] = {k: v for k, v in values.items() if v}
    body["password"] = page.form.get("password", "")
    try:
        await page.api("POST", "/v1/users", json=body)
        tokens = await page.api(
            "POST",
            "/v1/auth/login",
            json={"email": values["email"], "password": body["password"]},
        )
    except ApiError as exc:
        errors, general = api_field_errors(exc)
        if exc.status == 409:
            which = "email" if "email" in exc.detail.lower() else "username"
            errors, general = {which: exc.detail}, None
            if "username or email" in exc.detail.lower():
                errors, general = {}, exc.detail
        return await page.render(
            "signup.html",
            status=exc.status,
            next_url=next_url,
            values=values,
            errors=errors,
            general=general,
        )
    await page.sign_in(tokens)
    return page.redirect(next_url, notice="signed_up")


@router.post("/signout")
async def sign_out(page: PageDep) -> Response:
    """End the session here and at the API."""
    current = await page.session()
    if current is not None:
        # Already ended at the API (ApiError): ending it here is all that is left.
        with contextlib.suppress(ApiError):
            await page.api("POST", "/v1/auth/logout", json={"refreshToken": current.refresh_token})
    await page.end_session()
    return page.redirect("/", notice="signed_out")


@router.get("/account")
async def account(page: PageDep) -> Response:
    """Profile and password."""
    await page.require_user()
    me = await page.api("GET", "/v1/users/me", auth=True)
    return await page.render("account.html", me=me, values=me, errors={}, general=None, pw={})


@router.post("/account")
async def save_profile(page: PageDep) -> Response:
    """Change first name, last name and phone."""
    current = await page.require_user()
    values = {name: page.form.get(name, "").strip() for name in ("firstName", "lastName", "phone")}
    body = {name: value or None for name, value in values.items()}
    try:
        me = await page.api("PUT", f"/v1/users/{current.user['id']}", auth=True, json=body)
    except ApiError as exc:
        errors, general = api_field_errors(exc)
        me = await page.api("GET", "/v1/users/me", auth=True)
        return await page.render(
            "account.html",
            status=exc.status,
            me=me,
            values=values,
            errors=errors,
            general=general,
            pw={},
        )
    await page.update_user(me)
    return page.redirect("/account", notice="profile_saved")


@router.post("/account/password")
async def change_password(page: PageDep) -> Response:
    """Change the password; the API ends other sessions, this one signs in afresh."""
    current = await page.require_user()
    new = page.form.get("newPassword", "")
    try:
        await page.api(
            "POST",
            "/v1/users/me/password",
            auth=True,
            json={"currentPassword": page.form.get("currentPassword", ""), "newPassword": new},
            retry_unauthorized=False,  # a 401 here means a wrong current password
        )
    except ApiError as exc:
        errors, general = api_field_errors(exc)
        if exc.status == 401:
            errors, general = {"currentPassword": "This is not your current password."}, None
        me = await page.api("GET", "/v1/users/me", auth=True)
        return await page.render(
            "account.html",
            status=exc.status,
            me=me,
            values=me,
            errors={},
            general=None,
            pw={"errors": errors, "general": general},
        )
    # A fresh session under the new password; the old one ends (if the API has not
    # ended it already).
    latest = await page.session() or current  # its tokens may have been refreshed since
    with contextlib.suppress(ApiError):
        await page.api("POST", "/v1/auth/logout", json={"refreshToken": latest.refresh_token})
    tokens = await page.api(
        "POST", "/v1/auth/login", json={"email": current.user["email"], "password": new}
    )
    await page.sign_in(tokens)
    return page.redirect("/account", notice="password_changed")


@router.get("/notifications")
async def notifications(page: PageDep) -> Response:
    """The customer's emails and text messages."""
    await page.require_user()
    number = _page_number(page)
    found = await page.api(
        "GET", "/v1/notifications", auth=True, params={"page": number, "limit": 20}
    )
    return await page.render(
        "notifications.html",
        notifications=found["notifications"],
        number=number,
        pages=max(1, -(-found["total"] // 20)),
    )


def _page_number(page: PageDep) -> int:
    try:
        return max(1, min(int(page.request.query_params.get("page", "1")), 10_000))
    except ValueError:
        return 1
