"""Access-token verification: what a token must carry, and what each refusal says.

Tokens are signed here with a real Ed25519 key; each test changes one claim.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from panthera.kernel.auth.keys import SigningKey
from panthera.kernel.auth.tokens import ALGORITHM, TokenVerifier
from panthera.kernel.errors import Unauthorized
from tests.kernel.test_jwks_refetch import SETTINGS, signing_key

KEY = signing_key("k1")


def verifier() -> TokenVerifier:
    verifier = TokenVerifier(issuer=SETTINGS.jwt_issuer, audience=SETTINGS.jwt_audience)
    verifier.add_key(KEY.kid, KEY.public_key)
    return verifier


def signed(key: SigningKey = KEY, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "sub": str(uuid.uuid4()),
        "role": "customer",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def test_a_good_token_names_its_subject_and_role() -> None:
    subject = str(uuid.uuid4())
    principal = verifier().verify(signed(sub=subject, role="admin"))
    assert (str(principal.user_id), principal.role) == (subject, "admin")


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"aud": "another-audience"},
        {"exp": None},
        {"iat": None},
        {"iss": None},
        {"aud": None},
    ],
    ids=["issuer", "audience", "no-exp", "no-iat", "no-iss", "no-aud"],
)
def test_a_token_missing_or_changing_a_required_claim_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized, match=r"^Invalid access token$"):
        verifier().verify(signed(**changes))


def test_a_token_without_a_subject_is_refused() -> None:
    with pytest.raises(Unauthorized, match=r"^Invalid access token$"):
        verifier().verify(signed(sub=None))


def test_expiry_allows_a_few_seconds_of_clock_skew_and_no_more() -> None:
    now = int(time.time())
    assert verifier().verify(signed(exp=now - 2)).role == "customer"
    with pytest.raises(Unauthorized, match=r"^Access token expired$"):
        verifier().verify(signed(exp=now - 30))


def test_each_refusal_says_why() -> None:
    with pytest.raises(Unauthorized, match=r"^Malformed access token$"):
        verifier().verify("not.a.token")
    with pytest.raises(Unauthorized, match=r"^Access token signed by an unknown key$"):
        verifier().verify(signed(signing_key("k2")))
    with pytest.raises(Unauthorized, match=r"^Invalid access token subject$"):
        verifier().verify(signed(sub="not-a-uuid"))


async def test_verify_async_refuses_a_malformed_token_before_any_fetch() -> None:
    fetched: list[int] = []

    async def refresher() -> list[dict[str, Any]]:
        fetched.append(1)
        return [KEY.jwk()]

    checking = TokenVerifier(
        issuer=SETTINGS.jwt_issuer, audience=SETTINGS.jwt_audience, refresher=refresher
    )
    with pytest.raises(Unauthorized, match=r"^Malformed access token$"):
        await checking.verify_async("garbage")
    assert fetched == []


def test_a_token_verified_once_is_known_until_it_expires_and_then_refused() -> None:
    checking = verifier()
    now = int(time.time())
    token = signed(exp=now - 2)  # within the leeway: accepted
    first = checking.verify(token)
    assert checking.verify(token) == first  # remembered: the same principal
    checking.leeway_seconds = 0  # the remembered token is judged again, as `jwt.decode` would
    with pytest.raises(Unauthorized, match=r"^Access token expired$"):
        checking.verify(token)


def test_a_refused_token_is_never_remembered() -> None:
    checking = verifier()
    forged = signed(signing_key("k2"))
    for _ in range(2):
        with pytest.raises(Unauthorized, match=r"^Access token signed by an unknown key$"):
            checking.verify(forged)
    tampered = signed()[:-4] + "AAAA"
    for _ in range(2):
        with pytest.raises(Unauthorized, match=r"^Invalid access token$"):
            checking.verify(tampered)
